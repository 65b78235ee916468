package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/provider"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

type sumIn struct {
	A int64 `json:"a" jsonschema:"first addend"`
	B int64 `json:"b" jsonschema:"second addend"`
}

type sumOut struct {
	Sum int64 `json:"sum"`
}

type anyIn struct {
	V    any    `json:"v"`
	Note string `json:"note,omitempty"`
}

type pointOut struct {
	X, Y int
}

// testProvider has one tool for each behaviour under test.
func testProvider(t *testing.T) *provider.Provider {
	t.Helper()
	p := provider.New("test", nil)
	provider.AddFunc(p, "sum", "Adds.", func(_ context.Context, in sumIn) (sumOut, error) {
		return sumOut{Sum: in.A + in.B}, nil
	})
	provider.AddFunc(p, "kind", "Reports the Go type of v.", kind)
	provider.AddFunc(p, "count", "Returns 42.", func(context.Context, struct{}) (int, error) {
		return 42, nil
	})
	provider.AddFunc(p, "nilptr", "Returns nil.", func(context.Context, struct{}) (*pointOut, error) {
		return nil, nil
	})
	provider.AddFunc(p, "fails", "Fails.", func(context.Context, struct{}) (string, error) {
		return "", errors.New("disk on fire")
	})
	provider.AddFunc(p, "panics", "Panics.", func(context.Context, struct{}) (string, error) {
		panic("boom")
	})
	p.AddTool(provider.Tool{Name: "raw"}, rawEcho)
	p.AddTool(provider.Tool{Name: "refuses"}, refuse)
	p.AddTool(provider.Tool{Name: "broken"}, broken)
	return p
}

func kind(_ context.Context, in anyIn) (string, error) {
	return fmt.Sprintf("%T %v", in.V, in.V), nil
}

func refuse(context.Context, *provider.Request) (*provider.Result, error) {
	return nil, fmt.Errorf("%w: bring a towel", provider.ErrInvalidArguments)
}

func broken(context.Context, *provider.Request) (*provider.Result, error) {
	return &provider.Result{StructuredContent: json.RawMessage(`[1,2`)}, nil
}

// rawEcho returns what it was given, to show what reaches a handler.
func rawEcho(_ context.Context, req *provider.Request) (*provider.Result, error) {
	return &provider.Result{
		Content:           []json.RawMessage{provider.TextBlock(req.SessionID)},
		StructuredContent: json.RawMessage(fmt.Sprintf(`{"args": %s}`, req.Arguments)),
		Meta:              req.Meta,
	}, nil
}

func TestCallTool(t *testing.T) {
	c := serve(t, testProvider(t))
	tests := []struct {
		name string
		req  *providerv1.CallToolRequest
		want *providerv1.ToolResult
	}{
		{"typed", start("sum", `{"a": 2, "b": 3}`), &providerv1.ToolResult{
			ContentJson: text(`{"sum":5}`), StructuredContentJson: `{"sum":5}`,
		}},
		{"big integers stay exact", start("sum", `{"a": 9007199254740993, "b": 1}`),
			&providerv1.ToolResult{
				ContentJson:           text(`{"sum":9007199254740994}`),
				StructuredContentJson: `{"sum":9007199254740994}`,
			}},
		{"int64 extremes", start("sum", `{"a": 9223372036854775807, "b": -9223372036854775808}`),
			&providerv1.ToolResult{ContentJson: text(`{"sum":-1}`), StructuredContentJson: `{"sum":-1}`}},
		{"interface fields get json.Number", start("kind", `{"v": 123456789012345678901234567890}`),
			&providerv1.ToolResult{ContentJson: text("json.Number 123456789012345678901234567890")}},
		{"empty arguments mean {}", start("count", ""), &providerv1.ToolResult{ContentJson: text("42")}},
		{"nil structured output", start("nilptr", `{}`), &providerv1.ToolResult{
			ContentJson: text("tool returned no result"), IsError: true,
		}},
		{"handler error", start("fails", `{}`), &providerv1.ToolResult{
			ContentJson: text("disk on fire"), IsError: true,
		}},
		{"panic", start("panics", `{}`), &providerv1.ToolResult{
			ContentJson: text(`tool "panics" failed with an internal error`), IsError: true,
		}},
		{"invalid result", start("broken", `{}`), &providerv1.ToolResult{
			ContentJson: text(`tool "broken" returned an invalid result`), IsError: true,
		}},
		{"raw request passes through", &providerv1.CallToolRequest{
			Message: &providerv1.CallToolRequest_Start{Start: &providerv1.CallToolStart{
				Name: "raw", ArgumentsJson: `{"n": 1e400, "big": 18446744073709551617}`,
				MetaJson: `{"progressToken": 7}`, SessionId: "s-1",
			}},
		}, &providerv1.ToolResult{
			ContentJson:           text("s-1"),
			StructuredContentJson: `{"args":{"n":1e400,"big":18446744073709551617}}`,
			MetaJson:              `{"progressToken":7}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call(t, c, tt.req)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallToolRefused(t *testing.T) {
	c := serve(t, testProvider(t))
	tests := []struct {
		name     string
		req      *providerv1.CallToolRequest
		wantCode codes.Code
		wantMsg  string
	}{
		{"unknown tool", start("nope", `{}`), codes.NotFound, `unknown tool "nope"`},
		{"missing required", start("sum", `{"a": 1}`), codes.InvalidArgument, `"b"`},
		{"wrong type", start("sum", `{"a": "1", "b": 2}`), codes.InvalidArgument, "integer"},
		{"fraction for integer", start("sum", `{"a": 1.5, "b": 2}`), codes.InvalidArgument, "integer"},
		{"integer out of range", start("sum", `{"a": 9223372036854775808, "b": 0}`),
			codes.InvalidArgument, "int64"},
		{"unknown property", start("sum", `{"a": 1, "b": 2, "c": 3}`), codes.InvalidArgument, "c"},
		{"array", start("sum", `[1, 2]`), codes.InvalidArgument, "not a JSON object"},
		{"null", start("raw", `null`), codes.InvalidArgument, "not a JSON object"},
		{"not JSON", start("raw", `{"a":`), codes.InvalidArgument, "not valid JSON"},
		{"trailing data", start("raw", `{} {}`), codes.InvalidArgument, "not valid JSON"},
		{"handler refuses", start("refuses", `{}`), codes.InvalidArgument, "bring a towel"},
		{"bad meta", &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
			Start: &providerv1.CallToolStart{Name: "raw", MetaJson: "{"},
		}}, codes.InvalidArgument, "_meta"},
		{"no start", &providerv1.CallToolRequest{}, codes.InvalidArgument, "CallToolStart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := call(t, c, tt.req)
			if err == nil {
				t.Fatalf("call succeeded with %v, want %v", res, tt.wantCode)
			}
			st := status.Convert(err)
			if st.Code() != tt.wantCode || !strings.Contains(st.Message(), tt.wantMsg) {
				t.Errorf("call = %v %q, want %v containing %q",
					st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestCallToolWithoutStart(t *testing.T) {
	c := serve(t, testProvider(t))
	stream, err := c.CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("receive = %v, want InvalidArgument", err)
	}
}

func TestCancelReachesHandler(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan error, 1)
	p := provider.New("test", nil)
	provider.AddFunc(p, "block", "Blocks.", func(ctx context.Context, _ struct{}) (string, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return "", ctx.Err()
	})
	c := serve(t, p)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := c.CallTool(ctx)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if err := stream.Send(start("block", `{}`)); err != nil {
		t.Fatalf("send: %v", err)
	}
	<-started
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context error = %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not cancelled")
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("receive = %v, want Canceled", err)
	}
}
