package command

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/config"
)

// The defaults of the two programs: the demo provider leaves the prefix
// unset, the conformance provider sets it empty.
var (
	unset = Defaults{Name: "demo"}
	empty = Defaults{Name: "conformance", Prefix: new("")}
)

// defaultConfig is what Parse returns for d with no flag or variable.
func defaultConfig(d Defaults) Config {
	return Config{
		GRPCAddr:        "127.0.0.1:7300",
		RegistryAddr:    "127.0.0.1:7200",
		Name:            d.Name,
		Prefix:          d.Prefix,
		LeaseTTL:        15 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 10 * time.Second,
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		defaults Defaults
		args     []string
		env      map[string]string
		want     func(*Config)
	}{
		{"defaults, prefix unset", unset, nil, nil, func(*Config) {}},
		{"defaults, prefix empty", empty, nil, nil, func(*Config) {}},
		{"defaults, prefix given", Defaults{Name: "n", Prefix: new("p")}, nil, nil,
			func(*Config) {}},
		{"flags", unset, []string{
			"-grpc-addr=127.0.0.1:0", "-advertise-addr=provider:7300", "-registry-addr=",
			"-name=calc", "-prefix=calc", "-lease-ttl=1m", "-drain-delay=2s",
			"-shutdown-timeout=3s", "-log-level=debug", "-log-format=json",
		}, nil, func(c *Config) {
			c.GRPCAddr, c.AdvertiseAddr, c.RegistryAddr = "127.0.0.1:0", "provider:7300", ""
			c.Name, c.Prefix, c.LeaseTTL = "calc", new("calc"), time.Minute
			c.DrainDelay, c.ShutdownTimeout = 2*time.Second, 3*time.Second
			c.LogLevel, c.LogFormat = "debug", "json"
		}},
		{"prefix flag over an empty default", empty, []string{"-prefix=conf"}, nil,
			func(c *Config) { c.Prefix = new("conf") }},
		{"environment", unset, nil, map[string]string{
			"SWITCHBOARD_PROVIDER_NAME": "env", "SWITCHBOARD_PROVIDER_PREFIX": "x",
			"SWITCHBOARD_PROVIDER_SHUTDOWN_TIMEOUT": "1s",
		}, func(c *Config) { c.Name, c.Prefix, c.ShutdownTimeout = "env", new("x"), time.Second }},
		{"empty prefix from the environment", unset, nil,
			map[string]string{"SWITCHBOARD_PROVIDER_PREFIX": ""},
			func(c *Config) { c.Prefix = new("") }},
		{"flag beats environment, prefix unset", unset, []string{"-prefix="},
			map[string]string{"SWITCHBOARD_PROVIDER_PREFIX": "x"},
			func(c *Config) { c.Prefix = new("") }},
		{"flag beats environment, prefix empty", empty, []string{"-prefix="},
			map[string]string{"SWITCHBOARD_PROVIDER_PREFIX": "x"}, func(*Config) {}},
		{"empty prefix", unset, []string{"-prefix="}, nil, func(c *Config) { c.Prefix = new("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("test", tt.defaults, tt.args, lookup(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := defaultConfig(tt.defaults)
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseDefaultsNotShared checks that a parsed prefix is the config's
// own, not the Defaults' pointer, which a program shares between parses.
func TestParseDefaultsNotShared(t *testing.T) {
	d := Defaults{Name: "n", Prefix: new("")}
	if _, err := Parse("test", d, []string{"-prefix=x"}, lookup(nil), io.Discard); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if *d.Prefix != "" {
		t.Errorf("Parse changed the default prefix to %q", *d.Prefix)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad duration", nil, map[string]string{"SWITCHBOARD_PROVIDER_LEASE_TTL": "soon"},
			"SWITCHBOARD_PROVIDER_LEASE_TTL"},
		{"bad duration flag", []string{"-drain-delay=soon"}, nil, "-drain-delay"},
		{"negative ttl", []string{"-lease-ttl=-1s"}, nil, "-lease-ttl"},
		{"negative drain delay", []string{"-drain-delay=-1s"}, nil, "-drain-delay"},
		{"negative shutdown timeout", []string{"-shutdown-timeout=-1s"}, nil, "-shutdown-timeout"},
		{"empty listen address", []string{"-grpc-addr="}, nil, "-grpc-addr"},
		{"empty listen address from the environment", nil,
			map[string]string{"SWITCHBOARD_PROVIDER_GRPC_ADDR": ""}, "-grpc-addr"},
		{"unknown flag", []string{"-nope"}, nil, "nope"},
		{"prefix without a value", []string{"-prefix"}, nil, "prefix"},
		{"stray argument", []string{"serve"}, nil, "serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test", unset, tt.args, lookup(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name     string
		defaults Defaults
		want     []string
	}{
		{"prefix unset", unset, []string{
			"Usage of test:\n",
			"  -name (env SWITCHBOARD_PROVIDER_NAME, default \"demo\")\n",
			"  -prefix (env SWITCHBOARD_PROVIDER_PREFIX, unset by default)\n" +
				"    \tname prefix (unset: the provider name; empty: names exposed unchanged)\n",
			"  -registry-addr (env SWITCHBOARD_PROVIDER_REGISTRY_ADDR, default \"127.0.0.1:7200\")\n",
		}},
		{"prefix empty", empty, []string{
			"  -name (env SWITCHBOARD_PROVIDER_NAME, default \"conformance\")\n",
			"  -prefix (env SWITCHBOARD_PROVIDER_PREFIX, default \"\")\n" +
				"    \tname prefix (empty: names exposed unchanged)\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Parse("test", tt.defaults, []string{"-help"}, lookup(nil), &out)
			if !errors.Is(err, config.ErrHelp) {
				t.Fatalf("Parse -help = %v, want ErrHelp", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("usage lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
