// Command demo-provider serves the demo tools (echo, add, fail, weather,
// sleep) over gRPC and keeps them registered with the registry.
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
	"switchboard.dev/pkg/provider/demo"
)

// unsetPrefix stands for an unset -prefix, which means the provider's
// name; an empty -prefix exposes the tool names unchanged.
const unsetPrefix = "<name>"

// cfg is the demo provider's configuration.
type cfg struct {
	// GRPCAddr is the gRPC listen address. Default 127.0.0.1:7300.
	GRPCAddr string
	// AdvertiseAddr is the address given to the registry. Default: the
	// bound gRPC address.
	AdvertiseAddr string
	// RegistryAddr is the registry's gRPC address; empty serves without
	// registering. Default 127.0.0.1:7200.
	RegistryAddr string
	// Name is the provider name. Default demo.
	Name string
	// Prefix is the tool name prefix; nil means Name.
	Prefix *string
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
		fmt.Fprintln(os.Stderr, "demo-provider:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo-provider:", err)
		os.Exit(1)
	}
}

// parse reads the configuration from args and the environment, writing
// the usage to help when asked for it.
func parse(args []string, lookup func(string) (string, bool), help io.Writer) (cfg, error) {
	var c cfg
	var prefix string
	l := config.NewLoader("demo-provider", "SWITCHBOARD_PROVIDER_")
	l.SetLookupEnv(lookup)
	l.String(&c.GRPCAddr, "grpc-addr", "127.0.0.1:7300", "gRPC listen address")
	l.String(&c.AdvertiseAddr, "advertise-addr", "",
		"address given to the registry (empty: the bound gRPC address)")
	l.String(&c.RegistryAddr, "registry-addr", "127.0.0.1:7200",
		"registry gRPC address (empty: serve without registering)")
	l.String(&c.Name, "name", "demo", "provider name")
	l.String(&prefix, "prefix", unsetPrefix,
		"tool name prefix (<name>: the provider name; empty: no prefix)")
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
	if prefix != unsetPrefix {
		c.Prefix = &prefix
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

// run serves the demo tools until ctx ends.
func run(ctx context.Context, c cfg, logs io.Writer) error {
	log, err := logging.New(logs, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	p := provider.New(c.Name, &provider.Options{Logger: log})
	demo.AddTools(p)
	return p.Run(ctx, provider.RunOptions{
		ListenAddr:      c.GRPCAddr,
		AdvertiseAddr:   c.AdvertiseAddr,
		RegistryAddr:    c.RegistryAddr,
		Prefix:          c.Prefix,
		LeaseTTL:        c.LeaseTTL,
		DrainDelay:      c.DrainDelay,
		ShutdownTimeout: c.ShutdownTimeout,
	})
}
