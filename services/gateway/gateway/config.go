package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/httpguard"
)

// Config holds every setting of the gateway.
type Config struct {
	// HTTPAddr is where MCP clients connect; the endpoint is /mcp.
	// Default 127.0.0.1:8080.
	HTTPAddr string
	// GRPCAddr serves gRPC health and reflection. Default 127.0.0.1:8081.
	GRPCAddr string
	// SessionAddr is the session service's gRPC target. Default
	// 127.0.0.1:7100.
	SessionAddr string
	// RegistryAddr is the registry's gRPC target. Default 127.0.0.1:7200.
	RegistryAddr string
	// MaxBodyBytes caps a POST body; larger bodies get 413 while being
	// read. Default 4 MiB.
	MaxBodyBytes int64
	// AllowedOrigins lists the Origin values accepted from browsers; a
	// request with any other Origin gets 403. "*" allows every origin.
	// Default: http(s)://localhost, 127.0.0.1 and [::1] on any port.
	AllowedOrigins []string
	// AllowedHosts lists the Host header names accepted, guarding against
	// DNS rebinding. "*" allows any. Default: localhost, 127.0.0.1 and ::1
	// when HTTPAddr is a loopback address, otherwise any.
	AllowedHosts []string
	// HeartbeatInterval is how often an idle SSE stream gets a comment so
	// that proxies keep it open. Default 15s.
	HeartbeatInterval time.Duration
	// SSERetry is the reconnection delay suggested to clients in the first
	// event of every resumable stream. Default 1s.
	SSERetry time.Duration
	// StreamToolCalls answers tools/call with a resumable SSE stream when
	// the client accepts one; the call then survives the client's
	// connection and this replica. Off, calls are answered with JSON when
	// the client accepts it, which is cheaper. Default true.
	StreamToolCalls bool
	// BackendTimeout bounds each unary call to the session service (not
	// its streams), so that a session service that hangs fails the request
	// with 503 instead of holding it. Default 10s.
	BackendTimeout time.Duration
	// StatelessCallTTL is how long a stateless tool call waits for its
	// client's next round after input_required (its hidden session's
	// lifetime between rounds), and how long a subscriptions/listen
	// stream's session outlives a replica that died. Default 10m.
	StatelessCallTTL time.Duration
	// RequestStateKey signs the requestState of input_required results
	// (2026-07-28). Every replica needs the same key. Empty still refuses
	// altered states, but lets a client re-sign a state of its own call.
	// Default empty.
	RequestStateKey string
	// ShutdownTimeout bounds the wait for in-flight requests. Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long health reports NOT_SERVING before listeners
	// close. Default 0s.
	DrainDelay time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
}

// Load declares the gateway's settings on l. Call l.Parse, then Validate.
func (c *Config) Load(l *config.Loader) {
	l.String(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "MCP listen address (endpoint /mcp)")
	l.String(&c.GRPCAddr, "grpc-addr", "127.0.0.1:8081", "gRPC listen address (health, reflection)")
	l.String(&c.SessionAddr, "session-addr", "127.0.0.1:7100", "session service gRPC target")
	l.String(&c.RegistryAddr, "registry-addr", "127.0.0.1:7200", "registry gRPC target")
	l.Int64(&c.MaxBodyBytes, "max-body-bytes", 4<<20, "largest accepted POST body in bytes")
	l.List(&c.AllowedOrigins, "allowed-origins", nil,
		"comma-separated Origin values allowed (* for any; empty means loopback origins)")
	l.List(&c.AllowedHosts, "allowed-hosts", nil,
		"comma-separated Host names allowed (* for any; empty means loopback names on a loopback address, else any)")
	l.Duration(&c.HeartbeatInterval, "heartbeat-interval", 15*time.Second, "SSE heartbeat interval")
	l.Duration(&c.SSERetry, "sse-retry", time.Second, "reconnection delay suggested to SSE clients")
	l.Bool(&c.StreamToolCalls, "stream-tool-calls", true,
		"answer tools/call with a resumable SSE stream when the client accepts one")
	l.Duration(&c.BackendTimeout, "backend-timeout", 10*time.Second,
		"limit of one unary call to the session service")
	l.Duration(&c.StatelessCallTTL, "stateless-call-ttl", 10*time.Minute,
		"how long a stateless call waits for the client's next round after input_required")
	l.String(&c.RequestStateKey, "request-state-key", "",
		"secret that signs requestState of input_required results (same on every replica)")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "grace period for in-flight requests")
	l.Duration(&c.DrainDelay, "drain-delay", 0, "time reported NOT_SERVING before listeners close")
	l.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", "text", "text or json")
}

// Validate checks the settings and fills in derived defaults.
func (c *Config) Validate() error {
	var errs []error
	for name, addr := range map[string]string{
		"http-addr": c.HTTPAddr, "grpc-addr": c.GRPCAddr,
	} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.SessionAddr == "" {
		errs = append(errs, errors.New("session-addr: must be set"))
	}
	if c.RegistryAddr == "" {
		errs = append(errs, errors.New("registry-addr: must be set"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("max-body-bytes: %d is below the minimum of 1024", c.MaxBodyBytes))
	}
	if c.SSERetry <= 0 {
		errs = append(errs, errors.New("sse-retry: must be positive"))
	}
	if c.StatelessCallTTL < time.Second {
		errs = append(errs, errors.New("stateless-call-ttl: must be at least 1s"))
	}
	if c.BackendTimeout <= 0 {
		errs = append(errs, errors.New("backend-timeout: must be positive"))
	}
	if c.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("heartbeat-interval: must be positive"))
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("allowed-origins: %q is not scheme://host[:port]", o))
		}
	}
	if len(c.AllowedHosts) == 0 {
		c.AllowedHosts = httpguard.LoopbackHosts(c.HTTPAddr)
	}
	return errors.Join(errs...)
}
