package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redistest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// fixture is a registry served on loopback for one test, with a real
// session service of its own.
type fixture struct {
	conn    *grpc.ClientConn
	client  registryv1.RegistryServiceClient
	httpURL string
	// adminAddr is the admin API's address (gRPC and REST).
	adminAddr string
	store     *Store
	cfg       Config
	sessions  sessionv1.SessionServiceClient
}

// testConfig returns a configuration on free loopback ports and a fresh
// Redis namespace.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.RedisURL = redistest.URL(t)
	cfg.RedisNamespace = redistest.Namespace(t)
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// startRegistry runs a session service and the registry as Run serves
// it, stopped and their keys deleted when the test ends.
func startRegistry(t testing.TB, edits ...func(*Config)) *fixture {
	t.Helper()
	cfg := testConfig(t)
	for _, edit := range edits {
		edit(&cfg)
	}
	rdb := redistest.Client(t)
	store := NewStore(rdb, cfg.RedisNamespace)
	t.Cleanup(func() { rdb.Del(context.Background(), store.keys...) })
	cfg.SessionAddr = startSessions(t, rdb, cfg.RedisNamespace)
	f := &fixture{store: store, cfg: cfg,
		sessions: sessionv1.NewSessionServiceClient(dial(t, cfg.SessionAddr))}
	f.run(t)
	return f
}

// replica starts another registry replica over the same Redis namespace
// and session service.
func (f *fixture) replica(t testing.TB) *fixture {
	t.Helper()
	r := &fixture{store: f.store, cfg: f.cfg, sessions: f.sessions}
	r.run(t)
	return r
}

// run serves the registry with f's configuration until the test ends.
func (f *fixture) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, logging.Discard(), f.store.rdb, f.cfg, func(a Addrs) { addrs <- a })
	}()
	var bound Addrs
	select {
	case bound = <-addrs:
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
	f.conn = dial(t, bound.GRPC)
	f.client = registryv1.NewRegistryServiceClient(f.conn)
	f.httpURL = "http://" + bound.HTTP
	f.adminAddr = bound.Admin
}

// startSessions serves the real session service on a loopback listener
// until the test ends and returns its address.
func startSessions(t testing.TB, rdb *redis.Client, ns string) string {
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

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// testProvider is a real ProviderService served on a loopback listener.
// By default a call answers with the provider's name, the tool's name and
// the arguments; handle replaces that. Reads, prompts and completions
// answer with the provider's name and what they were asked, or fail with
// fail when set.
type testProvider struct {
	providerv1.UnimplementedProviderServiceServer
	name      string
	tools     []*providerv1.Tool
	resources []*providerv1.Resource
	templates []*providerv1.ResourceTemplate
	prompts   []*providerv1.Prompt
	handle    func(providerv1.ProviderService_CallToolServer, *providerv1.CallToolStart) error
	fail      error
	starts    chan *providerv1.CallToolStart
	srv       *grpc.Server
	addr      string
}

// startProvider serves p until the test ends and returns it.
func startProvider(t testing.TB, p *testProvider) *testProvider {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p.starts = make(chan *providerv1.CallToolStart, 100)
	p.srv = grpc.NewServer()
	p.addr = lis.Addr().String()
	providerv1.RegisterProviderServiceServer(p.srv, p)
	go p.srv.Serve(lis)
	t.Cleanup(p.srv.Stop)
	return p
}

func (p *testProvider) Describe(context.Context, *providerv1.DescribeRequest) (
	*providerv1.DescribeResponse, error) {
	return &providerv1.DescribeResponse{Tools: p.tools, Resources: p.resources,
		ResourceTemplates: p.templates, Prompts: p.prompts}, nil
}

func (p *testProvider) CallTool(stream providerv1.ProviderService_CallToolServer) error {
	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	start := msg.GetStart()
	select {
	case p.starts <- start:
	default:
	}
	if p.handle != nil {
		return p.handle(stream, start)
	}
	content := fmt.Sprintf(`[{"type":"text","text":"%s:%s"}]`, p.name, start.GetName())
	return stream.Send(resultMsg(&providerv1.ToolResult{
		ContentJson:           content,
		StructuredContentJson: start.GetArgumentsJson(),
	}))
}

func (p *testProvider) ReadResource(_ context.Context, req *providerv1.ReadResourceRequest) (
	*providerv1.ReadResourceResponse, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	return &providerv1.ReadResourceResponse{ResultJson: `{"contents":[{"uri":` +
		jsonString(req.GetUri()) + `,"text":` + jsonString(p.name) + `}]}`}, nil
}

func (p *testProvider) GetPrompt(_ context.Context, req *providerv1.GetPromptRequest) (
	*providerv1.GetPromptResponse, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	desc := p.name + ":" + req.GetName() + ":" + req.GetArgumentsJson()
	return &providerv1.GetPromptResponse{ResultJson: `{"description":` + jsonString(desc) +
		`,"messages":[]}`}, nil
}

func (p *testProvider) Complete(_ context.Context, req *providerv1.CompleteRequest) (
	*providerv1.CompleteResponse, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	return &providerv1.CompleteResponse{ResultJson: `{"completion":{"values":[` +
		jsonString(p.name) + `,` + jsonString(req.GetRefJson()) + `,` +
		jsonString(req.GetArgumentJson()) + `]}}`}, nil
}

func resultMsg(r *providerv1.ToolResult) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Result{Result: r}}
}

// tools returns minimal tools with the given names.
func tools(names ...string) []*providerv1.Tool {
	out := make([]*providerv1.Tool, len(names))
	for i, n := range names {
		out[i] = &providerv1.Tool{Name: n, InputSchemaJson: `{"type":"object"}`}
	}
	return out
}

// regReq builds a registration; a nil prefix means unset.
func regReq(name, addr string, prefix *string,
	ttl time.Duration) *registryv1.RegisterProviderRequest {
	req := &registryv1.RegisterProviderRequest{Name: name, Address: addr, Prefix: prefix}
	if ttl != 0 {
		req.LeaseTtl = durationpb.New(ttl)
	}
	return req
}

// register registers p under its own name and fails the test on error.
func (f *fixture) register(t testing.TB, p *testProvider, prefix *string,
	ttl time.Duration) *registryv1.RegisterProviderResponse {
	t.Helper()
	resp, err := f.client.RegisterProvider(t.Context(), regReq(p.name, p.addr, prefix, ttl))
	if err != nil {
		t.Fatalf("register %s: %v", p.name, err)
	}
	return resp
}

// listAll walks every page of the catalogue.
func (f *fixture) listAll(t testing.TB) []*registryv1.CatalogTool {
	t.Helper()
	var out []*registryv1.CatalogTool
	req := &registryv1.ListToolsRequest{PageSize: int32(f.cfg.MaxPageSize)}
	for {
		resp, err := f.client.ListTools(t.Context(), req)
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		out = append(out, resp.GetTools()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// exposedNames returns the exposed names of a catalogue page.
func exposedNames(tools []*registryv1.CatalogTool) []string {
	out := make([]string, len(tools))
	for i, t := range tools {
		out[i] = t.GetTool().GetName()
	}
	return out
}

func (f *fixture) providers(t testing.TB) []*registryv1.Provider {
	t.Helper()
	resp, err := f.client.ListProviders(t.Context(), &registryv1.ListProvidersRequest{})
	if err != nil {
		t.Fatalf("list providers: %v", err)
	}
	return resp.GetProviders()
}

// call runs a tool call and returns its result.
func (f *fixture) call(ctx context.Context, req *registryv1.CallToolRequest) (
	*providerv1.ToolResult, error) {
	stream, err := f.client.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	var result *providerv1.ToolResult
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return result, nil
			}
			return nil, err
		}
		result = msg.GetResult()
	}
}

// wantCode fails the test unless err has the code and its message
// contains every fragment.
func wantCode(t testing.TB, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q lacks %q", st.Message(), f)
		}
	}
}

// eventually polls cond until it holds, failing the test after a bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadAddress returns a loopback address where nothing listens.
func deadAddress(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}
