// Command registry runs Switchboard's registry service: the catalogue of
// tools, resources and prompts that providers register, and the router of
// tool calls, reads, prompts and completions.
//
// Every setting is a flag or a SWITCHBOARD_REGISTRY_ environment
// variable; run with -h to list them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redisx"
	"switchboard.dev/registry/registry"
)

func main() {
	var cfg registry.Config
	l := config.NewLoader("registry", "SWITCHBOARD_REGISTRY_")
	cfg.Bind(l)
	if err := l.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, config.ErrHelp) {
			l.Usage(os.Stdout)
			return
		}
		fmt.Fprintf(os.Stderr, "registry: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "registry: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg registry.Config) error {
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	rdb, err := redisx.Open(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	return registry.Run(ctx, log, rdb, cfg, nil)
}
