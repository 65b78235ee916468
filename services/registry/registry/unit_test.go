package registry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/config"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no grpc addr", func(c *Config) { c.GRPCAddr = "" }, "grpc-addr"},
		{"no redis url", func(c *Config) { c.RedisURL = "" }, "redis-url"},
		{"braces in namespace", func(c *Config) { c.RedisNamespace = "a{b}" }, "redis-namespace"},
		{"zero lease", func(c *Config) { c.DefaultLeaseTTL = 0 }, "default-lease-ttl"},
		{"max below default", func(c *Config) { c.MaxLeaseTTL = time.Second }, "max-lease-ttl"},
		{"zero page", func(c *Config) { c.DefaultPageSize = 0 }, "default-page-size"},
		{"max page below default", func(c *Config) { c.MaxPageSize = 10 }, "max-page-size"},
		{"zero call timeout", func(c *Config) { c.CallTimeout = 0 }, "call-timeout"},
		{"short task ttl", func(c *Config) { c.MaxTaskTTL = time.Millisecond }, "max-task-ttl"},
		{"zero task poll", func(c *Config) { c.TaskPollInterval = 0 }, "task-poll-interval"},
		{"no session addr", func(c *Config) { c.SessionAddr = "" }, "session-addr"},
		{"zero shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown-timeout"},
		{"negative drain", func(c *Config) { c.DrainDelay = -1 }, "drain-delay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("valid config refused: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Errorf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestCursor(t *testing.T) {
	for _, name := range []string{"a", "x__echo", "é/ü tool", strings.Repeat("n", 300)} {
		got, err := decodeCursor(encodeCursor(name))
		if err != nil || got != name {
			t.Errorf("round trip of %q: %q, %v", name, got, err)
		}
	}
	if got, err := decodeCursor(""); got != "" || err != nil {
		t.Errorf("empty token: %q, %v", got, err)
	}
}

func TestIsJSONObject(t *testing.T) {
	tests := map[string]bool{
		`{}`: true, ` {"a":1} `: true, "\n{\"a\":[1]}": true,
		`[]`: false, `"{}"`: false, `{`: false, `{} {}`: false, `null`: false, ``: false,
	}
	got := make(map[string]bool, len(tests))
	for in := range tests {
		got[in] = isJSONObject(in)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("isJSONObject (-want +got):\n%s", diff)
	}
}

func TestConfigBind(t *testing.T) {
	env := map[string]string{
		"SWITCHBOARD_REGISTRY_CALL_TIMEOUT":  "1m",
		"SWITCHBOARD_REGISTRY_MAX_PAGE_SIZE": "50",
		"SWITCHBOARD_REGISTRY_SESSION_ADDR":  "dns:///sessions:7100",
	}
	var cfg Config
	l := config.NewLoader("registry", "SWITCHBOARD_REGISTRY_")
	l.SetLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(l)
	if err := l.Parse([]string{"-grpc-addr", "127.0.0.1:0", "-default-page-size", "5"}); err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := DefaultConfig()
	want.GRPCAddr, want.CallTimeout = "127.0.0.1:0", time.Minute
	want.DefaultPageSize, want.MaxPageSize = 5, 50
	want.SessionAddr = "dns:///sessions:7100"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestRequestKey(t *testing.T) {
	same := [][]string{{`"a"`, ` "a" `, `"\u0061"`}, {`7`, ` 7`}}
	for _, group := range same {
		want, err := requestKey(group[0])
		for _, raw := range group[1:] {
			if got, err2 := requestKey(raw); err != nil || err2 != nil || got != want {
				t.Errorf("requestKey(%s) = %q, %v; want %q", raw, got, err2, want)
			}
		}
	}
	if a, b := mustKey(t, `"7"`), mustKey(t, `7`); a == b {
		t.Errorf("string and number ids share the key %q", a)
	}
	for _, bad := range []string{``, `{}`, `[1]`, `null`, `1 2`, `"a`} {
		if _, err := requestKey(bad); err == nil {
			t.Errorf("requestKey(%s) succeeded", bad)
		}
	}
}

func mustKey(t *testing.T, raw string) string {
	t.Helper()
	k, err := requestKey(raw)
	if err != nil {
		t.Fatalf("requestKey(%s): %v", raw, err)
	}
	return k
}

func TestLogPasses(t *testing.T) {
	tests := []struct {
		min, params string
		want        bool
	}{
		{"", `{"level":"debug"}`, true},
		{"info", `{"level":"debug"}`, false},
		{"info", `{"level":"info"}`, true},
		{"warning", `{"level":"notice"}`, false},
		{"warning", `{"level":"emergency"}`, true},
		{"error", `{"level":"unheard-of"}`, true},
		{"bogus", `{"level":"debug"}`, true},
	}
	for _, tc := range tests {
		if got := logPasses(tc.min, tc.params); got != tc.want {
			t.Errorf("logPasses(%q, %s) = %v, want %v", tc.min, tc.params, got, tc.want)
		}
	}
}

func TestRelayLagging(t *testing.T) {
	r := newRelay()
	for range relayQueue + 1 {
		r.send(&registryv1.CallToolResponse{})
	}
	err := r.serve(t.Context(), func(*registryv1.CallToolResponse) error { return nil })
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("serve of a lagging relay: %v, want ErrUnavailable", err)
	}
	r.send(&registryv1.CallToolResponse{}) // After serve: dropped, not blocked.
}
