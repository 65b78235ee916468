package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard.dev/pkg/redistest"
)

// launcherPorts are the default ports that switchboard-dev runs the suite
// on, besides Redis, which the test supplies.
var launcherPorts = []string{"7100", "7180", "7200", "7280", "8080", "8081", "7300"}

// TestLauncher runs the program behind `make run` on its default ports,
// talks MCP to the endpoint it prints, and stops it with Ctrl-C.
func TestLauncher(t *testing.T) {
	for _, port := range launcherPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Skipf("default port %s is taken (is `make run` running?): %v", port, err)
		}
		l.Close()
	}
	cmd := exec.Command(filepath.Join(binDir, "switchboard-dev"), "-quiet",
		"-redis-url="+redistest.URL(t), "-log-dir="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("launcher stderr:\n%s", stderr.String())
		}
	})

	endpoint := waitEndpoint(t, stdout, exited)
	if endpoint != "http://127.0.0.1:8080/mcp" {
		t.Errorf("printed endpoint %q, want http://127.0.0.1:8080/mcp", endpoint)
	}
	cs := connectGo(t, endpoint, http.DefaultTransport)
	callTools(t, cs, demoCalls[:1])
	cs.Close()

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("launcher exit after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("launcher still running 30s after Ctrl-C")
	}
	checkPortsClosed(t)
}

// waitEndpoint reads the launcher's banner until it names the endpoint.
func waitEndpoint(t *testing.T, stdout io.Reader, exited <-chan error) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "MCP endpoint (Streamable HTTP):"); ok {
				found <- strings.TrimSpace(url)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	select {
	case url := <-found:
		return url
	case err := <-exited:
		t.Fatalf("launcher exited before printing the endpoint: %v", err)
	case <-ctx.Done():
		t.Fatal("launcher printed no endpoint within 60s")
	}
	return ""
}

// checkPortsClosed fails the test if any program still holds its port
// after the launcher exited. It binds the ports rather than dialing them,
// so that it talks to nothing.
func checkPortsClosed(t *testing.T) {
	t.Helper()
	for _, port := range launcherPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Errorf("port %s still taken after the launcher exited: %v", port, err)
			continue
		}
		l.Close()
	}
}
