package registry

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard.dev/pkg/config"
)

// Config holds every setting of the registry service. Start from
// DefaultConfig or declare the settings on a loader with Bind.
type Config struct {
	// GRPCAddr is the gRPC listen address. Default 127.0.0.1:7200.
	GRPCAddr string
	// HTTPAddr is the listen address of the REST gateway and GET /healthz.
	// Empty disables HTTP. Default 127.0.0.1:7280.
	HTTPAddr string
	// RedisURL locates the Redis that holds the catalogue.
	// Default redis://127.0.0.1:6379/0.
	RedisURL string
	// RedisNamespace prefixes every key and pub/sub channel. Default "sb".
	RedisNamespace string
	// SessionAddr is the gRPC target of the session service, where
	// streamed calls log their messages and catalogue changes are
	// broadcast. Default 127.0.0.1:7100.
	SessionAddr string
	// DefaultLeaseTTL is granted when a registration names no lease length.
	// Default 30s.
	DefaultLeaseTTL time.Duration
	// MaxLeaseTTL is the longest lease a provider may ask for; longer
	// requests are refused. Default 5m.
	MaxLeaseTTL time.Duration
	// DefaultPageSize is the page size of the catalogue lists when a
	// request names none. Default 100.
	DefaultPageSize int
	// MaxPageSize caps the page size of the catalogue lists. Default 1000.
	MaxPageSize int
	// CallTimeout bounds one routed call to a provider: a tool call, also
	// one that runs detached from its RPC, a read, a prompt or a
	// completion. Default 5m.
	CallTimeout time.Duration
	// MaxTaskTTL is the longest a task and its result are kept after the
	// task was created; a task that asks for no ttl, or a longer one,
	// gets this. Default 1h.
	MaxTaskTTL time.Duration
	// TaskPollInterval is the time between two polls of a task that the
	// registry suggests to clients. Default 1s.
	TaskPollInterval time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
	// ShutdownTimeout bounds the wait for in-flight calls at shutdown.
	// Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long health reports NOT_SERVING before the
	// listeners close. Default 0s.
	DrainDelay time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:         "127.0.0.1:7200",
		HTTPAddr:         "127.0.0.1:7280",
		RedisURL:         "redis://127.0.0.1:6379/0",
		RedisNamespace:   "sb",
		SessionAddr:      "127.0.0.1:7100",
		DefaultLeaseTTL:  30 * time.Second,
		MaxLeaseTTL:      5 * time.Minute,
		DefaultPageSize:  100,
		MaxPageSize:      1000,
		CallTimeout:      5 * time.Minute,
		MaxTaskTTL:       time.Hour,
		TaskPollInterval: time.Second,
		LogLevel:         "info",
		LogFormat:        "text",
		ShutdownTimeout:  10 * time.Second,
		DrainDelay:       0,
	}
}

// Bind declares every setting on l, with the defaults of DefaultConfig.
func (c *Config) Bind(l *config.Loader) {
	d := DefaultConfig()
	l.String(&c.GRPCAddr, "grpc-addr", d.GRPCAddr, "gRPC listen address")
	l.String(&c.HTTPAddr, "http-addr", d.HTTPAddr,
		"REST and /healthz listen address (empty disables HTTP)")
	l.String(&c.RedisURL, "redis-url", d.RedisURL, "Redis URL")
	l.String(&c.RedisNamespace, "redis-namespace", d.RedisNamespace, "Redis key namespace")
	l.String(&c.SessionAddr, "session-addr", d.SessionAddr,
		"gRPC target of the session service (dns:/// targets balance over replicas)")
	l.Duration(&c.DefaultLeaseTTL, "default-lease-ttl", d.DefaultLeaseTTL,
		"lease length when a registration names none")
	l.Duration(&c.MaxLeaseTTL, "max-lease-ttl", d.MaxLeaseTTL, "longest lease granted")
	l.Int(&c.DefaultPageSize, "default-page-size", d.DefaultPageSize,
		"list page size when a request names none")
	l.Int(&c.MaxPageSize, "max-page-size", d.MaxPageSize, "largest list page")
	l.Duration(&c.CallTimeout, "call-timeout", d.CallTimeout, "time limit of one tool call")
	l.Duration(&c.MaxTaskTTL, "max-task-ttl", d.MaxTaskTTL,
		"longest time a task and its result are kept")
	l.Duration(&c.TaskPollInterval, "task-poll-interval", d.TaskPollInterval,
		"time between task polls suggested to clients")
	l.String(&c.LogLevel, "log-level", d.LogLevel, "debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", d.LogFormat, "text or json")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout,
		"time in-flight calls get at shutdown")
	l.Duration(&c.DrainDelay, "drain-delay", d.DrainDelay,
		"time health reports NOT_SERVING before listeners close")
}

// Validate reports every invalid setting, each naming its field.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.GRPCAddr != "", "grpc-addr: required")
	check(c.RedisURL != "", "redis-url: required")
	check(c.SessionAddr != "", "session-addr: required")
	check(c.RedisNamespace != "" && !strings.ContainsAny(c.RedisNamespace, "{} \t\r\n"),
		"redis-namespace %q: want a non-empty name without braces or spaces", c.RedisNamespace)
	check(c.DefaultLeaseTTL >= time.Millisecond,
		"default-lease-ttl %s: want at least 1ms", c.DefaultLeaseTTL)
	check(c.MaxLeaseTTL >= c.DefaultLeaseTTL,
		"max-lease-ttl %s: want at least default-lease-ttl (%s)", c.MaxLeaseTTL, c.DefaultLeaseTTL)
	check(c.DefaultPageSize > 0, "default-page-size %d: want at least 1", c.DefaultPageSize)
	check(c.MaxPageSize >= c.DefaultPageSize,
		"max-page-size %d: want at least default-page-size (%d)", c.MaxPageSize, c.DefaultPageSize)
	check(c.CallTimeout > 0, "call-timeout %s: want a positive duration", c.CallTimeout)
	check(c.MaxTaskTTL >= time.Second, "max-task-ttl %s: want at least 1s", c.MaxTaskTTL)
	check(c.TaskPollInterval >= time.Millisecond,
		"task-poll-interval %s: want at least 1ms", c.TaskPollInterval)
	check(c.ShutdownTimeout > 0,
		"shutdown-timeout %s: want a positive duration", c.ShutdownTimeout)
	check(c.DrainDelay >= 0, "drain-delay %s: want zero or more", c.DrainDelay)
	return errors.Join(errs...)
}
