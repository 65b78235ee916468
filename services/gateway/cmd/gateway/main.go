// Command gateway serves MCP clients and relays their messages to the
// session service and the registry.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/gateway/gateway"
	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
)

func main() {
	var cfg gateway.Config
	l := config.NewLoader("gateway", "SWITCHBOARD_GATEWAY_")
	cfg.Load(l)
	if err := l.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, config.ErrHelp) {
			l.Usage(os.Stdout)
			return
		}
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: invalid config: %v\n", err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gateway.Run(ctx, log, cfg); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}
