package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

func defaults() cfg {
	return cfg{
		GRPCAddr:        "127.0.0.1:7300",
		RegistryAddr:    "127.0.0.1:7200",
		Name:            "conformance",
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
		name string
		args []string
		env  map[string]string
		want func(*cfg)
	}{
		{"defaults", nil, nil, func(*cfg) {}},
		{"flags", []string{
			"-grpc-addr=127.0.0.1:0", "-advertise-addr=conformance:7300", "-registry-addr=",
			"-name=conf", "-prefix=conf", "-lease-ttl=1m", "-drain-delay=2s", "-log-level=debug",
		}, nil, func(c *cfg) {
			c.GRPCAddr, c.AdvertiseAddr, c.RegistryAddr = "127.0.0.1:0", "conformance:7300", ""
			c.Name, c.Prefix, c.LeaseTTL = "conf", "conf", time.Minute
			c.DrainDelay, c.LogLevel = 2*time.Second, "debug"
		}},
		{"environment", nil, map[string]string{
			"SWITCHBOARD_PROVIDER_NAME": "env", "SWITCHBOARD_PROVIDER_PREFIX": "x",
			"SWITCHBOARD_PROVIDER_SHUTDOWN_TIMEOUT": "1s",
		}, func(c *cfg) { c.Name, c.Prefix, c.ShutdownTimeout = "env", "x", time.Second }},
		{"flag beats environment", []string{"-prefix="}, map[string]string{
			"SWITCHBOARD_PROVIDER_PREFIX": "x",
		}, func(*cfg) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args, lookup(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
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
		{"negative ttl", []string{"-lease-ttl=-1s"}, nil, "-lease-ttl"},
		{"negative drain delay", []string{"-drain-delay=-1s"}, nil, "-drain-delay"},
		{"empty listen address", []string{"-grpc-addr="}, nil, "-grpc-addr"},
		{"unknown flag", []string{"-nope"}, nil, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, lookup(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parse = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parse([]string{"-help"}, lookup(nil), &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("parse -help = %v, want ErrHelp", err)
	}
	if !strings.Contains(out.String(), "SWITCHBOARD_PROVIDER_PREFIX") {
		t.Errorf("usage does not list the settings:\n%s", out.String())
	}
}

// TestRun runs the conformance provider against a test registry, calls a
// tool at the address it registered and stops it.
func TestRun(t *testing.T) {
	reg := providertest.NewRegistry(t)
	c := defaults()
	c.GRPCAddr, c.RegistryAddr = "127.0.0.1:0", reg.Addr
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, c, io.Discard) }()

	rec := reg.Await(t, "conformance", func(r providertest.Record) bool { return r.Live })
	if rec.Prefix == nil || *rec.Prefix != "" || len(rec.Tools) != 14 || len(rec.Resources) != 3 ||
		len(rec.ResourceTemplates) != 1 || len(rec.Prompts) != 4 {
		t.Errorf("registered prefix %v with %d tools, %d resources, %d templates, %d prompts; "+
			"want empty, 14, 3, 1, 4", rec.Prefix, len(rec.Tools), len(rec.Resources),
			len(rec.ResourceTemplates), len(rec.Prompts))
	}
	conn, err := grpc.NewClient(rec.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	call, err := providertest.RunCall(t.Context(), providerv1.NewProviderServiceClient(conn),
		&providerv1.CallToolStart{Name: "test_simple_text"}, nil)
	if err != nil || !strings.Contains(call.Result.GetContentJson(), "simple text response") {
		t.Errorf("test_simple_text = %v, %v", call, err)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if rec, _ := reg.Lookup("conformance"); rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after run live=%v deregistrations=%d, want false, 1", rec.Live, rec.Deregistrations)
	}
}

func TestRunBadLogLevel(t *testing.T) {
	c := defaults()
	// Nothing may be aimed at the default addresses, which the test does
	// not own, even though the bad level stops run before it listens.
	c.GRPCAddr, c.RegistryAddr, c.LogLevel = "127.0.0.1:0", "", "loud"
	if err := run(t.Context(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "loud") {
		t.Errorf("run = %v, want a log level error", err)
	}
}
