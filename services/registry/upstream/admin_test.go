package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/serve"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// stubApplier stands in for the Manager: it records every set it gets
// and reports each upstream of the last one as up.
type stubApplier struct {
	mu   sync.Mutex
	sets chan []Spec
	last []Spec
}

func newStubApplier() *stubApplier { return &stubApplier{sets: make(chan []Spec, 100)} }

func (s *stubApplier) Set(_ context.Context, specs []Spec) error {
	s.mu.Lock()
	s.last = specs
	s.mu.Unlock()
	s.sets <- specs
	return nil
}

func (s *stubApplier) Health() []Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Health, len(s.last))
	for i, sp := range s.last {
		out[i] = Health{Name: sp.Name, Source: sp.Source, Transport: sp.Transport,
			State: "up", ServerName: "stub-" + sp.Name, Tools: 2,
			Since: time.Unix(1700000000, 0)}
	}
	return out
}

// waitSet waits until the applier gets a set whose names are want.
func (s *stubApplier) waitSet(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-s.sets:
			if names(got) == want {
				return
			}
		case <-timeout:
			t.Fatalf("the applier never got the set %q", want)
		}
	}
}

// adminServer is an Admin served on a loopback port, over gRPC and REST.
type adminServer struct {
	admin   *Admin
	applier *stubApplier
	client  registryv1.UpstreamAdminServiceClient
	url     string
}

// startAdmin serves an Admin over the given Redis namespace until the
// test ends.
func startAdmin(t *testing.T, ns string, opts AdminOptions) *adminServer {
	t.Helper()
	rdb := redistest.Client(t)
	store := NewStore(rdb, ns)
	t.Cleanup(func() { rdb.Del(context.Background(), store.key) })
	applier := newStubApplier()
	a := NewAdmin(logging.Discard(), store, applier, opts)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); a.Run(ctx) }()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, gs, err := a.Handler(ctx, lis.Addr().String())
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	web := serve.NewHTTPServer(h)
	go web.Serve(lis)
	t.Cleanup(func() { web.Close(); gs.Stop(); cancel(); <-ran })

	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	// The first set is the one Run applies at start.
	applier.waitSet(t, names(opts.File.Upstreams))
	return &adminServer{admin: a, applier: applier,
		client: registryv1.NewUpstreamAdminServiceClient(cc), url: "http://" + lis.Addr().String()}
}

func fileWith(allowStdio bool, specs ...Spec) File {
	for i := range specs {
		specs[i].Source = SourceFile
	}
	return File{AllowAdminStdio: allowStdio, Upstreams: specs}
}

func httpUpstream(name string) *registryv1.Upstream {
	return &registryv1.Upstream{Name: name, Transport: "http", Url: "http://127.0.0.1:1/mcp"}
}

func TestAdminGRPC(t *testing.T) {
	ctx := t.Context()
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{File: fileWith(false,
		Spec{Name: "fromfile", Transport: TransportStdio, Command: "x"})})

	// Adding and replacing.
	pfx := "p"
	full := &registryv1.Upstream{Name: "web", Prefix: &pfx, Transport: "http",
		Url: "https://127.0.0.1:1/mcp", Headers: map[string]string{"Authorization": "Bearer s"},
		CallTimeout: durationpb.New(time.Minute),
		Tools:       &registryv1.UpstreamToolFilter{Include: []string{"a"}}}
	resp, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{Upstream: full})
	if err != nil {
		t.Fatalf("AddUpstream: %v", err)
	}
	s.applier.waitSet(t, "fromfile,web")
	want := &registryv1.UpstreamStatus{
		Upstream: &registryv1.Upstream{Name: "web", Prefix: &pfx, Transport: "http",
			Url: "https://127.0.0.1:1/mcp", Headers: map[string]string{"Authorization": redacted},
			CallTimeout: durationpb.New(time.Minute),
			Tools:       &registryv1.UpstreamToolFilter{Include: []string{"a"}}},
		Source: "api",
		Health: &registryv1.UpstreamHealth{State: "up", ServerName: "stub-web", ToolCount: 2,
			Since: resp.GetUpstream().GetHealth().GetSince()},
	}
	if diff := cmp.Diff(want, resp.GetUpstream(), protocmp.Transform()); diff != "" {
		t.Errorf("AddUpstream (-want +got):\n%s", diff)
	}
	if _, err := s.client.AddUpstream(ctx,
		&registryv1.AddUpstreamRequest{Upstream: httpUpstream("web")}); err != nil {
		t.Fatalf("AddUpstream (replace): %v", err)
	}
	// The applier gets the secret the answers hide.
	s.applier.mu.Lock()
	applied := s.applier.last
	s.applier.mu.Unlock()
	if applied[1].URL != "http://127.0.0.1:1/mcp" {
		t.Errorf("replaced upstream applied as %+v", applied[1])
	}

	list, err := s.client.ListUpstreams(ctx, &registryv1.ListUpstreamsRequest{})
	if err != nil {
		t.Fatalf("ListUpstreams: %v", err)
	}
	var got []string
	for _, u := range list.GetUpstreams() {
		got = append(got, u.GetUpstream().GetName()+"/"+u.GetSource()+"/"+u.GetHealth().GetState())
	}
	if diff := cmp.Diff([]string{"fromfile/file/up", "web/api/up"}, got); diff != "" {
		t.Errorf("ListUpstreams (-want +got):\n%s", diff)
	}
	one, err := s.client.GetUpstream(ctx, &registryv1.GetUpstreamRequest{Name: "fromfile"})
	if err != nil || one.GetUpstream().GetUpstream().GetCommand() != "x" {
		t.Errorf("GetUpstream(fromfile) = %v, %v", one, err)
	}

	if _, err := s.client.RemoveUpstream(ctx,
		&registryv1.RemoveUpstreamRequest{Name: "web"}); err != nil {
		t.Fatalf("RemoveUpstream: %v", err)
	}
	s.applier.waitSet(t, "fromfile")
}

func TestAdminRefusals(t *testing.T) {
	ctx := t.Context()
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{File: fileWith(false,
		Spec{Name: "fromfile", Transport: TransportStdio, Command: "x"})})
	stdio := &registryv1.Upstream{Name: "cmd", Transport: "stdio", Command: "x"}
	tests := []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"no upstream", func() error {
			_, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{})
			return err
		}, codes.InvalidArgument, "upstream: required"},
		{"invalid", func() error {
			_, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{
				Upstream: &registryv1.Upstream{Name: "x", Transport: "http", Url: "ftp://x"}})
			return err
		}, codes.InvalidArgument, "want an absolute http or https URL"},
		{"stdio without allowAdminStdio", func() error {
			_, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{Upstream: stdio})
			return err
		}, codes.PermissionDenied, "allowAdminStdio: true"},
		{"name of a file upstream", func() error {
			_, err := s.client.AddUpstream(ctx,
				&registryv1.AddUpstreamRequest{Upstream: httpUpstream("fromfile")})
			return err
		}, codes.FailedPrecondition, "the upstreams file declares an upstream of that name"},
		{"remove a file upstream", func() error {
			_, err := s.client.RemoveUpstream(ctx, &registryv1.RemoveUpstreamRequest{Name: "fromfile"})
			return err
		}, codes.FailedPrecondition, "declared by the upstreams file"},
		{"remove unknown", func() error {
			_, err := s.client.RemoveUpstream(ctx, &registryv1.RemoveUpstreamRequest{Name: "nope"})
			return err
		}, codes.NotFound, "no such upstream"},
		{"get unknown", func() error {
			_, err := s.client.GetUpstream(ctx, &registryv1.GetUpstreamRequest{Name: "nope"})
			return err
		}, codes.NotFound, "no such upstream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.call(), tc.code, tc.want)
		})
	}

	// The file allows stdio upstreams from now on.
	s.admin.SetFile(ctx, fileWith(true, Spec{Name: "fromfile", Transport: TransportStdio,
		Command: "x"}))
	if _, err := s.client.AddUpstream(ctx,
		&registryv1.AddUpstreamRequest{Upstream: stdio}); err != nil {
		t.Fatalf("AddUpstream(stdio) with allowAdminStdio: %v", err)
	}
	s.applier.waitSet(t, "cmd,fromfile")
}

func TestAdminToken(t *testing.T) {
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{Token: "s3cret"})
	tests := []struct {
		name, auth string
		code       codes.Code
		httpStatus int
	}{
		{"none", "", codes.Unauthenticated, http.StatusUnauthorized},
		{"wrong", "Bearer nope", codes.Unauthenticated, http.StatusUnauthorized},
		{"prefix of the token", "Bearer s3cre", codes.Unauthenticated, http.StatusUnauthorized},
		{"other scheme", "Basic s3cret", codes.Unauthenticated, http.StatusUnauthorized},
		{"right", "Bearer s3cret", codes.OK, http.StatusOK},
		{"scheme in lower case", "bearer s3cret", codes.OK, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.auth)
			}
			_, err := s.client.ListUpstreams(ctx, &registryv1.ListUpstreamsRequest{})
			if status.Code(err) != tc.code {
				t.Errorf("gRPC ListUpstreams = %v, want %v", err, tc.code)
			}
			_, err = s.client.AddUpstream(ctx,
				&registryv1.AddUpstreamRequest{Upstream: httpUpstream("t")})
			if status.Code(err) != tc.code {
				t.Errorf("gRPC AddUpstream = %v, want %v", err, tc.code)
			}
			code, _ := s.rest(t, http.MethodGet, "/v1/upstreams", tc.auth, "")
			if code != tc.httpStatus {
				t.Errorf("GET /v1/upstreams = %d, want %d", code, tc.httpStatus)
			}
		})
	}
}

func TestAdminREST(t *testing.T) {
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{File: fileWith(false,
		Spec{Name: "fromfile", Transport: TransportStdio, Command: "x"})})
	steps := []struct {
		name, method, path, body string
		code                     int
		want                     string // a fragment of the answer
	}{
		{"add", "POST", "/v1/upstreams",
			`{"name":"web","transport":"http","url":"http://127.0.0.1:1/mcp",` +
				`"headers":{"X-Key":"k"},"connectTimeout":"5s"}`,
			200, `"connectTimeout":"5s"`},
		{"list", "GET", "/v1/upstreams", "", 200, `"name":"web"`},
		{"get", "GET", "/v1/upstreams/web", "", 200, `"X-Key":"<redacted>"`},
		{"get file upstream", "GET", "/v1/upstreams/fromfile", "", 200, `"source":"file"`},
		{"get unknown", "GET", "/v1/upstreams/nope", "", 404, "no such upstream"},
		{"invalid", "POST", "/v1/upstreams", `{"name":"x y"}`, 400, "want 1 to 64"},
		{"unknown field", "POST", "/v1/upstreams", `{"name":"a","bogus":1}`, 400, "bogus"},
		{"stdio", "POST", "/v1/upstreams", `{"name":"c","transport":"stdio","command":"x"}`,
			403, "allowAdminStdio"},
		{"clash", "POST", "/v1/upstreams",
			`{"name":"fromfile","transport":"http","url":"http://127.0.0.1:1/"}`,
			400, "the upstreams file declares"},
		{"remove file upstream", "DELETE", "/v1/upstreams/fromfile", "", 400,
			"declared by the upstreams file"},
		{"remove", "DELETE", "/v1/upstreams/web", "", 200, "{}"},
		{"remove again", "DELETE", "/v1/upstreams/web", "", 404, "no such upstream"},
	}
	for _, st := range steps {
		code, body := s.rest(t, st.method, st.path, "", st.body)
		if code != st.code || !strings.Contains(body, st.want) {
			t.Errorf("%s: %s %s = %d %s, want %d with %q",
				st.name, st.method, st.path, code, body, st.code, st.want)
		}
	}

	// The REST face keeps web pages out as the other REST ports do.
	req, _ := http.NewRequest("GET", s.url+"/v1/upstreams", nil)
	req.Header.Set("Origin", "http://evil.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("request with Origin = %d, want 403", resp.StatusCode)
	}
}

// TestAdminReplicas checks that an upstream declared on one replica
// reaches the other through the published change, and, with the channel
// missed, through polling.
func TestAdminReplicas(t *testing.T) {
	ns := redistest.Namespace(t)
	a := startAdmin(t, ns, AdminOptions{PollInterval: time.Hour})
	b := startAdmin(t, ns, AdminOptions{PollInterval: time.Hour})
	if _, err := a.client.AddUpstream(t.Context(),
		&registryv1.AddUpstreamRequest{Upstream: httpUpstream("shared")}); err != nil {
		t.Fatalf("AddUpstream: %v", err)
	}
	b.applier.waitSet(t, "shared")
	got, err := b.client.GetUpstream(t.Context(), &registryv1.GetUpstreamRequest{Name: "shared"})
	if err != nil || got.GetUpstream().GetSource() != "api" {
		t.Errorf("GetUpstream on the other replica = %v, %v", got, err)
	}
	if _, err := b.client.RemoveUpstream(t.Context(),
		&registryv1.RemoveUpstreamRequest{Name: "shared"}); err != nil {
		t.Fatalf("RemoveUpstream: %v", err)
	}
	a.applier.waitSet(t, "")

	// A change written without a message is seen at the next poll.
	c := startAdmin(t, ns, AdminOptions{PollInterval: 20 * time.Millisecond})
	rdb := redistest.Client(t)
	raw, err := proto.Marshal(httpUpstream("quiet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(t.Context(), NewStore(rdb, ns).key, "quiet", raw).Err(); err != nil {
		t.Fatal(err)
	}
	c.applier.waitSet(t, "quiet")
}

// TestAdminFileShadows checks that a file declaration wins over an API
// declaration of the same name that was made before the file had it.
func TestAdminFileShadows(t *testing.T) {
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{})
	if _, err := s.client.AddUpstream(t.Context(),
		&registryv1.AddUpstreamRequest{Upstream: httpUpstream("both")}); err != nil {
		t.Fatalf("AddUpstream: %v", err)
	}
	s.applier.waitSet(t, "both")
	s.admin.SetFile(t.Context(), fileWith(false,
		Spec{Name: "both", Transport: TransportStdio, Command: "x"}))
	s.applier.waitSet(t, "both")
	s.applier.mu.Lock()
	got := s.applier.last[0].Source
	s.applier.mu.Unlock()
	if got != SourceFile {
		t.Errorf("applied the %s declaration, want the file's", got)
	}
	// Removing through the API drops the shadowed declaration only.
	if _, err := s.client.RemoveUpstream(t.Context(),
		&registryv1.RemoveUpstreamRequest{Name: "both"}); err != nil {
		t.Fatalf("RemoveUpstream: %v", err)
	}
	wantStatus(t, func() error {
		_, err := s.client.RemoveUpstream(t.Context(), &registryv1.RemoveUpstreamRequest{Name: "both"})
		return err
	}(), codes.FailedPrecondition, "declared by the upstreams file")
}

// rest sends one request to the REST face and returns the status and
// body.
func (s *adminServer) rest(t *testing.T, method, path, auth, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// Compacted, so that fragments need not guess the spacing.
	var compact bytes.Buffer
	if json.Compact(&compact, b) != nil {
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, compact.String()
}

func wantStatus(t *testing.T, err error, code codes.Code, fragment string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), fragment) {
		t.Errorf("error = %v, want %v containing %q", err, code, fragment)
	}
}

// TestAdminProviderNames: an upstream may not take the name of a live
// provider that is not an upstream, whose registration it would replace;
// an API upstream may be declared again under its own name.
func TestAdminProviderNames(t *testing.T) {
	ctx := t.Context()
	live := []string{"demo"}
	var mu sync.Mutex
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{
		Providers: func(context.Context) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(live), nil
		},
	})
	_, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{Upstream: httpUpstream("demo")})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "a provider of that name") {
		t.Errorf("upstream named after a provider: %v, want FailedPrecondition", err)
	}
	if _, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{Upstream: httpUpstream("web")}); err != nil {
		t.Fatalf("add web: %v", err)
	}
	// Once running, the upstream is a live provider too; declaring it
	// again replaces only itself.
	mu.Lock()
	live = append(live, "web")
	mu.Unlock()
	if _, err := s.client.AddUpstream(ctx, &registryv1.AddUpstreamRequest{Upstream: httpUpstream("web")}); err != nil {
		t.Errorf("declare web again: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9000/mcp":                    "http://127.0.0.1:9000/mcp",
		"http://127.0.0.1:9000/mcp?api_key=S3CRET&x=1": "http://127.0.0.1:9000/mcp?api_key=%3Credacted%3E&x=%3Credacted%3E",
		"https://u:pw@example.test/mcp":                "https://u@example.test/mcp",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAdminBodyLimit(t *testing.T) {
	s := startAdmin(t, redistest.Namespace(t), AdminOptions{})
	body := `{"name":"big","transport":"http","url":"http://127.0.0.1:1/mcp","headers":{"X":"` +
		strings.Repeat("a", maxAdminBody) + `"}}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/v1/upstreams",
		strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte declaration got %d, want 413", len(body), resp.StatusCode)
	}
}
