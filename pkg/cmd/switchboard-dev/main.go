// Command switchboard-dev runs the whole Switchboard suite on one machine
// for development: Redis, the session service, the registry, a gateway and
// the demo provider, each on its default port, each as its own process.
// It prints the MCP endpoint and runs until Ctrl-C, then stops every
// program in order.
//
// It looks for the programs next to its own binary (make build puts them
// all in bin/). Run with -help to list the settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/suite"
)

// cfg is the launcher's configuration.
type cfg struct {
	// BinDir holds the programs. Default: the launcher's own directory.
	BinDir string
	// LogDir receives one log file per program. Default: a temporary
	// directory, removed at exit.
	LogDir string
	// RedisURL is an existing Redis to use. Default: $REDIS_URL; empty
	// starts a private Redis on RedisPort.
	RedisURL string
	// RedisPort is the private Redis's port. Default 6390, so that a Redis
	// already on 6379 is never touched.
	RedisPort int
	// Quiet stops copying the programs' output to the terminal.
	Quiet bool
	// LogLevel is debug, info, warn or error, for every program.
	LogLevel string
	// LogFormat is text or json, for every program.
	LogFormat string
	// ShutdownTimeout is each program's grace period for in-flight work.
	ShutdownTimeout time.Duration
	// DrainDelay is how long each program reports NOT_SERVING before it
	// stops listening.
	DrainDelay time.Duration
}

func main() {
	c, err := parse(os.Args[1:], os.LookupEnv, os.Stdout)
	if errors.Is(err, config.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-dev:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-dev:", err)
		os.Exit(1)
	}
}

// parse reads the configuration from args and the environment, writing
// the usage to help when asked for it.
func parse(args []string, lookup func(string) (string, bool), help io.Writer) (cfg, error) {
	var c cfg
	redisURL, _ := lookup("REDIS_URL")
	l := config.NewLoader("switchboard-dev", "SWITCHBOARD_DEV_")
	l.SetLookupEnv(lookup)
	l.String(&c.BinDir, "bin-dir", "", "directory of the programs (empty: the launcher's own)")
	l.String(&c.LogDir, "log-dir", "",
		"directory for one log file per program (empty: a temporary one, removed at exit)")
	l.String(&c.RedisURL, "redis-url", redisURL,
		"Redis to use (default: $REDIS_URL; empty: start a private one on -redis-port)")
	l.Int(&c.RedisPort, "redis-port", 6390, "port of the private Redis")
	l.Bool(&c.Quiet, "quiet", false, "do not copy the programs' output to the terminal")
	l.String(&c.LogLevel, "log-level", "info",
		"log level of every program: debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", "text", "log format of every program: text or json")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second,
		"each program's grace period for in-flight work at shutdown")
	l.Duration(&c.DrainDelay, "drain-delay", 0,
		"how long each program reports NOT_SERVING before it stops listening")
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
	if c.RedisPort < 0 || c.RedisPort > 65535 {
		errs = append(errs, fmt.Errorf("-redis-port %d is out of range", c.RedisPort))
	}
	if c.ShutdownTimeout < 0 || c.DrainDelay < 0 {
		errs = append(errs, errors.New("-shutdown-timeout and -drain-delay must not be negative"))
	}
	if _, err := logging.New(io.Discard, c.LogLevel, c.LogFormat); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// run starts the suite, prints where to connect and waits for ctx to end
// or for a program to fail.
func run(ctx context.Context, c cfg, stdout, stderr io.Writer) error {
	log, err := logging.New(stderr, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	sc, err := suiteConfig(c, stderr, log)
	if err != nil {
		return err
	}
	s, err := suite.Start(ctx, sc)
	if err != nil {
		return fmt.Errorf("start suite: %w", err)
	}
	log.Info("redis", "url", s.RedisURL, "mode", redisMode(c, s))
	printBanner(stdout, s, redisMode(c, s))

	waitErr := s.Wait(ctx)
	log.Info("stopping")
	stopErr := s.Stop()
	if waitErr != nil {
		return waitErr
	}
	if stopErr != nil {
		return fmt.Errorf("stop: %w", stopErr)
	}
	log.Info("stopped")
	return nil
}

// suiteConfig turns the launcher's settings into the suite's.
func suiteConfig(c cfg, stderr io.Writer, log *slog.Logger) (suite.Config, error) {
	bin := c.BinDir
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return suite.Config{}, fmt.Errorf("find bin dir: %w", err)
		}
		bin = filepath.Dir(exe)
	}
	common := []string{
		"-shutdown-timeout=" + c.ShutdownTimeout.String(),
		"-drain-delay=" + c.DrainDelay.String(),
	}
	sc := suite.Config{
		BinDir:    bin,
		Dir:       c.LogDir,
		RedisURL:  c.RedisURL,
		RedisPort: c.RedisPort,
		Ports:     suite.DefaultPorts(),
		Providers: []suite.Provider{{Name: "demo", Port: suite.DefaultProviderPort}},
		LogLevel:  c.LogLevel,
		LogFormat: c.LogFormat,
		ExtraArgs: map[string][]string{
			suite.SessionBin: common, suite.RegistryBin: common,
			suite.GatewayBin: common, suite.ProviderBin: common,
		},
		Logger: log,
		// A program gets its own grace period and drain delay, and a
		// little more, before it is killed.
		StopTimeout: c.ShutdownTimeout + c.DrainDelay + 5*time.Second,
	}
	if !c.Quiet {
		sc.Output = stderr
	}
	if c.LogDir != "" {
		if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
			return suite.Config{}, fmt.Errorf("create log dir: %w", err)
		}
	}
	return sc, nil
}

func redisMode(c cfg, s *suite.Suite) string {
	switch {
	case c.RedisURL != "":
		return "external"
	case s.RedisEmbedded:
		return "embedded (in-process, no redis-server found)"
	default:
		return "private redis-server"
	}
}

// printBanner tells the user where to connect.
func printBanner(w io.Writer, s *suite.Suite, redis string) {
	fmt.Fprintf(w, `
Switchboard is running.

  MCP endpoint (Streamable HTTP): %s
  Redis:                          %s (%s)
  Logs:                           %s

Connect the MCP Inspector with:
  npx @modelcontextprotocol/inspector
then pick transport "Streamable HTTP" and enter the endpoint above.
Press Ctrl-C to stop.

`, s.MCPURLs()[0], s.RedisURL, redis, s.Dir)
}
