package session

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard.dev/pkg/config"
)

// Config holds every setting of the session service. Bind declares them
// with their defaults; Validate checks them.
type Config struct {
	// GRPCAddr is the gRPC listen address. Default "127.0.0.1:7100".
	GRPCAddr string
	// HTTPAddr is the listen address of the REST face (grpc-gateway) and of
	// GET /healthz. Empty disables HTTP. Default "127.0.0.1:7180".
	HTTPAddr string
	// RedisURL names the Redis that holds the sessions.
	// Default "redis://127.0.0.1:6379/0".
	RedisURL string
	// RedisNamespace prefixes every key the service writes. Default "sb".
	RedisNamespace string
	// SessionTTL is how long a session lives after its last renewal.
	// Default 30m.
	SessionTTL time.Duration
	// EventLogMaxLen is about how many events a session's log keeps for
	// resumption (Redis trims it in whole nodes). Default 1000.
	EventLogMaxLen int
	// EventLogMaxAge is how long an event stays in a session's log for
	// resumption. Default 10m.
	EventLogMaxAge time.Duration
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string
	// LogFormat is text or json. Default "text".
	LogFormat string
	// ShutdownTimeout bounds the wait for in-flight calls at shutdown.
	// Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long health reports NOT_SERVING before the
	// listeners close. Default 0s.
	DrainDelay time.Duration
}

// EventLog returns the event-log bounds of the store.
func (c *Config) EventLog() EventLog {
	return EventLog{MaxLen: int64(c.EventLogMaxLen), MaxAge: c.EventLogMaxAge}
}

// Bind declares every setting on l and fills c with the defaults; l.Parse
// then overrides them from the environment and the command line.
func (c *Config) Bind(l *config.Loader) {
	l.String(&c.GRPCAddr, "grpc-addr", "127.0.0.1:7100", "gRPC listen address")
	l.String(&c.HTTPAddr, "http-addr", "127.0.0.1:7180",
		"REST and /healthz listen address (empty disables HTTP)")
	l.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	l.String(&c.RedisNamespace, "redis-namespace", "sb", "prefix of every Redis key")
	l.Duration(&c.SessionTTL, "session-ttl", 30*time.Minute,
		"session lifetime after its last renewal (sliding)")
	l.Int(&c.EventLogMaxLen, "event-log-max-len", DefaultEventLogMaxLen,
		"events kept per session for resumption, about (trimmed in whole stream nodes)")
	l.Duration(&c.EventLogMaxAge, "event-log-max-age", DefaultEventLogMaxAge,
		"how long an event is kept for resumption")
	l.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", "text", "log format: text or json")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second,
		"how long in-flight calls may run at shutdown")
	l.Duration(&c.DrainDelay, "drain-delay", 0,
		"how long health reports NOT_SERVING before listeners close")
}

// Validate reports every invalid setting, each error naming its flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.GRPCAddr == "" {
		bad("grpc-addr", "must not be empty")
	}
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		bad("redis-url", "%v", err)
	}
	// Braces would break the hash tag that keeps a session's keys on one
	// Redis Cluster slot.
	if c.RedisNamespace == "" || strings.ContainsAny(c.RedisNamespace, "{} \t\r\n") {
		bad("redis-namespace", "must be non-empty, without braces or spaces, got %q",
			c.RedisNamespace)
	}
	// PEXPIRE counts whole milliseconds.
	if c.SessionTTL < time.Millisecond {
		bad("session-ttl", "must be at least 1ms, got %v", c.SessionTTL)
	}
	if c.EventLogMaxLen < 1 {
		bad("event-log-max-len", "must be at least 1, got %d", c.EventLogMaxLen)
	}
	// Trimming by age counts whole milliseconds.
	if c.EventLogMaxAge < time.Millisecond {
		bad("event-log-max-age", "must be at least 1ms, got %v", c.EventLogMaxAge)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log-level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "text" && f != "json" {
		bad("log-format", "want text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive, got %v", c.ShutdownTimeout)
	}
	if c.DrainDelay < 0 {
		bad("drain-delay", "must not be negative, got %v", c.DrainDelay)
	}
	return errors.Join(errs...)
}
