package provider_test

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
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/provider"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// serve serves p's gRPC API on a loopback port until the test ends and
// returns a client for it.
func serve(t *testing.T, p *provider.Provider) providerv1.ProviderServiceClient {
	t.Helper()
	return dial(t, serveAddr(t, p))
}

// serveAddr serves p's gRPC API on a server of the test's own, as a
// program that embeds a provider would, and returns its address.
func serveAddr(t *testing.T, p *provider.Provider) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	providerv1.RegisterProviderServiceServer(s, p.Service())
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// run starts p.Run and waits until it serves. It returns the bound
// address and a function that cancels Run and returns its error.
func run(t *testing.T, p *provider.Provider, opts provider.RunOptions) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	opts.Ready = func(addr string) { ready <- addr }
	go func() { errc <- p.Run(ctx, opts) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatalf("Run ended before serving: %v", err)
	}
	stop := func() error {
		t.Helper()
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
	return addr, stop
}

func dial(t *testing.T, addr string) providerv1.ProviderServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return providerv1.NewProviderServiceClient(conn)
}

func start(name, args string) *providerv1.CallToolRequest {
	return &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: name, ArgumentsJson: args},
	}}
}

// call runs one tool call and checks that the stream ends after the
// result.
func call(t *testing.T, c providerv1.ProviderServiceClient, req *providerv1.CallToolRequest) (
	*providerv1.ToolResult, error) {
	t.Helper()
	stream, err := c.CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if err := stream.Send(req); err != nil {
		t.Fatalf("send start: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("receive after result: %v, want EOF", err)
	}
	return resp.GetResult(), nil
}

// jsonDiff compares two JSON texts by meaning, for schemas whose key
// order the schema library chooses.
func jsonDiff(t *testing.T, want, got string) string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return "got is not JSON: " + err.Error() + "\n" + got
	}
	return cmp.Diff(w, g)
}

func text(s string) string {
	b, _ := json.Marshal([]json.RawMessage{provider.TextBlock(s)})
	return string(b)
}
