package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"switchboard.dev/pkg/procattr"
	"switchboard.dev/pkg/suite"
)

// The upstream mode runs the conformance suite against Switchboard
// fronting an MCP server over Streamable HTTP, instead of the conformance
// provider: the registry federates the server as an upstream, declared in
// an upstreams file, with no prefix, so that the suite finds the names it
// expects.

// upstreamReady bounds the wait for the upstream server to listen and for
// its tools to reach the catalogue.
const upstreamReady = 30 * time.Second

// startUpstream starts the MCP server bin on a free loopback port, in
// stateful mode, and returns its endpoint and a function that stops it.
func startUpstream(ctx context.Context, bin, logDir string) (string, func(), error) {
	ports, err := suite.FreePorts(1)
	if err != nil {
		return "", nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	logFile, err := os.Create(filepath.Join(logDir, "upstream.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-http", addr, "-stateless=false")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procattr.Child()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, fmt.Errorf("start upstream %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited); logFile.Close() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(upstreamReady)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr + "/mcp", stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("upstream %s exited during start-up (log: %s)", bin, logFile.Name())
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("upstream %s did not listen on %s within %s", bin, addr, upstreamReady)
		}
	}
}

// writeUpstreams declares the upstream for the registry.
func writeUpstreams(logDir, endpoint string) (string, error) {
	file := filepath.Join(logDir, "upstreams.yaml")
	body := fmt.Sprintf("upstreams:\n  - name: everything\n    prefix: \"\"\n    transport: http\n    url: %q\n", endpoint)
	return file, os.WriteFile(file, []byte(body), 0o644)
}

// waitForCatalogue polls the registry's REST face until the upstream's
// tools are in the catalogue.
func waitForCatalogue(ctx context.Context, registryHTTP string) error {
	deadline := time.Now().Add(upstreamReady)
	url := "http://" + registryHTTP + "/v1/tools"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Tools []json.RawMessage `json:"tools"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if len(body.Tools) > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the upstream's tools did not reach the catalogue within %s", upstreamReady)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
