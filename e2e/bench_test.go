package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/suite"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// BenchmarkToolCall measures what the gateway adds to a tool call. The
// baseline calls the demo provider's echo tool directly over gRPC; the
// other cases make the same call as an MCP tools/call through one
// gateway, the session service and the registry, answered as JSON or as
// a resumable SSE stream (logged in Redis). Run with
//
//	go test -run '^$' -bench ToolCall ./e2e
//
// and compare each case's ns/op with the baseline's: the difference is
// the added latency per call on this machine.
func BenchmarkToolCall(b *testing.B) {
	s, err := suite.Start(b.Context(), suite.Config{
		BinDir: binDir, Dir: b.TempDir(), RedisURL: redistest.URL(b),
		Namespace: redistest.Namespace(b), LogLevel: "warn",
	})
	if err != nil {
		b.Fatalf("start suite: %v", err)
	}
	b.Cleanup(func() { s.Stop() })

	b.Run("provider-direct", func(b *testing.B) { benchDirect(b, s.Providers[0].GRPCAddr) })
	url := s.MCPURLs()[0]
	// The gateway's two backend calls, each on its own.
	b.Run("session-renew", func(b *testing.B) { benchRenew(b, s.Session.GRPCAddr, initSessionTB(b, url)) })
	b.Run("registry-call", func(b *testing.B) { benchRegistry(b, s.Registry.GRPCAddr) })
	b.Run("gateway-json", func(b *testing.B) { benchGateway(b, url, "application/json") })
	b.Run("gateway-sse", func(b *testing.B) {
		benchGateway(b, url, "application/json, text/event-stream")
	})
	b.Run("gateway-stateless", func(b *testing.B) { benchStateless(b, url) })
}

// benchStateless calls the tool as a 2026-07-28 client: no session, the
// protocol details in _meta and mirrored in headers.
func benchStateless(b *testing.B, url string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo",` +
		`"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"` +
		statelessVersion + `","io.modelcontextprotocol/clientCapabilities":{}}}}`
	client := &http.Client{}
	for b.Loop() {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", statelessVersion)
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "demo__echo")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), `"text":"hi"`) {
			b.Fatalf("status %d: %s", resp.StatusCode, out)
		}
	}
}

func benchDirect(b *testing.B, addr string) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pc := providerv1.NewProviderServiceClient(conn)
	start := &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "echo", ArgumentsJson: `{"text":"hi"}`},
	}}
	for b.Loop() {
		stream, err := pc.CallTool(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(start); err != nil {
			b.Fatal(err)
		}
		stream.CloseSend()
		for {
			msg, err := stream.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if msg.GetResult() != nil {
				break
			}
		}
	}
}

func dialBench(b *testing.B, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

func benchRenew(b *testing.B, addr, session string) {
	sc := sessionv1.NewSessionServiceClient(dialBench(b, addr))
	for b.Loop() {
		if _, err := sc.RenewSession(context.Background(), &sessionv1.RenewSessionRequest{Id: session}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRegistry(b *testing.B, addr string) {
	rc := registryv1.NewRegistryServiceClient(dialBench(b, addr))
	req := &registryv1.CallToolRequest{Name: "demo__echo", ArgumentsJson: `{"text":"hi"}`}
	for b.Loop() {
		stream, err := rc.CallTool(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := stream.Recv(); err != nil {
				break
			}
		}
	}
}

func benchGateway(b *testing.B, url, accept string) {
	session := initSessionTB(b, url)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{"text":"hi"}}}`
	client := &http.Client{}
	for b.Loop() {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), `"text":"hi"`) {
			b.Fatalf("status %d: %s", resp.StatusCode, out)
		}
	}
}

func initSessionTB(b *testing.B, url string) string {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` +
		protocolVersion + `","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Mcp-Session-Id")
}
