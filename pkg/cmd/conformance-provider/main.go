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

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/command"
	"switchboard.dev/pkg/provider/conformance"
)

// defaults sets an empty prefix: the suite calls the names unprefixed.
var defaults = command.Defaults{Name: "conformance", Prefix: new("")}

func main() {
	cfg, err := command.Parse("conformance-provider", defaults, os.Args[1:], os.LookupEnv,
		os.Stdout)
	if errors.Is(err, config.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance-provider:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-provider:", err)
		os.Exit(1)
	}
}

// run serves the conformance catalogue until ctx ends, reporting the
// watched resource as changed meanwhile, as the reference servers do.
func run(ctx context.Context, cfg command.Config, logs io.Writer) error {
	return command.Run(ctx, cfg, logs, func(ctx context.Context, p *provider.Provider) {
		conformance.Add(p)
		// ctx ends when command.Run returns, which stops the watcher.
		go conformance.Watch(ctx, p, conformance.WatchInterval)
	})
}
