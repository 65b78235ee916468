package registry

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/logging"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func TestRegisterRefused(t *testing.T) {
	f := startRegistry(t)
	good := startProvider(t, &testProvider{name: "good", tools: tools("echo")})
	dead := deadAddress(t)
	badTools := func(ts ...*providerv1.Tool) string {
		return startProvider(t, &testProvider{name: "bad", tools: ts}).addr
	}
	empty, long := "", strings.Repeat("p", 65)
	bad := "has space"
	tests := []struct {
		name      string
		req       *registryv1.RegisterProviderRequest
		code      codes.Code
		fragments []string
	}{
		{"empty name", regReq("", good.addr, nil, 0), codes.InvalidArgument, []string{"name"}},
		{"bad name", regReq("a/b", good.addr, nil, 0), codes.InvalidArgument, []string{`name "a/b"`}},
		{"long name", regReq(strings.Repeat("n", 65), good.addr, nil, 0),
			codes.InvalidArgument, []string{"name"}},
		{"no address", regReq("p", "", nil, 0), codes.InvalidArgument, []string{"address"}},
		{"bad prefix", regReq("p", good.addr, &bad, 0),
			codes.InvalidArgument, []string{`prefix "has space"`}},
		{"long prefix", regReq("p", good.addr, &long, 0), codes.InvalidArgument, []string{"prefix"}},
		{"negative ttl", regReq("p", good.addr, &empty, -time.Second),
			codes.InvalidArgument, []string{"lease_ttl"}},
		{"ttl above max", regReq("p", good.addr, nil, time.Hour),
			codes.InvalidArgument, []string{"lease_ttl 1h0m0s", "maximum 5m0s"}},
		{"unreachable", regReq("gone", dead, nil, 0),
			codes.Unavailable, []string{`provider "gone"`, dead}},
		{"empty tool name", regReq("p", badTools(&providerv1.Tool{}), nil, 0),
			codes.InvalidArgument, []string{"name: required"}},
		{"schema not an object", regReq("p", badTools(&providerv1.Tool{
			Name: "t", InputSchemaJson: `[{"type":"object"}]`}), nil, 0),
			codes.InvalidArgument, []string{`"t"`, "input_schema_json"}},
		{"schema not JSON", regReq("p", badTools(&providerv1.Tool{
			Name: "t", InputSchemaJson: `{"type":`}), nil, 0),
			codes.InvalidArgument, []string{"input_schema_json"}},
		{"annotations not JSON", regReq("p", badTools(&providerv1.Tool{
			Name: "t", AnnotationsJson: `{x}`}), nil, 0),
			codes.InvalidArgument, []string{"annotations_json"}},
		{"duplicate tool", regReq("p", badTools(tools("echo", "echo")...), nil, 0),
			codes.InvalidArgument, []string{`"p__echo" appears twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.RegisterProvider(t.Context(), tc.req)
			wantCode(t, err, tc.code, tc.fragments...)
		})
	}
	if got := f.listAll(t); len(got) != 0 {
		t.Errorf("refused registrations published %v", exposedNames(got))
	}
}

func TestPrefixes(t *testing.T) {
	custom, empty := "x", ""
	tests := []struct {
		name       string
		prefix     *string
		wantPrefix string
		want       []string
	}{
		{"unset means the name", nil, "demo", []string{"demo__echo", "demo__sum"}},
		{"custom", &custom, "x", []string{"x__echo", "x__sum"}},
		{"empty", &empty, "", []string{"echo", "sum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startRegistry(t)
			p := startProvider(t, &testProvider{name: "demo", tools: tools("sum", "echo")})
			resp := f.register(t, p, tc.prefix, 0)
			if got := resp.GetProvider().GetPrefix(); got != tc.wantPrefix {
				t.Errorf("registered prefix %q, want %q", got, tc.wantPrefix)
			}
			if diff := cmp.Diff(tc.want, exposedNames(f.listAll(t))); diff != "" {
				t.Errorf("exposed names (-want +got):\n%s", diff)
			}
			got := f.listAll(t)[0]
			want := &registryv1.CatalogTool{
				Tool:     &providerv1.Tool{Name: tc.want[0], InputSchemaJson: `{"type":"object"}`},
				Provider: "demo", ProviderToolName: "echo",
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("catalogue entry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeaseLifecycle(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("echo")})
	ctx := t.Context()
	reg := f.register(t, p, nil, 2*time.Second)
	if diff := cmp.Diff(durationpb.New(2*time.Second), reg.GetLeaseTtl(),
		protocmp.Transform()); diff != "" {
		t.Errorf("granted lease (-want +got):\n%s", diff)
	}
	if reg.GetLeaseId() == "" || reg.GetProvider().GetToolCount() != 1 {
		t.Fatalf("registration %v lacks a lease id or a tool count", reg)
	}

	t.Run("renew", func(t *testing.T) {
		resp, err := f.client.RenewLease(ctx, &registryv1.RenewLeaseRequest{
			Name: "p", LeaseId: reg.GetLeaseId()})
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		if resp.GetExpireTime().AsTime().Before(reg.GetProvider().GetExpireTime().AsTime()) {
			t.Errorf("renewed expiry %v precedes the first %v",
				resp.GetExpireTime().AsTime(), reg.GetProvider().GetExpireTime().AsTime())
		}
	})
	t.Run("wrong lease", func(t *testing.T) {
		_, err := f.client.RenewLease(ctx, &registryv1.RenewLeaseRequest{
			Name: "p", LeaseId: "nope"})
		wantCode(t, err, codes.NotFound, "register again")
		_, err = f.client.DeregisterProvider(ctx, &registryv1.DeregisterProviderRequest{
			Name: "p", LeaseId: "nope"})
		wantCode(t, err, codes.NotFound, "register again")
		_, err = f.client.RenewLease(ctx, &registryv1.RenewLeaseRequest{
			Name: "other", LeaseId: reg.GetLeaseId()})
		wantCode(t, err, codes.NotFound)
	})
	t.Run("re-register replaces tools and lease", func(t *testing.T) {
		p.tools = tools("echo2")
		again := f.register(t, p, nil, time.Minute)
		if diff := cmp.Diff([]string{"p__echo2"}, exposedNames(f.listAll(t))); diff != "" {
			t.Errorf("catalogue (-want +got):\n%s", diff)
		}
		_, err := f.client.RenewLease(ctx, &registryv1.RenewLeaseRequest{
			Name: "p", LeaseId: reg.GetLeaseId()})
		wantCode(t, err, codes.NotFound, "register again")
		reg = again
	})
	t.Run("deregister", func(t *testing.T) {
		_, err := f.client.DeregisterProvider(ctx, &registryv1.DeregisterProviderRequest{
			Name: "p", LeaseId: reg.GetLeaseId()})
		if err != nil {
			t.Fatalf("deregister: %v", err)
		}
		if got := f.listAll(t); len(got) != 0 {
			t.Errorf("tools after deregistration: %v", exposedNames(got))
		}
		if got := f.providers(t); len(got) != 0 {
			t.Errorf("providers after deregistration: %v", got)
		}
		_, err = f.client.RenewLease(ctx, &registryv1.RenewLeaseRequest{
			Name: "p", LeaseId: reg.GetLeaseId()})
		wantCode(t, err, codes.NotFound, "register again")
	})
}

func TestLeaseLapse(t *testing.T) {
	f := startRegistry(t)
	short := startProvider(t, &testProvider{name: "short", tools: tools("a", "b", "c")})
	long := startProvider(t, &testProvider{name: "long", tools: tools("z")})
	reg := f.register(t, short, nil, 300*time.Millisecond)
	f.register(t, long, nil, time.Minute)
	if got := len(f.listAll(t)); got != 4 {
		t.Fatalf("catalogue has %d tools, want 4", got)
	}

	// Reads ignore the lapsed lease before any reaper removes it.
	eventually(t, "short's tools to disappear", func() bool {
		return len(f.listAll(t)) == 1
	})
	if diff := cmp.Diff([]string{"long__z"}, exposedNames(f.listAll(t))); diff != "" {
		t.Errorf("catalogue (-want +got):\n%s", diff)
	}
	if got := f.providers(t); len(got) != 1 || got[0].GetName() != "long" {
		t.Errorf("providers after lapse: %v", got)
	}
	page, err := f.client.ListTools(t.Context(), &registryv1.ListToolsRequest{PageSize: 1})
	if err != nil || len(page.GetTools()) != 1 || page.GetNextPageToken() != "" {
		t.Errorf("first page of 1 after lapse: %v, %v", page, err)
	}
	_, err = f.call(t.Context(), &registryv1.CallToolRequest{Name: "short__a"})
	wantCode(t, err, codes.NotFound, `unknown tool "short__a"`)
	_, err = f.client.RenewLease(t.Context(), &registryv1.RenewLeaseRequest{
		Name: "short", LeaseId: reg.GetLeaseId()})
	wantCode(t, err, codes.NotFound, "register again")

	// Reaping frees the keys of the lapsed provider and keeps the rest.
	if _, err := f.store.Reap(t.Context()); err != nil {
		t.Fatalf("reap: %v", err)
	}
	rdb := f.store.rdb
	counts := map[string]int64{
		"leases":    rdb.ZCard(t.Context(), f.store.keys[keyLeases]).Val(),
		"providers": rdb.HLen(t.Context(), f.store.keys[keyProviders]).Val(),
		"index":     rdb.ZCard(t.Context(), f.store.keys[keyIndex]).Val(),
		"defs":      rdb.HLen(t.Context(), f.store.keys[keyDefs]).Val(),
		"owners":    rdb.HLen(t.Context(), f.store.keys[keyOwners]).Val(),
	}
	want := map[string]int64{"leases": 1, "providers": 1, "index": 1, "defs": 1, "owners": 1}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("keys after reaping (-want +got):\n%s", diff)
	}
}

func TestReaper(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("a")})
	f.register(t, p, nil, 50*time.Millisecond)

	srv := NewServer(logging.Discard(), f.store, f.sessions, f.cfg)
	t.Cleanup(srv.Close)
	done := make(chan struct{})
	go func() { defer close(done); srv.RunReaper(t.Context(), 20*time.Millisecond) }()
	t.Cleanup(func() { <-done })
	eventually(t, "the reaper to drop the lapsed provider", func() bool {
		return f.store.rdb.HLen(t.Context(), f.store.keys[keyProviders]).Val() == 0
	})
}

func TestRevision(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("a")})
	rev := func() int64 {
		t.Helper()
		n, err := f.store.Revision(t.Context())
		if err != nil {
			t.Fatalf("revision: %v", err)
		}
		return n
	}
	r0 := rev()
	reg := f.register(t, p, nil, 0)
	r1 := rev()
	f.client.RenewLease(t.Context(), &registryv1.RenewLeaseRequest{
		Name: "p", LeaseId: reg.GetLeaseId()})
	r2 := rev()
	f.client.DeregisterProvider(t.Context(), &registryv1.DeregisterProviderRequest{
		Name: "p", LeaseId: reg.GetLeaseId()})
	r3 := rev()
	if r1 <= r0 || r2 != r1 || r3 <= r2 {
		t.Errorf("revisions %d, %d, %d, %d: want a rise on register and deregister only",
			r0, r1, r2, r3)
	}
}

func TestCollisions(t *testing.T) {
	x, none := "x", ""
	tests := []struct {
		name    string
		first   *testProvider
		prefix1 *string
		second  *testProvider
		prefix2 *string
		want    string
	}{
		{
			name:  "same prefix",
			first: &testProvider{name: "a", tools: tools("echo")}, prefix1: &x,
			second: &testProvider{name: "b", tools: tools("echo")}, prefix2: &x,
			want: `tool name "x__echo" from provider "b" (tool "echo") collides with ` +
				`"x__echo" from provider "a" (tool "echo")`,
		},
		{
			name:  "empty prefix against a prefixed name",
			first: &testProvider{name: "a", tools: tools("x__echo")}, prefix1: &none,
			second: &testProvider{name: "b", tools: tools("echo")}, prefix2: &x,
			want: `tool name "x__echo" from provider "b" (tool "echo") collides with ` +
				`"x__echo" from provider "a" (tool "x__echo")`,
		},
		{
			name:  "one clash among new tools",
			first: &testProvider{name: "a", tools: tools("echo")}, prefix1: &none,
			second: &testProvider{name: "b", tools: tools("aaa", "echo", "zzz")}, prefix2: &none,
			want: `tool name "echo" from provider "b" (tool "echo") collides with ` +
				`"echo" from provider "a" (tool "echo")`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startRegistry(t)
			f.register(t, startProvider(t, tc.first), tc.prefix1, 0)
			beforeTools, beforeProviders := f.listAll(t), f.providers(t)
			rev, _ := f.store.Revision(t.Context())

			b := startProvider(t, tc.second)
			_, err := f.client.RegisterProvider(t.Context(), regReq(b.name, b.addr, tc.prefix2, 0))
			wantCode(t, err, codes.FailedPrecondition)
			if got := status.Convert(err).Message(); got != tc.want {
				t.Errorf("message\n got %s\nwant %s", got, tc.want)
			}

			if diff := cmp.Diff(beforeTools, f.listAll(t), protocmp.Transform()); diff != "" {
				t.Errorf("tools changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(beforeProviders, f.providers(t), protocmp.Transform()); diff != "" {
				t.Errorf("providers changed (-before +after):\n%s", diff)
			}
			if after, _ := f.store.Revision(t.Context()); after != rev {
				t.Errorf("revision went from %d to %d", rev, after)
			}
		})
	}
}

func TestCollisionWithLapsedProvider(t *testing.T) {
	f := startRegistry(t)
	none := ""
	a := startProvider(t, &testProvider{name: "a", tools: tools("echo")})
	b := startProvider(t, &testProvider{name: "b", tools: tools("echo")})
	f.register(t, a, &none, 100*time.Millisecond)
	eventually(t, "a's lease to lapse", func() bool { return len(f.providers(t)) == 0 })
	f.register(t, b, &none, 0)
	got := f.listAll(t)
	if len(got) != 1 || got[0].GetProvider() != "b" {
		t.Errorf("catalogue after taking over a lapsed name: %v", got)
	}
}

func TestConcurrentRegistrations(t *testing.T) {
	f := startRegistry(t)
	x := "x"
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		p := startProvider(t, &testProvider{name: "p" + string(rune('a'+i)), tools: tools("echo")})
		wg.Go(func() {
			_, errs[i] = f.client.RegisterProvider(t.Context(), regReq(p.name, p.addr, &x, 0))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			won++
		case codes.FailedPrecondition:
		default:
			t.Errorf("registration failed: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d registrations won the name, want 1", won)
	}
	if got := f.listAll(t); len(got) != 1 {
		t.Errorf("catalogue: %v", exposedNames(got))
	}
}
