package provider_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func toolNames(tools []*providerv1.Tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.GetName())
	}
	return names
}

func TestRunKeepsLease(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := testProvider(t)
	empty := ""
	addr, stop := run(t, p, provider.RunOptions{
		ListenAddr:   "127.0.0.1:0",
		RegistryAddr: reg.Addr,
		Prefix:       &empty,
		LeaseTTL:     600 * time.Millisecond,
	})

	// Registered with the bound address, then renewed before the lease
	// lapses.
	rec := reg.Await(t, "test", func(r providertest.Record) bool { return r.Live && r.Renewals >= 2 })
	if rec.Registrations != 1 {
		t.Errorf("registrations = %d, want 1 (renewals should have kept the lease)", rec.Registrations)
	}
	ttl := 600 * time.Millisecond
	if rec.Address != addr || rec.Prefix == nil || *rec.Prefix != "" || rec.LeaseTTL != ttl {
		t.Errorf("registered %q prefix %v ttl %v, want %q, empty prefix, 600ms",
			rec.Address, rec.Prefix, rec.LeaseTTL, addr)
	}
	want := []string{"broken", "count", "fails", "kind", "nilptr", "panics", "raw", "refuses", "sum"}
	if diff := cmp.Diff(want, toolNames(rec.Tools)); diff != "" {
		t.Errorf("catalogue read by the registry (-want +got):\n%s", diff)
	}

	// A lease the registry forgot is replaced by a new registration.
	reg.Expire("test")
	reg.Await(t, "test", func(r providertest.Record) bool {
		return r.Live && r.Registrations > rec.Registrations
	})

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec, _ = reg.Lookup("test")
	if rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after shutdown live=%v deregistrations=%d, want false, 1",
			rec.Live, rec.Deregistrations)
	}
}

func TestRunRetriesRegistration(t *testing.T) {
	reg := providertest.NewRegistry(t)
	reg.FailRegistrations(3)
	_, stop := run(t, testProvider(t), provider.RunOptions{
		ListenAddr:   "127.0.0.1:0",
		RegistryAddr: reg.Addr,
	})
	rec := reg.Await(t, "test", func(r providertest.Record) bool { return r.Live })
	if rec.Prefix != nil || rec.LeaseTTL != providertest.DefaultLeaseTTL {
		t.Errorf("prefix %v ttl %v, want unset and the registry's default", rec.Prefix, rec.LeaseTTL)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRunAdvertiseAddr(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := testProvider(t)
	// The advertised address is served by another server, as behind a
	// proxy; the registry must dial that one.
	advertised := serveAddr(t, p)
	addr, stop := run(t, p, provider.RunOptions{
		ListenAddr:    "127.0.0.1:0",
		AdvertiseAddr: advertised,
		RegistryAddr:  reg.Addr,
	})
	rec := reg.Await(t, "test", func(r providertest.Record) bool { return r.Live })
	if rec.Address != advertised || rec.Address == addr {
		t.Errorf("registered address %q, want %q (bound %q)", rec.Address, advertised, addr)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRunWithoutRegistry(t *testing.T) {
	addr, stop := run(t, testProvider(t), provider.RunOptions{ListenAddr: "127.0.0.1:0"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	for _, svc := range []string{"", "test"} {
		req := &healthpb.HealthCheckRequest{Service: svc}
		resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), req)
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
	res, err := call(t, providerv1.NewProviderServiceClient(conn), start("sum", `{"a":1,"b":1}`))
	if err != nil || res.GetStructuredContentJson() != `{"sum":2}` {
		t.Errorf("sum = %v, %v; want {\"sum\":2}", res, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunDrains checks the shutdown order: the provider deregisters while
// it still serves, and a call in flight then runs to completion.
func TestRunDrains(t *testing.T) {
	reg := providertest.NewRegistry(t)
	started, release := make(chan struct{}), make(chan struct{})
	p := provider.New("slow", nil)
	provider.AddFunc(p, "wait", "Waits.", func(context.Context, struct{}) (string, error) {
		close(started)
		<-release
		return "done", nil
	})
	addr, stop := run(t, p, provider.RunOptions{ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr})
	reg.Await(t, "slow", func(r providertest.Record) bool { return r.Live })

	stream, err := dial(t, addr).CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if err := stream.Send(start("wait", `{}`)); err != nil {
		t.Fatalf("send: %v", err)
	}
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	reg.Await(t, "slow", func(r providertest.Record) bool { return r.Deregistrations == 1 })
	close(release)

	resp, err := stream.Recv()
	if err != nil || resp.GetResult().GetContentJson() != text("done") {
		t.Errorf("call in flight = %v, %v; want done", resp, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestAnnounce(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := testProvider(t)
	addr := serveAddr(t, p)
	conn, err := grpc.NewClient(reg.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial registry: %v", err)
	}
	defer conn.Close()
	client := registryv1.NewRegistryServiceClient(conn)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- p.Announce(ctx, client, provider.Registration{Address: addr}) }()
	reg.Await(t, "test", func(r providertest.Record) bool { return r.Live && r.Address == addr })
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Announce: %v", err)
	}
	if rec, _ := reg.Lookup("test"); rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after Announce live=%v deregistrations=%d, want false, 1",
			rec.Live, rec.Deregistrations)
	}
}

func TestRunErrors(t *testing.T) {
	reg := providertest.NewRegistry(t)
	tests := []struct {
		name    string
		pname   string
		opts    provider.RunOptions
		wantErr string
	}{
		{"no listen address", "test", provider.RunOptions{}, "listen address"},
		{"bad listen address", "test", provider.RunOptions{ListenAddr: "127.0.0.1:-1"}, "listen"},
		{"bad provider name", "no spaces", provider.RunOptions{
			ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr,
		}, "provider name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provider.New(tt.pname, nil).Run(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if _, ok := reg.Lookup("no spaces"); ok {
		t.Error("a provider with a bad name reached the registry")
	}
}
