// Package suite runs the whole Switchboard suite as real operating-system
// processes: Redis, the session service, the registry, one or more gateway
// replicas and the demo providers. The development launcher and the
// end-to-end tests share it.
//
// Every process gets loopback addresses passed as flags, writes its output
// to a log file of its own, and counts as started once its gRPC health
// service reports SERVING. Start returns when the providers' tools are in
// the registry's catalogue.
//
//	if err := suite.Build(ctx, root, binDir); err != nil { ... }
//	s, err := suite.Start(ctx, suite.Config{BinDir: binDir, Gateways: 2})
//	if err != nil { ... }
//	defer s.Stop()
//	client.Connect(s.MCPURLs()[0])
//
// Tests can kill one process and start it again on the same address:
//
//	s.Gateways[0].Kill()
//	s.Gateways[0].Start(ctx)
package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"switchboard.dev/pkg/redisx"
)

// Config describes the suite to start. Zero values mean the documented
// defaults.
type Config struct {
	// BinDir holds the binaries that Build writes. Required.
	BinDir string
	// Dir receives one log file per process (and Redis's files when the
	// suite starts Redis). Empty means a new temporary directory, removed
	// by Stop.
	Dir string
	// RedisURL is the Redis every service uses. Empty starts a private one
	// with redisx.StartLocal on 127.0.0.1:RedisPort.
	RedisURL string
	// RedisPort is the port of the private Redis. 0 picks a free one.
	RedisPort int
	// Namespace is the Redis key namespace. Empty means the services'
	// default, "sb".
	Namespace string
	// Gateways is the number of gateway replicas. Default 1.
	Gateways int
	// Providers lists the providers to run. Nil means one demo provider
	// named "demo".
	Providers []Provider
	// Ports fixes listen ports. Zero ports are picked free.
	Ports Ports
	// LogLevel and LogFormat, when set, are passed to every program.
	LogLevel, LogFormat string
	// ExtraArgs adds flags per program, keyed by binary name
	// (SessionBin, RegistryBin, GatewayBin, ProviderBin).
	ExtraArgs map[string][]string
	// ExtraEnv adds NAME=value pairs to every program's environment.
	ExtraEnv []string
	// Output, when set, receives every line that the programs write,
	// prefixed with the process name, besides the log files.
	Output io.Writer
	// Logger reports what the suite does. Nil discards.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for each process to become healthy and
	// for the providers' tools to appear. Default 30s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait for each process to exit after SIGTERM
	// before it is killed. Default 15s.
	StopTimeout time.Duration
}

// Provider describes one provider process.
type Provider struct {
	// Name registered with the registry. Required, unique.
	Name string
	// Bin is the provider's binary in BinDir. Empty means ProviderBin,
	// the demo provider.
	Bin string
	// Prefix for the provider's tools. Nil means the program's default
	// (the name); a pointer to "" exposes the tool names unprefixed.
	Prefix *string
	// Port is the gRPC listen port. 0 picks a free one.
	Port int
	// Args are extra flags for this provider.
	Args []string
}

// Ports fixes the listen ports of the suite's processes. Zero means a free
// port. The gateway ports apply to the first replica only.
type Ports struct {
	// SessionGRPC and SessionHTTP are the session service's ports.
	SessionGRPC, SessionHTTP int
	// RegistryGRPC and RegistryHTTP are the registry's ports; RegistryAdmin
	// is its admin API's (gRPC and REST).
	RegistryGRPC, RegistryHTTP, RegistryAdmin int
	// GatewayHTTP (MCP) and GatewayGRPC (health) are the first gateway's.
	GatewayHTTP, GatewayGRPC int
}

// DefaultPorts are the programs' own default ports; the development
// launcher uses them so that the documented addresses work.
func DefaultPorts() Ports {
	return Ports{
		SessionGRPC: 7100, SessionHTTP: 7180,
		RegistryGRPC: 7200, RegistryHTTP: 7280, RegistryAdmin: 7290,
		GatewayHTTP: 8080, GatewayGRPC: 8081,
	}
}

// DefaultProviderPort is the demo provider's own default gRPC port.
const DefaultProviderPort = 7300

// Suite is a running suite.
type Suite struct {
	// Dir holds the log files.
	Dir string
	// RedisURL is the Redis the services use.
	RedisURL string
	// RedisEmbedded is true when the suite started an in-process
	// Redis-compatible store because no redis-server was installed.
	RedisEmbedded bool
	// Namespace is the Redis key namespace in use.
	Namespace string

	// Session and Registry are the two stateful services.
	Session, Registry *Process
	// Gateways are the gateway replicas, named gateway-1, gateway-2, ...
	Gateways []*Process
	// Providers are the providers, named provider-<name>.
	Providers []*Process

	cfg      Config
	log      *slog.Logger
	redis    *redisx.Local
	tempDir  bool
	exits    chan *Process
	stopOnce sync.Once
	stopErr  error
}

// Start starts Redis (unless cfg.RedisURL is set) and every process, and
// waits until all are healthy and the providers' tools are listed. On
// failure it stops whatever it started.
func Start(ctx context.Context, cfg Config) (*Suite, error) {
	s, err := newSuite(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func newSuite(cfg Config) (*Suite, error) {
	cfg = withDefaults(cfg)
	if cfg.BinDir == "" {
		return nil, errors.New("suite: BinDir is required")
	}
	s := &Suite{cfg: cfg, log: cfg.Logger, Dir: cfg.Dir, RedisURL: cfg.RedisURL,
		Namespace: cfg.Namespace, exits: make(chan *Process, 16)}
	if s.Namespace == "" {
		s.Namespace = "sb"
	}
	if s.Dir == "" {
		dir, err := os.MkdirTemp("", "switchboard-")
		if err != nil {
			return nil, fmt.Errorf("create suite dir: %w", err)
		}
		s.Dir, s.tempDir = dir, true
	}
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Gateways <= 0 {
		cfg.Gateways = 1
	}
	if cfg.Providers == nil {
		cfg.Providers = []Provider{{Name: "demo"}}
	}
	if cfg.Output != nil {
		cfg.Output = &syncWriter{w: cfg.Output}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 15 * time.Second
	}
	return cfg
}

func (s *Suite) start(ctx context.Context) error {
	if err := s.startRedis(ctx); err != nil {
		return err
	}
	if err := s.plan(); err != nil {
		return err
	}
	// Session and registry need only Redis; gateways and providers need
	// the registry to answer.
	if err := startAll(ctx, []*Process{s.Session, s.Registry}); err != nil {
		return err
	}
	if err := startAll(ctx, slices.Concat(s.Gateways, s.Providers)); err != nil {
		return err
	}
	return s.waitTools(ctx, s.Providers)
}

func (s *Suite) startRedis(ctx context.Context) error {
	if s.RedisURL != "" {
		s.log.Info("using redis", "url", s.RedisURL)
		return nil
	}
	r, err := redisx.StartLocal(ctx, s.Dir, s.cfg.RedisPort)
	if err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	s.redis, s.RedisURL, s.RedisEmbedded = r, r.URL, r.Embedded
	s.log.Info("started redis", "url", r.URL, "embedded", r.Embedded)
	return nil
}

// startAll starts procs concurrently and waits for all of them.
func startAll(ctx context.Context, procs []*Process) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.Start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopAll stops procs concurrently; nil entries are skipped.
func stopAll(procs []*Process, timeout time.Duration) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		if p != nil {
			wg.Go(func() { errs[i] = p.Stop(timeout) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// MCPURLs returns the MCP endpoint of every gateway replica, in order.
func (s *Suite) MCPURLs() []string {
	urls := make([]string, len(s.Gateways))
	for i, g := range s.Gateways {
		urls[i] = "http://" + g.HTTPAddr + "/mcp"
	}
	return urls
}

// Processes lists every process in start order.
func (s *Suite) Processes() []*Process {
	return slices.Concat([]*Process{s.Session, s.Registry}, s.Gateways, s.Providers)
}

// Wait blocks until ctx is done, returning nil, or until a process exits
// without having been asked to, returning an error with its log's tail.
func (s *Suite) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case p := <-s.exits:
		return fmt.Errorf("%s exited unexpectedly: %s%s", p.Name, exitText(p.exitError()), p.tail())
	}
}

// Stop stops every process, providers first so that they deregister while
// the registry still runs, then the gateways, then the session service and
// the registry, then Redis if the suite started it. Processes
// get SIGTERM and StopTimeout to exit before they are killed. Stop returns
// the processes' exit errors; it is safe to call more than once.
func (s *Suite) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		tiers := [][]*Process{s.Providers, s.Gateways, {s.Registry, s.Session}}
		for _, tier := range tiers {
			errs = append(errs, stopAll(tier, s.cfg.StopTimeout))
		}
		if s.redis != nil {
			s.redis.Stop()
		}
		if s.tempDir {
			os.RemoveAll(s.Dir)
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
