// Package command is the common part of the provider programs: their
// settings, read from flags and SWITCHBOARD_PROVIDER_* variables, and the
// run that serves a catalogue and keeps it registered until the context
// ends. A program differs from another only in its defaults and in what
// it adds to the provider:
//
//	cfg, err := command.Parse("demo-provider", command.Defaults{Name: "demo"},
//		os.Args[1:], os.LookupEnv, os.Stdout)
//	if errors.Is(err, config.ErrHelp) { ... }
//	...
//	err = command.Run(ctx, cfg, os.Stderr, func(_ context.Context, p *provider.Provider) {
//		demo.AddTools(p)
//	})
package command

import (
	"errors"
	"fmt"
	"io"
	"time"

	"switchboard.dev/pkg/config"
)

// Config is a provider program's configuration.
type Config struct {
	// GRPCAddr is the gRPC listen address. Default 127.0.0.1:7300.
	GRPCAddr string
	// AdvertiseAddr is the address given to the registry. Default empty:
	// the bound gRPC address.
	AdvertiseAddr string
	// RegistryAddr is the registry's gRPC address; empty serves without
	// registering. Default 127.0.0.1:7200.
	RegistryAddr string
	// Name is the provider name. Default Defaults.Name.
	Name string
	// Prefix is the name prefix; nil means Name and an empty prefix
	// exposes the names unchanged. Default Defaults.Prefix.
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

// Defaults holds the defaults in which provider programs differ.
type Defaults struct {
	// Name is the default provider name.
	Name string
	// Prefix is the default name prefix. Nil leaves -prefix unset by
	// default, which means the provider's name.
	Prefix *string
}

// Parse reads the configuration of the named program from args and the
// environment, through lookup. When args ask for help it writes the
// usage to help and returns config.ErrHelp. Other errors name the flag or
// the variable at fault.
func Parse(program string, d Defaults, args []string, lookup func(string) (string, bool),
	help io.Writer) (Config, error) {
	var c Config
	l := config.NewLoader(program, "SWITCHBOARD_PROVIDER_")
	l.SetLookupEnv(lookup)
	l.String(&c.GRPCAddr, "grpc-addr", "127.0.0.1:7300", "gRPC listen address")
	l.String(&c.AdvertiseAddr, "advertise-addr", "",
		"address given to the registry (empty: the bound gRPC address)")
	l.String(&c.RegistryAddr, "registry-addr", "127.0.0.1:7200",
		"registry gRPC address (empty: serve without registering)")
	l.String(&c.Name, "name", d.Name, "provider name")
	if d.Prefix == nil {
		l.OptionalString(&c.Prefix, "prefix",
			"name prefix (unset: the provider name; empty: names exposed unchanged)")
	} else {
		c.Prefix = new(string)
		l.String(c.Prefix, "prefix", *d.Prefix, "name prefix (empty: names exposed unchanged)")
	}
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
		return Config{}, err
	}
	return c, c.check()
}

// check reports settings that cannot work, naming the flag.
func (c Config) check() error {
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
