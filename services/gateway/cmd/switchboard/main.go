// Command switchboard holds Switchboard's client-side tools. Its one
// subcommand, stdio, lets an MCP client that can only spawn a command
// (desktop clients) use a Switchboard gateway:
//
//	switchboard stdio -url http://127.0.0.1:8080/mcp
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/gateway/stdio"
	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
)

const usage = `Usage: switchboard <command> [flags]

Commands:
  stdio    relay MCP over stdin and stdout to a gateway's HTTP endpoint

Run "switchboard <command> -h" for the command's settings.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "stdio":
		os.Exit(runStdio(os.Args[2:]))
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		fmt.Fprintf(os.Stderr, "switchboard: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

// runStdio runs the stdio bridge and returns the exit code. Stdout
// carries MCP messages only: help goes there on request, as with every
// Switchboard program, and everything else goes to stderr.
func runStdio(args []string) int {
	var cfg stdio.Config
	l := config.NewLoader("switchboard stdio", "SWITCHBOARD_STDIO_")
	cfg.Load(l)
	if err := cfg.Parse(l, args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			l.Usage(os.Stdout)
			return 0
		}
		return fail("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return fail("invalid config: %v", err)
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := stdio.Run(ctx, log, cfg, os.Stdin, os.Stdout); err != nil {
		log.Error("bridge failed", "err", err)
		return 1
	}
	return 0
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "switchboard stdio: "+format+"\n", args...)
	return 2
}
