package session_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/config"
	"switchboard.dev/session"
)

func TestConfigLoad(t *testing.T) {
	defaults := session.Config{
		GRPCAddr:        "127.0.0.1:7100",
		HTTPAddr:        "127.0.0.1:7180",
		RedisURL:        "redis://127.0.0.1:6379/0",
		RedisNamespace:  "sb",
		SessionTTL:      30 * time.Minute,
		EventLogMaxLen:  1000,
		EventLogMaxAge:  10 * time.Minute,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 10 * time.Second,
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want func(c *session.Config)
	}{
		{"defaults", nil, nil, func(*session.Config) {}},
		{"env", map[string]string{
			"SWITCHBOARD_SESSION_SESSION_TTL":       "90s",
			"SWITCHBOARD_SESSION_REDIS_NAMESPACE":   "prod",
			"SWITCHBOARD_SESSION_EVENT_LOG_MAX_LEN": "50",
			"SWITCHBOARD_SESSION_EVENT_LOG_MAX_AGE": "1h",
		}, nil, func(c *session.Config) {
			c.SessionTTL, c.RedisNamespace = 90*time.Second, "prod"
			c.EventLogMaxLen, c.EventLogMaxAge = 50, time.Hour
		}},
		{"flag beats env", map[string]string{"SWITCHBOARD_SESSION_GRPC_ADDR": ":1"},
			[]string{"-grpc-addr", ":2", "-drain-delay", "3s", "-http-addr="},
			func(c *session.Config) {
				c.GRPCAddr, c.DrainDelay, c.HTTPAddr = ":2", 3*time.Second, ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got session.Config
			l := config.NewLoader("session", "SWITCHBOARD_SESSION_")
			l.SetLookupEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			got.Bind(l)
			if err := l.Parse(tt.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *session.Config)
		field string // the flag the error must name
	}{
		{"grpc-addr", func(c *session.Config) { c.GRPCAddr = "" }, "grpc-addr"},
		{"redis-url", func(c *session.Config) { c.RedisURL = "http://x" }, "redis-url"},
		{"namespace empty", func(c *session.Config) { c.RedisNamespace = "" }, "redis-namespace"},
		{"namespace brace", func(c *session.Config) { c.RedisNamespace = "a{" }, "redis-namespace"},
		{"ttl", func(c *session.Config) { c.SessionTTL = 0 }, "session-ttl"},
		{"event-log-max-len", func(c *session.Config) { c.EventLogMaxLen = 0 },
			"event-log-max-len"},
		{"event-log-max-age", func(c *session.Config) { c.EventLogMaxAge = time.Microsecond },
			"event-log-max-age"},
		{"log-level", func(c *session.Config) { c.LogLevel = "loud" }, "log-level"},
		{"log-format", func(c *session.Config) { c.LogFormat = "xml" }, "log-format"},
		{"shutdown-timeout", func(c *session.Config) { c.ShutdownTimeout = 0 }, "shutdown-timeout"},
		{"drain-delay", func(c *session.Config) { c.DrainDelay = -time.Second }, "drain-delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c session.Config
			c.Bind(config.NewLoader("session", "SWITCHBOARD_SESSION_"))
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}
