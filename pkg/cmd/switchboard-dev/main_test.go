package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/suite"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestParse(t *testing.T) {
	defaults := cfg{RedisPort: 6390, LogLevel: "info", LogFormat: "text",
		ShutdownTimeout: 10 * time.Second}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want cfg
	}{
		{"defaults", nil, nil, defaults},
		{"REDIS_URL", nil, map[string]string{"REDIS_URL": "redis://127.0.0.1:7000/1"},
			with(defaults, func(c *cfg) { c.RedisURL = "redis://127.0.0.1:7000/1" })},
		{"own variable wins", nil, map[string]string{"REDIS_URL": "redis://127.0.0.1:7000/1",
			"SWITCHBOARD_DEV_REDIS_URL": "redis://127.0.0.1:7001/0"},
			with(defaults, func(c *cfg) { c.RedisURL = "redis://127.0.0.1:7001/0" })},
		{"flags", []string{"-redis-port=7777", "-quiet", "-log-level=debug", "-bin-dir=/b"}, nil,
			with(defaults, func(c *cfg) {
				c.RedisPort, c.Quiet, c.LogLevel, c.BinDir = 7777, true, "debug", "/b"
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func with(c cfg, f func(*cfg)) cfg {
	f(&c)
	return c
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"port", []string{"-redis-port=70000"}, "-redis-port"},
		{"level", []string{"-log-level=loud"}, "log level"},
		{"negative", []string{"-drain-delay=-1s"}, "-drain-delay"},
		{"argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parse(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelpListsSettings(t *testing.T) {
	var out bytes.Buffer
	_, err := parse([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("parse(-h) = %v, want ErrHelp", err)
	}
	for _, flag := range []string{"-bin-dir", "-redis-url", "-redis-port", "-quiet"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, out.String())
		}
	}
}

func TestSuiteConfig(t *testing.T) {
	c := cfg{BinDir: "/b", RedisPort: 6390, Quiet: true, LogLevel: "info", LogFormat: "text",
		ShutdownTimeout: 3 * time.Second, DrainDelay: time.Second}
	sc, err := suiteConfig(c, io.Discard, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if sc.BinDir != "/b" || sc.RedisPort != 6390 || sc.Output != nil {
		t.Errorf("suiteConfig = %+v", sc)
	}
	if diff := cmp.Diff(suite.DefaultPorts(), sc.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]suite.Provider{{Name: "demo", Port: suite.DefaultProviderPort}},
		sc.Providers); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
	want := []string{"-shutdown-timeout=3s", "-drain-delay=1s"}
	if diff := cmp.Diff(want, sc.ExtraArgs[suite.GatewayBin]); diff != "" {
		t.Errorf("gateway args (-want +got):\n%s", diff)
	}
	if sc.StopTimeout != 9*time.Second {
		t.Errorf("StopTimeout = %v, want 9s", sc.StopTimeout)
	}
}
