package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/demo"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// client serves the demo tools on a loopback port for the test.
func client(t *testing.T) providerv1.ProviderServiceClient {
	t.Helper()
	c, _ := serve(t)
	return c
}

func serve(t *testing.T) (providerv1.ProviderServiceClient, *grpc.Server) {
	t.Helper()
	p := provider.New("demo", nil)
	demo.AddTools(p)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	providerv1.RegisterProviderServiceServer(s, p.Service())
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	conn, err := grpc.NewClient(lis.Addr().String(), creds)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return providerv1.NewProviderServiceClient(conn), s
}

func call(ctx context.Context, c providerv1.ProviderServiceClient, name, args string) (
	*providerv1.ToolResult, error) {
	stream, err := c.CallTool(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: name, ArgumentsJson: args},
	}})
	if err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return nil, errors.New("stream did not end after the result")
	}
	return resp.GetResult(), nil
}

func text(s string) string {
	b, _ := json.Marshal([]json.RawMessage{provider.TextBlock(s)})
	return string(b)
}

func structured(s string) *providerv1.ToolResult {
	return &providerv1.ToolResult{ContentJson: text(s), StructuredContentJson: s}
}

func failed(s string) *providerv1.ToolResult {
	return &providerv1.ToolResult{ContentJson: text(s), IsError: true}
}

func TestTools(t *testing.T) {
	c := client(t)
	tests := []struct {
		name, tool, args string
		want             *providerv1.ToolResult
	}{
		{"echo", "echo", `{"text": "héllo\nworld"}`,
			&providerv1.ToolResult{ContentJson: text("héllo\nworld")}},
		{"add", "add", `{"a": 2, "b": -5}`, structured(`{"sum":-3}`)},
		{"add beyond float precision", "add", `{"a": 9007199254740993, "b": 2}`,
			structured(`{"sum":9007199254740995}`)},
		{"add to the int64 limit", "add", `{"a": 9223372036854775000, "b": 807}`,
			structured(`{"sum":9223372036854775807}`)},
		{"add overflow", "add", `{"a": 9223372036854775807, "b": 1}`,
			failed("9223372036854775807 + 1 overflows a 64-bit integer")},
		{"fail", "fail", `{"message": "no luck"}`, failed("no luck")},
		{"fail without message", "fail", `{}`, failed("the fail tool always fails")},
		{"weather", "weather", `{"city": "Lisbon"}`, structured(
			`{"city":"Lisbon","temperature_c":7.6,"conditions":"windy","humidity_pct":61}`)},
		{"weather without city", "weather", `{"city": ""}`, failed("city is empty")},
		{"sleep", "sleep", `{"ms": 1}`, &providerv1.ToolResult{ContentJson: text("slept 1 ms")}},
		{"sleep too long", "sleep", `{"ms": 60001}`, failed("ms must be between 0 and 60000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call(t.Context(), c, tt.tool, tt.args)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	c := client(t)
	for _, tc := range []struct{ tool, args string }{
		{"echo", `{}`},
		{"add", `{"a": 1}`},
		{"add", `{"a": 1, "b": 2.5}`},
		{"weather", `{"town": "Lisbon"}`},
	} {
		t.Run(tc.tool+tc.args, func(t *testing.T) {
			_, err := call(t.Context(), c, tc.tool, tc.args)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("call = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	resp, err := client(t).Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	var names, withOutput []string
	for _, tool := range resp.GetTools() {
		names = append(names, tool.GetName())
		if tool.GetOutputSchemaJson() != "" {
			withOutput = append(withOutput, tool.GetName())
		}
		if tool.GetAnnotationsJson() != `{"readOnlyHint":true,"openWorldHint":false}` {
			t.Errorf("%s annotations = %s", tool.GetName(), tool.GetAnnotationsJson())
		}
	}
	want := []string{"add", "cancelled", "count", "echo", "fail", "link", "log", "meta",
		"report_status", "roots", "sleep", "slow_report", "touch", "weather"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	withSchema := []string{"add", "cancelled", "report_status", "weather"}
	if diff := cmp.Diff(withSchema, withOutput); diff != "" {
		t.Errorf("tools with an output schema (-want +got):\n%s", diff)
	}
}

func TestSleepCancelled(t *testing.T) {
	c, s := serve(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := call(ctx, c, "sleep", `{"ms": 60000}`)
	if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Canceled {
		t.Errorf("call = %v, want the caller's deadline", err)
	}

	// A graceful stop waits for every handler, so it returns only if the
	// sleep ended with the call instead of running its full minute.
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("sleep handler still running after the call was cancelled")
	}
}
