package command

import (
	"context"
	"io"
	"strings"
	"testing"

	"switchboard.dev/pkg/provider"
)

// local is a configuration that aims nothing at the default addresses,
// which the tests do not own: it listens on a free loopback port and
// registers nowhere.
func local() Config {
	c := defaultConfig(unset)
	c.GRPCAddr, c.RegistryAddr = "127.0.0.1:0", ""
	return c
}

func TestRunBadLogSettings(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"level", func(c *Config) { c.LogLevel = "loud" }, "loud"},
		{"format", func(c *Config) { c.LogFormat = "xml" }, "xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := local()
			tt.edit(&c)
			called := false
			err := Run(t.Context(), c, io.Discard, func(context.Context, *provider.Provider) {
				called = true
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error naming %q", err, tt.wantErr)
			}
			if called {
				t.Error("Run called setup despite the bad setting")
			}
		})
	}
}

// TestRunEndsSetupContext checks that what setup starts stops when Run
// returns, here because the provider cannot listen, while the caller's
// context goes on.
func TestRunEndsSetupContext(t *testing.T) {
	c := local()
	c.Name, c.GRPCAddr = "named", "127.0.0.1:-1"
	var setupCtx context.Context
	var name string
	err := Run(t.Context(), c, io.Discard, func(ctx context.Context, p *provider.Provider) {
		setupCtx, name = ctx, p.Name()
	})
	if err == nil {
		t.Fatal("Run on a bad listen address succeeded")
	}
	if name != "named" {
		t.Errorf("setup got provider %q, want named", name)
	}
	if setupCtx == nil || setupCtx.Err() == nil {
		t.Error("setup's context did not end when Run returned")
	}
	if t.Context().Err() != nil {
		t.Error("the caller's context ended")
	}
}
