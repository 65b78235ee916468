package upstream_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	"switchboard.dev/registry/upstream"
)

// exposed is the catalogue of the test upstream under prefix p, without
// the filtered tool "secret", as the registry lists it (by name).
func exposed(p string) []string {
	names := []string{"die", "echo", "incr", "slow", "spam", "wait"}
	names = append(names, pageTools...)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + "__" + n
	}
	slices.Sort(out)
	return out
}

func TestCatalogueOverEveryTransport(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	tagged := func(tag string, versions ...string) *testUpstream {
		u := newTestUpstream(versions...)
		u.tag = tag
		return u
	}
	httpSrv := tagged("h", "2025-11-25").serveHTTP(t)
	sseSrv := tagged("s", "2024-11-05").serveSSE(t)
	stateless := tagged("n")
	stateless.stateless = true
	latest := stateless.serveHTTP(t)
	tests := []struct {
		spec    upstream.Spec
		version string
	}{
		{upstream.Spec{Name: "h", Transport: upstream.TransportHTTP, URL: httpSrv.URL},
			"2025-11-25"},
		{upstream.Spec{Name: "s", Transport: upstream.TransportSSE, URL: sseSrv.URL},
			"2024-11-05"},
		{stdioSpec("o"), "2025-11-25"},
		{upstream.Spec{Name: "n", Transport: upstream.TransportHTTP, URL: latest.URL},
			"2026-07-28"},
	}
	var specs []upstream.Spec
	for _, tc := range tests {
		tc.spec.Tools.Exclude = []string{"secret"}
		specs = append(specs, tc.spec)
	}
	set(t, m, specs...)
	for _, tc := range tests {
		t.Run(tc.spec.Name, func(t *testing.T) {
			e.waitTools(t, tc.spec.Name+"__", exposed(tc.spec.Name))
			h := health(m, tc.spec.Name)
			want := upstream.Health{Name: tc.spec.Name, Transport: tc.spec.Transport,
				State: upstream.StateUp, ProtocolVersion: tc.version,
				ServerName: "test-upstream", ServerVersion: "0.1.0",
				Tools: len(exposed("x")), Resources: 1, Templates: 1, Prompts: 1}
			h.Since = time.Time{}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("health (-want +got):\n%s", diff)
			}
		})
	}

	// Resources, templates and prompts reach the registry too, and reads
	// and prompts route back through the bridge.
	res, err := e.registry.ListResourceTemplates(t.Context(),
		&registryv1.ListResourceTemplatesRequest{})
	if err != nil || len(res.GetResourceTemplates()) != len(tests) {
		t.Fatalf("templates: %v, %v", res, err)
	}
	prompt, err := e.registry.GetPrompt(t.Context(), &registryv1.GetPromptRequest{
		Name: "o__greet", ArgumentsJson: `{"who":"Ada"}`})
	if err != nil || !strings.Contains(prompt.GetResultJson(), "hello Ada") {
		t.Errorf("prompt: %v, %v", prompt, err)
	}
	for _, tc := range tests {
		uri := "test://" + tc.spec.Name + "/doc"
		if tc.spec.Transport == upstream.TransportStdio {
			uri = "test://stdio-" + tc.spec.Name + "/doc"
		}
		read, err := e.registry.ReadResource(t.Context(),
			&registryv1.ReadResourceRequest{Uri: uri, SessionId: "s1"})
		if err != nil || !strings.Contains(read.GetResultJson(), `"text":"hello"`) {
			t.Errorf("read %s: %v, %v", uri, read, err)
		}
	}
	_, err = e.registry.ReadResource(t.Context(),
		&registryv1.ReadResourceRequest{Uri: "test://h/items/none"})
	// The SDK's servers answer -32602 for an unknown resource (SEP-2164);
	// the code reaches the client as the upstream sent it.
	if e, ok := mcperr.From(err); !ok || e.Code != -32602 {
		t.Errorf("read of an unknown resource: %v, want MCP error -32602", err)
	}
}

func TestListChangedRegistersAgain(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "lc", Prefix: ptr("p"), Transport: upstream.TransportHTTP,
		URL: srv.URL, Tools: upstream.ToolFilter{Include: []string{"t00", "late"}}})
	e.waitTools(t, "p__", []string{"p__t00"})
	u.addTool("late")
	e.waitTools(t, "p__", []string{"p__late", "p__t00"})
}

func TestToolFilterRefusesHiddenTools(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	srv := newTestUpstream("2025-11-25").serveHTTP(t)
	set(t, m, upstream.Spec{Name: "f", Prefix: ptr(""), Transport: upstream.TransportHTTP,
		URL: srv.URL, Tools: upstream.ToolFilter{Exclude: []string{"secret"}}})
	p := e.provider(t, "f")
	if slices.Contains(e.toolNames(t), "secret") {
		t.Errorf("secret is listed")
	}
	_, err := p.call(t, "s1", "secret", "{}")
	if status.Code(err) != codes.NotFound {
		t.Errorf("call of a filtered tool: %v, want NotFound", err)
	}
}

func TestCallRelaysProgressLogAndElicitation(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	srv := newTestUpstream("2025-11-25").serveHTTP(t)
	set(t, m, upstream.Spec{Name: "r", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "r")

	stream, err := p.start(t, t.Context(), &providerv1.CallToolStart{Name: "slow",
		SessionId: "s1", MetaJson: `{"progressToken":  7, "traceparent":"00-abc-def-01"}`,
		ClientCapabilitiesJson: `{"elicitation":{}}`})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	var got []string
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v (after %v)", err, got)
		}
		if n := msg.GetNotification(); n != nil {
			got = append(got, n.GetMethod())
			if n.GetMethod() == "notifications/progress" &&
				!strings.Contains(n.GetParamsJson(), `"progressToken":7`) {
				t.Errorf("progress %s lacks the client's token", n.GetParamsJson())
			}
			continue
		}
		if q := msg.GetRequest(); q != nil {
			got = append(got, q.GetMethod())
			stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Response{
				Response: &providerv1.ClientResponse{Id: q.GetId(),
					ResultJson: `{"action":"accept","content":{"name":"Ada"}}`}}})
			continue
		}
		if r := msg.GetResult(); r != nil {
			if s := text(t, r); s != "accept:Ada" {
				t.Errorf("result %q", s)
			}
			break
		}
	}
	want := []string{"notifications/progress", "notifications/message", "elicitation/create"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relayed (-want +got):\n%s", diff)
	}

	// Arguments and _meta reach the upstream as sent; the result comes
	// back whole.
	stream, err = p.start(t, t.Context(), &providerv1.CallToolStart{Name: "echo",
		SessionId: "s1", ArgumentsJson: `{"n":1,"s":"x"}`,
		MetaJson: `{"traceparent":"00-abc-def-01"}`})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	r := msg.GetResult()
	if r.GetStructuredContentJson() != `{"n":1,"s":"x"}` ||
		!strings.Contains(r.GetMetaJson(), `"traceparent":"00-abc-def-01"`) {
		t.Errorf("echo result %v", r)
	}
}

func TestCancellingTheStreamCancelsTheUpstreamRequest(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "c", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "c")
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := p.start(t, ctx, &providerv1.CallToolStart{Name: "wait", SessionId: "s1"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	go stream.Recv()
	time.Sleep(200 * time.Millisecond) // let the call reach the upstream
	cancel()
	select {
	case <-u.cancelled:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
}

func TestClientSessionsAreIsolated(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "i", Transport: upstream.TransportHTTP, URL: srv.URL},
		stdioSpec("io"))
	steps := []struct{ session, want string }{
		{"a", "1"}, {"a", "2"}, {"b", "1"}, {"a", "3"}, {"b", "2"},
	}
	for _, name := range []string{"io", "i"} {
		p := e.provider(t, name)
		for _, s := range steps {
			r, err := p.call(t, s.session, "incr", "{}")
			if err != nil {
				t.Fatalf("%s: incr in %s: %v", name, s.session, err)
			}
			if got := text(t, r); got != s.want {
				t.Errorf("%s: incr in %s = %s, want %s", name, s.session, got, s.want)
			}
		}
	}
	p := e.provider(t, "i")

	// An upstream that forgot the session (404) gets a new one, and the
	// request goes through.
	u.resetSessions()
	r, err := p.call(t, "a", "incr", "{}")
	if err != nil {
		t.Fatalf("incr after the upstream forgot the session: %v", err)
	}
	if got := text(t, r); got != "1" {
		t.Errorf("incr in a new upstream session = %s, want 1", got)
	}
}

func TestUpstreamDeathFailsTheCallPromptly(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	srv := u.serveHTTP(t)
	set(t, m, stdioSpec("d"),
		upstream.Spec{Name: "dh", Transport: upstream.TransportHTTP, URL: srv.URL})

	_, err := e.provider(t, "d").call(t, "s1", "die", "{}")
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("call to a process that died: %v, want Unavailable", err)
	}

	p := e.provider(t, "dh")
	done := make(chan error, 1)
	go func() {
		_, err := p.call(t, "s1", "wait", "{}")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	srv.CloseClientConnections()
	srv.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("call to a dead upstream succeeded")
		}
	case <-time.After(25 * time.Second):
		t.Fatal("call to a dead upstream hangs")
	}
}

func TestUpstreamRestartBringsToolsBack(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	u.resetSessions()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	serve := func(lis net.Listener) *httptest.Server {
		srv := &httptest.Server{Listener: lis, Config: &http.Server{Handler: http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) { (*u.handler.Load()).ServeHTTP(w, r) })}}
		srv.Start()
		t.Cleanup(func() { closeServer(srv) })
		return srv
	}
	srv := serve(lis)
	set(t, m, upstream.Spec{Name: "rs", Transport: upstream.TransportHTTP,
		URL: "http://" + addr, Tools: upstream.ToolFilter{Include: []string{"echo"}}})
	e.waitTools(t, "rs__", []string{"rs__echo"})

	srv.CloseClientConnections()
	srv.Close()
	e.waitTools(t, "rs__", nil)
	if h := health(m, "rs"); h.State == upstream.StateUp || h.LastError == "" {
		t.Errorf("health after the upstream died: %+v", h)
	}

	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	u.resetSessions()
	serve(lis)
	e.waitTools(t, "rs__", []string{"rs__echo"})
	eventually(t, "state up", func() bool { return health(m, "rs").State == upstream.StateUp })
}

func TestStdioDropsOverlongLines(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t, func(o *upstream.ManagerOptions) { o.MaxLineBytes = 64 << 10 })
	set(t, m, stdioSpec("l"))
	p := e.provider(t, "l")
	for _, tool := range []string{"spam", "t01"} {
		r, err := p.call(t, "s1", tool, "{}")
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if tool == "spam" && text(t, r) != "after spam" {
			t.Errorf("spam: %s", text(t, r))
		}
	}
}

func TestStdioProcessCap(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t, func(o *upstream.ManagerOptions) { o.MaxProcesses = 2 })
	set(t, m, stdioSpec("cap"))
	p := e.provider(t, "cap")
	if _, err := p.call(t, "a", "t00", "{}"); err != nil {
		t.Fatalf("first session: %v", err)
	}
	_, err := p.call(t, "b", "t00", "{}")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "processes") {
		t.Errorf("session beyond the cap: %v, want ResourceExhausted", err)
	}
}

func TestHeadersReachTheUpstream(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "hd", Transport: upstream.TransportHTTP, URL: srv.URL,
		Headers: map[string]string{"Authorization": "Bearer t0ken"}})
	p := e.provider(t, "hd")
	if _, err := p.call(t, "s1", "t00", "{}"); err != nil {
		t.Fatalf("call: %v", err)
	}
	m.Close()
	close(u.headers)
	n := 0
	for h := range u.headers {
		n++
		if got := h.Get("Authorization"); got != "Bearer t0ken" {
			t.Errorf("request %d: Authorization %q", n, got)
		}
	}
	if n < 4 {
		t.Errorf("saw %d requests, want the catalogue's and the call's", n)
	}
}

func TestRefusedUpstreamIsReported(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	// An upstream that answers initialize with an error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) +
			`,"error":{"code":-32600,"message":"no clients today"}}`))
	}))
	t.Cleanup(srv.Close)
	set(t, m, upstream.Spec{Name: "no", Transport: upstream.TransportHTTP, URL: srv.URL})
	eventually(t, "refused", func() bool {
		h := health(m, "no")
		return h.State == upstream.StateRefused && strings.Contains(h.Reason, "no clients today")
	})
}

func TestSetReconciles(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	srv := newTestUpstream("2025-11-25").serveHTTP(t)
	spec := upstream.Spec{Name: "a", Transport: upstream.TransportHTTP, URL: srv.URL,
		Tools: upstream.ToolFilter{Include: []string{"echo"}}}
	set(t, m, spec)
	e.waitTools(t, "", []string{"a__echo"})

	spec.Prefix = ptr("b")
	set(t, m, spec)
	e.waitTools(t, "", []string{"b__echo"})

	set(t, m)
	e.waitTools(t, "", nil)
	if h := m.Health(); len(h) != 0 {
		t.Errorf("health of no upstreams: %+v", h)
	}
}

func TestOneReplicaOwnsAnUpstream(t *testing.T) {
	e := startEnv(t)
	withRedis := func(o *upstream.ManagerOptions) {
		o.Redis, o.RedisNamespace = e.rdb, e.ns
		o.LeaseTTL = time.Second
	}
	srv := newTestUpstream("2025-11-25").serveHTTP(t)
	spec := upstream.Spec{Name: "own", Transport: upstream.TransportHTTP, URL: srv.URL,
		Tools: upstream.ToolFilter{Include: []string{"echo"}}}
	m1 := e.manager(t, withRedis)
	set(t, m1, spec)
	e.waitTools(t, "", []string{"own__echo"})
	m2 := e.manager(t, withRedis)
	set(t, m2, spec)
	eventually(t, "standby", func() bool { return health(m2, "own").Standby })
	first := e.providerAddr(t, "own")

	// The second replica keeps off while the first runs the upstream.
	time.Sleep(2 * time.Second)
	if h := health(m2, "own"); !h.Standby || h.State != upstream.StateDown {
		t.Errorf("second replica: %+v", h)
	}
	if addr := e.providerAddr(t, "own"); addr != first {
		t.Errorf("provider moved from %s to %s while its owner ran", first, addr)
	}

	m1.Close()
	eventually(t, "takeover", func() bool { return health(m2, "own").State == upstream.StateUp })
	e.waitTools(t, "", []string{"own__echo"})
	if addr := e.providerAddr(t, "own"); addr == first {
		t.Errorf("provider still at the closed replica's address %s", addr)
	}
}

// TestAdvertiseHost: the bridges register the advertised host, with the
// port they bound, so that other registry replicas can dial them.
func TestAdvertiseHost(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t, func(o *upstream.ManagerOptions) { o.AdvertiseHost = "localhost" })
	srv := newTestUpstream("2025-11-25").serveHTTP(t)
	set(t, m, upstream.Spec{Name: "adv", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "adv")
	addr := e.providerAddr(t, "adv")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "localhost" || port == "0" || port == "" {
		t.Errorf("registered address %q, want localhost and the bound port", addr)
	}
	if _, err := p.call(t, "s1", "t00", "{}"); err != nil {
		t.Errorf("call through the advertised address: %v", err)
	}
}

// TestGatewayUpstreamRefused: a Switchboard gateway as an upstream would,
// when it fronts this registry, grow the catalogue from its own tools
// without end; it is refused with the reason in its health.
func TestGatewayUpstreamRefused(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	gw := mcp.NewServer(&mcp.Implementation{Name: "switchboard", Version: "0.1.0"}, nil)
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return gw }, nil))
	t.Cleanup(func() { closeServer(srv) })
	set(t, m, upstream.Spec{Name: "gw", Transport: upstream.TransportHTTP, URL: srv.URL})
	eventually(t, "the gateway upstream refused", func() bool {
		h := health(m, "gw")
		return h.State == upstream.StateRefused && strings.Contains(h.Reason, "Switchboard gateway")
	})
}
