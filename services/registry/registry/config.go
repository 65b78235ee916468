package registry

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/httpguard"
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
	// UpstreamsFile is the YAML file that declares upstream MCP servers
	// (see upstream.File). Empty means none.
	UpstreamsFile string
	// UpstreamsReloadInterval is how often the upstreams file, and the
	// upstreams declared through the admin API, are read again. Default 2s.
	UpstreamsReloadInterval time.Duration
	// UpstreamListenAddr is where this replica serves the provider API of
	// the upstreams it runs; every bridge takes a port of its own on this
	// host, so the port is normally 0. Default 127.0.0.1:0.
	UpstreamListenAddr string
	// UpstreamAdvertiseHost is the host other registry replicas dial to
	// reach those bridges (this pod's address, or a name that resolves to
	// it). Empty means the host of UpstreamListenAddr, which must then be
	// a specific address. Default empty.
	UpstreamAdvertiseHost string
	// AdminAddr is the listen address of the admin API (gRPC and REST on
	// one port). Empty disables it. Default 127.0.0.1:7290.
	AdminAddr string
	// AdminToken, when not empty, is required of every admin request as
	// "Authorization: Bearer <token>". Required when AdminAddr is not a
	// loopback address.
	AdminToken string
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
		GRPCAddr:                "127.0.0.1:7200",
		HTTPAddr:                "127.0.0.1:7280",
		RedisURL:                "redis://127.0.0.1:6379/0",
		RedisNamespace:          "sb",
		SessionAddr:             "127.0.0.1:7100",
		DefaultLeaseTTL:         30 * time.Second,
		MaxLeaseTTL:             5 * time.Minute,
		DefaultPageSize:         100,
		MaxPageSize:             1000,
		CallTimeout:             5 * time.Minute,
		MaxTaskTTL:              time.Hour,
		TaskPollInterval:        time.Second,
		UpstreamListenAddr:      "127.0.0.1:0",
		AdminAddr:               "127.0.0.1:7290",
		LogLevel:                "info",
		UpstreamsReloadInterval: 2 * time.Second,
		LogFormat:               "text",
		ShutdownTimeout:         10 * time.Second,
		DrainDelay:              0,
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
	l.String(&c.UpstreamsFile, "upstreams-file", d.UpstreamsFile,
		"YAML file declaring upstream MCP servers (empty means none)")
	l.Duration(&c.UpstreamsReloadInterval, "upstreams-reload-interval",
		d.UpstreamsReloadInterval, "how often upstream declarations are read again")
	l.String(&c.UpstreamListenAddr, "upstream-listen-addr", d.UpstreamListenAddr,
		"listen address of the bridges to upstream MCP servers (port 0: one free port each)")
	l.String(&c.UpstreamAdvertiseHost, "upstream-advertise-host", d.UpstreamAdvertiseHost,
		"host other registry replicas dial to reach this replica's bridges (empty: the listen host)")
	l.String(&c.AdminAddr, "admin-addr", d.AdminAddr,
		"admin API listen address, gRPC and REST (empty disables it)")
	l.String(&c.AdminToken, "admin-token", d.AdminToken,
		"bearer token required by the admin API (required off loopback)")
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
	check(c.UpstreamsReloadInterval >= 10*time.Millisecond,
		"upstreams-reload-interval %s: want at least 10ms", c.UpstreamsReloadInterval)
	host, _, err := net.SplitHostPort(c.UpstreamListenAddr)
	check(err == nil, "upstream-listen-addr %q: want host:port", c.UpstreamListenAddr)
	check(err != nil || c.UpstreamAdvertiseHost != "" || (host != "" && !net.ParseIP(host).IsUnspecified()),
		"upstream-listen-addr %q listens on every interface: set upstream-advertise-host to the address other replicas dial",
		c.UpstreamListenAddr)
	// Anyone who reaches the admin API can make every replica connect to
	// any address, or with allowAdminStdio run commands: off this machine
	// it needs a token.
	check(c.AdminAddr == "" || c.AdminToken != "" || loopbackAddr(c.AdminAddr),
		"admin-addr %q: not a loopback address, so admin-token is required", c.AdminAddr)
	return errors.Join(errs...)
}

// loopbackAddr reports whether addr is host:port with a loopback host. An
// empty host listens on every interface, so it is not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && httpguard.LoopbackHost(host)
}
