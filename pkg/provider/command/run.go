package command

import (
	"context"
	"io"

	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/provider"
)

// Run builds a provider named cfg.Name that logs to logs, lets setup add
// its catalogue, then serves it and keeps it registered until ctx ends.
// The context given to setup ends when Run returns, so that whatever
// setup starts beside the provider, such as a watcher, stops with it even
// when the provider fails before ctx ends.
func Run(ctx context.Context, cfg Config, logs io.Writer,
	setup func(ctx context.Context, p *provider.Provider)) error {
	log, err := logging.New(logs, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	p := provider.New(cfg.Name, &provider.Options{Logger: log})
	setupCtx, stop := context.WithCancel(ctx)
	defer stop()
	setup(setupCtx, p)
	return p.Run(ctx, provider.RunOptions{
		ListenAddr:      cfg.GRPCAddr,
		AdvertiseAddr:   cfg.AdvertiseAddr,
		RegistryAddr:    cfg.RegistryAddr,
		Prefix:          cfg.Prefix,
		LeaseTTL:        cfg.LeaseTTL,
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}
