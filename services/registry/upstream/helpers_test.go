package upstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redistest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/registry/registry"
	"switchboard.dev/registry/upstream"
	"switchboard.dev/session"
)

// stdioServerEnv makes the test binary serve the test upstream over
// stdio instead of running tests.
const stdioServerEnv = "UPSTREAM_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(stdioServerEnv) != "" {
		u := newTestUpstream("2025-11-25")
		u.tag = os.Getenv(stdioServerEnv)
		err := u.server().Run(context.Background(), &mcp.StdioTransport{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "stdio server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// env is a registry with a session service of its own, on loopback.
type env struct {
	rdb      *redis.Client
	ns       string
	registry registryv1.RegistryServiceClient
	sessions sessionv1.SessionServiceClient
}

func startEnv(t *testing.T) *env {
	t.Helper()
	rdb := redistest.Client(t)
	ns := redistest.Namespace(t)
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), ns+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	cfg := registry.DefaultConfig()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "", ""
	cfg.RedisURL, cfg.RedisNamespace = redistest.URL(t), ns
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.SessionAddr = startSessions(t, rdb, ns)

	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- registry.Run(ctx, logging.Discard(), rdb, cfg, func(a registry.Addrs) { addrs <- a.GRPC })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("registry stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry stopped: %v", err)
		}
	})
	return &env{rdb: rdb, ns: ns,
		registry: registryv1.NewRegistryServiceClient(dial(t, addr)),
		sessions: sessionv1.NewSessionServiceClient(dial(t, cfg.SessionAddr))}
}

func startSessions(t *testing.T, rdb *redis.Client, ns string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	svc := session.NewServer(session.NewStore(rdb, ns, 30*time.Minute, session.EventLog{}),
		logging.Discard(), nil)
	srv := grpc.NewServer(session.GRPCServerOptions()...)
	sessionv1.RegisterSessionServiceServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(func() { svc.Close(); srv.Stop() })
	return lis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// manager starts a manager against e's registry, closed when the test
// ends.
func (e *env) manager(t *testing.T, edits ...func(*upstream.ManagerOptions)) *upstream.Manager {
	t.Helper()
	opts := upstream.ManagerOptions{
		Registry: e.registry, Sessions: e.sessions,
		LeaseTTL: 3 * time.Second, ConnectTimeout: 5 * time.Second,
		CallTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		PingInterval: time.Second, MaxBackoff: 500 * time.Millisecond,
	}
	for _, edit := range edits {
		edit(&opts)
	}
	m := upstream.NewManager(testLog(), opts)
	t.Cleanup(m.Close)
	return m
}

// testLog discards the manager's log unless UPSTREAM_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("UPSTREAM_TEST_LOG") == "" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func set(t *testing.T, m *upstream.Manager, specs ...upstream.Spec) {
	t.Helper()
	if err := m.Set(t.Context(), specs); err != nil {
		t.Fatalf("set: %v", err)
	}
}

// toolNames lists the registry's whole catalogue of tools.
func (e *env) toolNames(t *testing.T) []string {
	t.Helper()
	var out []string
	req := &registryv1.ListToolsRequest{PageSize: 7}
	for {
		resp, err := e.registry.ListTools(t.Context(), req)
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		for _, tool := range resp.GetTools() {
			out = append(out, tool.GetTool().GetName())
		}
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// waitTools waits until the catalogue's tools under prefix are want.
func (e *env) waitTools(t *testing.T, prefix string, want []string) {
	t.Helper()
	var got []string
	eventually(t, fmt.Sprintf("tools %v", want), func() bool {
		got = nil
		for _, n := range e.toolNames(t) {
			if strings.HasPrefix(n, prefix) {
				got = append(got, n)
			}
		}
		return slices.Equal(got, want)
	})
}

// providerAddr waits until provider name is registered and returns the
// address the registry dials.
func (e *env) providerAddr(t *testing.T, name string) string {
	t.Helper()
	var addr string
	eventually(t, "provider "+name, func() bool {
		resp, err := e.registry.ListProviders(t.Context(), &registryv1.ListProvidersRequest{})
		if err != nil {
			t.Fatalf("list providers: %v", err)
		}
		for _, p := range resp.GetProviders() {
			if p.GetName() == name {
				addr = p.GetAddress()
				return true
			}
		}
		return false
	})
	return addr
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func health(m *upstream.Manager, name string) upstream.Health {
	for _, h := range m.Health() {
		if h.Name == name {
			return h
		}
	}
	return upstream.Health{}
}

// provider is a client of a bridge's provider API, as the registry uses
// it.
type provider struct {
	client providerv1.ProviderServiceClient
}

func (e *env) provider(t *testing.T, name string) provider {
	t.Helper()
	return provider{providerv1.NewProviderServiceClient(dial(t, e.providerAddr(t, name)))}
}

// start opens a call stream and sends the call.
func (p provider) start(t *testing.T, ctx context.Context, start *providerv1.CallToolStart) (
	providerv1.ProviderService_CallToolClient, error) {
	t.Helper()
	stream, err := p.client.CallTool(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&providerv1.CallToolRequest{
		Message: &providerv1.CallToolRequest_Start{Start: start}})
	return stream, err
}

// call runs a call that sends nothing but its result.
func (p provider) call(t *testing.T, session, tool, args string) (*providerv1.ToolResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := p.start(t, ctx, &providerv1.CallToolStart{Name: tool, ArgumentsJson: args,
		SessionId: session})
	if err != nil {
		return nil, err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if r := msg.GetResult(); r != nil {
			return r, nil
		}
	}
}

// text returns the text of a result's first content block.
func text(t *testing.T, r *providerv1.ToolResult) string {
	t.Helper()
	var content []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(r.GetContentJson()), &content); err != nil ||
		len(content) == 0 {
		t.Fatalf("content %s: %v", r.GetContentJson(), err)
	}
	return content[0].Text
}

// testUpstream builds the test MCP servers: one server per session, as
// the SDK's HTTP handlers ask for, so that each session has state of its
// own (the incr tool counts per session).
type testUpstream struct {
	versions []string
	// tag sets the upstream's resource URIs apart from other upstreams'.
	tag string
	// stateless serves HTTP without sessions, as 2026-07-28 needs.
	stateless bool
	// jsonResponse answers POSTs with a JSON body rather than a stream.
	jsonResponse bool
	// extra adds to each server what one test needs.
	extra func(*mcp.Server)

	mu      sync.Mutex
	servers []*mcp.Server
	late    []string

	cancelled chan string
	headers   chan http.Header
	handler   atomic.Pointer[http.Handler]
}

func newTestUpstream(versions ...string) *testUpstream {
	return &testUpstream{versions: versions, cancelled: make(chan string, 10),
		headers: make(chan http.Header, 1000)}
}

// pageTools are enough tools for several pages of five.
var pageTools = []string{"t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09",
	"t10", "t11"}

func (u *testUpstream) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "0.1.0"},
		&mcp.ServerOptions{PageSize: 5, SupportedProtocolVersions: u.versions})
	tool := func(name string, h mcp.ToolHandler) {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)}, h)
	}
	for _, n := range pageTools {
		tool(n, textTool(n))
	}
	tool("secret", textTool("secret"))
	tool("echo", echoTool)
	var count atomic.Int64
	tool("incr", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult(fmt.Sprint(count.Add(1))), nil
	})
	tool("slow", slowTool)
	tool("wait", func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		<-ctx.Done()
		u.cancelled <- "wait"
		return nil, ctx.Err()
	})
	tool("die", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		os.Exit(3)
		return nil, nil
	})
	tool("spam", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// One line on stdout far over the bridge's limit, written whole
		// before the answer.
		os.Stdout.Write([]byte(strings.Repeat("x", 256<<10) + "\n"))
		return textResult("after spam"), nil
	})
	doc := &mcp.Resource{URI: "test://" + u.tag + "/doc", Name: "doc", MIMEType: "text/plain"}
	s.AddResource(doc,
		func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
				{URI: r.Params.URI, Text: "hello"}}}, nil
		})
	item := &mcp.ResourceTemplate{URITemplate: "test://" + u.tag + "/items/{id}", Name: "item"}
	s.AddResourceTemplate(item,
		func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			if strings.HasSuffix(r.Params.URI, "/none") {
				return nil, mcp.ResourceNotFoundError(r.Params.URI)
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
				{URI: r.Params.URI, Text: "item"}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}},
		func(_ context.Context, r *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Description: "hello " + r.Params.Arguments["who"],
				Messages: []*mcp.PromptMessage{}}, nil
		})
	if u.extra != nil {
		u.extra(s)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, n := range u.late {
		tool(n, textTool(n))
	}
	u.servers = append(u.servers, s)
	return s
}

// addTool adds a tool to every server, present and future; the SDK
// tells connected clients that the list changed.
func (u *testUpstream) addTool(name string) {
	u.mu.Lock()
	u.late = append(u.late, name)
	servers := slices.Clone(u.servers)
	u.mu.Unlock()
	for _, s := range servers {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
			textTool(name))
	}
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func textTool(s string) mcp.ToolHandler {
	return func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult(s), nil
	}
}

// echoTool answers with its arguments as structured content and the
// request's _meta as the result's.
func echoTool(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args map[string]any
	json.Unmarshal(r.Params.Arguments, &args)
	res := textResult("echo")
	res.StructuredContent = args
	res.Meta = mcp.Meta{"request": r.Params.Meta}
	return res, nil
}

// slowTool reports progress, logs, asks the client for a name and
// answers with it.
func slowTool(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	tok := r.Params.GetProgressToken()
	if tok != nil {
		r.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok,
			Progress: 1, Total: 2, Message: "half"})
	}
	r.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "working"})
	res, err := r.Session.Elicit(ctx, &mcp.ElicitParams{Message: "name?",
		RequestedSchema: map[string]any{"type": "object",
			"properties": map[string]any{"name": map[string]any{"type": "string"}}}})
	if err != nil {
		return nil, err
	}
	return textResult(fmt.Sprintf("%s:%v", res.Action, res.Content["name"])), nil
}

// serveHTTP serves the upstream over Streamable HTTP on loopback; every
// request's headers are recorded.
func (u *testUpstream) serveHTTP(t *testing.T) *httptest.Server {
	t.Helper()
	u.resetSessions()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case u.headers <- r.Header.Clone():
		default:
		}
		(*u.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() { closeServer(srv) })
	return srv
}

// resetSessions replaces the HTTP handler, which forgets every session:
// the old session ids then get 404.
func (u *testUpstream) resetSessions() {
	var h http.Handler = mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return u.server() },
		&mcp.StreamableHTTPOptions{Stateless: u.stateless, JSONResponse: u.jsonResponse})
	u.handler.Store(&h)
}

// serveSSE serves the upstream over the HTTP+SSE transport.
func (u *testUpstream) serveSSE(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mcp.NewSSEHandler(
		func(*http.Request) *mcp.Server { return u.server() }, nil))
	t.Cleanup(func() { closeServer(srv) })
	return srv
}

// closeServer ends the event streams a bridge may still hold open, which
// Close alone would wait for.
func closeServer(srv *httptest.Server) {
	srv.CloseClientConnections()
	srv.Close()
}

// stdioSpec runs the test binary as a stdio upstream.
func stdioSpec(name string) upstream.Spec {
	exe, _ := os.Executable()
	return upstream.Spec{Name: name, Transport: upstream.TransportStdio, Command: exe,
		Env: map[string]string{stdioServerEnv: "stdio-" + name}}
}

func ptr[T any](v T) *T { return &v }
