// Command conformance-provider serves the tools, resources and prompts
// that the official MCP conformance suite's server scenarios call, and
// keeps them registered with the registry. By default their names carry
// no prefix, so that the suite finds them under the names it expects.
//
// Settings come from flags or SWITCHBOARD_PROVIDER_* variables; run with
// -help to list them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/conformance"
)

// cfg is the conformance provider's configuration.
type cfg struct {
	// GRPCAddr is the gRPC listen address. Default 127.0.0.1:7300.
	GRPCAddr string
	// AdvertiseAddr is the address given to the registry. Default: the
	// bound gRPC address.
	AdvertiseAddr string
	// RegistryAddr is the registry's gRPC address; empty serves without
	// registering. Default 127.0.0.1:7200.
	RegistryAddr string
	// Name is the provider name. Default conformance.
	Name string
	// Prefix is the name prefix. Default empty: names are exposed
	// unchanged, as the conformance suite expects.
	Prefix string
	// LeaseTTL is the lease length asked of the registry. Default 15s.
	LeaseTTL time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
	// ShutdownTimeout bounds the wait for calls in flight. Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long health reports NOT_SERVING before the
	// listener closes. Default 0s.
	DrainDelay time.Duration
}

func main() {
	c, err := parse(os.Args[1:], os.LookupEnv, os.Stdout)
	if errors.Is(err, config.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance-provider:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-provider:", err)
		os.Exit(1)
	}
}

// parse reads the configuration from args and the environment, writing
// the usage to help when asked for it.
func parse(args []string, lookup func(string) (string, bool), help io.Writer) (cfg, error) {
	var c cfg
	l := config.NewLoader("conformance-provider", "SWITCHBOARD_PROVIDER_")
	l.SetLookupEnv(lookup)
	l.String(&c.GRPCAddr, "grpc-addr", "127.0.0.1:7300", "gRPC listen address")
	l.String(&c.AdvertiseAddr, "advertise-addr", "",
		"address given to the registry (empty: the bound gRPC address)")
	l.String(&c.RegistryAddr, "registry-addr", "127.0.0.1:7200",
		"registry gRPC address (empty: serve without registering)")
	l.String(&c.Name, "name", "conformance", "provider name")
	l.String(&c.Prefix, "prefix", "", "name prefix (empty: names exposed unchanged)")
	l.Duration(&c.LeaseTTL, "lease-ttl", 15*time.Second, "lease length asked of the registry")
	l.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", "text", "log format: text or json")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second,
		"how long calls in flight may take to finish at shutdown")
	l.Duration(&c.DrainDelay, "drain-delay", 0, "how long health reports NOT_SERVING before stopping")
	if err := l.Parse(args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			l.Usage(help)
		}
		return cfg{}, err
	}
	return c, c.check()
}

// check reports settings that cannot work, naming the flag.
func (c cfg) check() error {
	var errs []error
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("-grpc-addr is empty"))
	}
	if c.LeaseTTL < 0 {
		errs = append(errs, fmt.Errorf("-lease-ttl %v is negative", c.LeaseTTL))
	}
	if c.ShutdownTimeout < 0 || c.DrainDelay < 0 {
		errs = append(errs, errors.New("-shutdown-timeout and -drain-delay must not be negative"))
	}
	return errors.Join(errs...)
}

// run serves the conformance catalogue until ctx ends, reporting the
// watched resource as changed meanwhile, as the reference servers do.
func run(ctx context.Context, c cfg, logs io.Writer) error {
	log, err := logging.New(logs, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	p := provider.New(c.Name, &provider.Options{Logger: log})
	conformance.Add(p)
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go conformance.Watch(watchCtx, p, conformance.WatchInterval)
	return p.Run(ctx, provider.RunOptions{
		ListenAddr:      c.GRPCAddr,
		AdvertiseAddr:   c.AdvertiseAddr,
		RegistryAddr:    c.RegistryAddr,
		Prefix:          &c.Prefix,
		LeaseTTL:        c.LeaseTTL,
		DrainDelay:      c.DrainDelay,
		ShutdownTimeout: c.ShutdownTimeout,
	})
}
