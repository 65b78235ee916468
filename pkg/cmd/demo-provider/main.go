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

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/command"
	"switchboard.dev/pkg/provider/demo"
)

// defaults leaves -prefix unset, so that the tools are published under
// the provider's name.
var defaults = command.Defaults{Name: "demo"}

func main() {
	cfg, err := command.Parse("demo-provider", defaults, os.Args[1:], os.LookupEnv, os.Stdout)
	if errors.Is(err, config.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-provider:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo-provider:", err)
		os.Exit(1)
	}
}

// run serves the demo tools until ctx ends.
func run(ctx context.Context, cfg command.Config, logs io.Writer) error {
	return command.Run(ctx, cfg, logs, func(_ context.Context, p *provider.Provider) {
		demo.AddTools(p)
	})
}
