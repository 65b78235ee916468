package provider_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
)

func TestNotifyResourceUpdated(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := catalogue(t)
	ctx := t.Context()
	err := p.NotifyResourceUpdated(ctx, "test://text")
	if !errors.Is(err, provider.ErrNotRegistered) {
		t.Errorf("before registering: %v, want ErrNotRegistered", err)
	}

	_, stop := run(t, p, provider.RunOptions{
		ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr, LeaseTTL: 300 * time.Millisecond,
	})
	// The provider learns of its lease a moment after the registry grants
	// it; until then it is not registered.
	reg.Await(t, "test", func(r providertest.Record) bool {
		return r.Live && p.NotifyResourceUpdated(ctx, "test://text") == nil
	})
	if err := p.NotifyResourceUpdated(ctx, "test://items/7"); err != nil {
		t.Fatalf("notify: %v", err)
	}
	rec, _ := reg.Lookup("test")
	if diff := cmp.Diff([]string{"test://text", "test://items/7"}, rec.Updated); diff != "" {
		t.Errorf("updates seen by the registry (-want +got):\n%s", diff)
	}

	// A lease the registry forgot is refused until the provider registers
	// again, after which notifications flow once more.
	reg.Expire("test")
	if err := p.NotifyResourceUpdated(ctx, "test://text"); status.Code(err) != codes.NotFound {
		t.Errorf("with a forgotten lease: %v, want NotFound", err)
	}
	reg.Await(t, "test", func(r providertest.Record) bool { return r.Live && r.Registrations == 2 })
	reg.Await(t, "test", func(providertest.Record) bool {
		return p.NotifyResourceUpdated(ctx, "test://blob") == nil
	})

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	err = p.NotifyResourceUpdated(ctx, "test://text")
	if !errors.Is(err, provider.ErrNotRegistered) {
		t.Errorf("after shutdown: %v, want ErrNotRegistered", err)
	}
}
