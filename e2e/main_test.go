package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/suite"
)

// Set by TestMain: the repository root and the freshly built programs.
var (
	root   string
	binDir string
)

// TestMain builds the programs once for every test in the binary.
func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	var err error
	if root, err = suite.FindRoot("."); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp("", "switchboard-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	binDir = filepath.Join(tmp, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := suite.Build(ctx, root, binDir); err != nil {
		return 0, err
	}
	defer redistest.Stop()
	return m.Run(), nil
}

// startSuite runs the whole suite with the given number of gateway
// replicas, on the test Redis under a namespace of the test's own.
func startSuite(t *testing.T, gateways int) *suite.Suite {
	t.Helper()
	return startSuiteWith(t, suite.Config{Gateways: gateways})
}

// startSuiteWith runs the suite that cfg describes, with the built
// programs and debug logs, on the test Redis under a namespace of the
// test's own.
func startSuiteWith(t *testing.T, cfg suite.Config) *suite.Suite {
	t.Helper()
	cfg.BinDir, cfg.Dir = binDir, t.TempDir()
	cfg.RedisURL, cfg.Namespace = redistest.URL(t), redistest.Namespace(t)
	cfg.LogLevel = "debug"
	s, err := suite.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start suite: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range s.Processes() {
				t.Logf("--- %s log (last lines) ---\n%s", p.Name, p.Tail(40))
			}
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop suite: %v", err)
		}
	})
	return s
}

// spreader is an http.RoundTripper that sends each request to the next
// gateway replica in turn, whatever URL the client asked for, so that the
// requests of one MCP session reach every replica.
type spreader struct {
	hosts []string // host:port of each replica
	base  http.RoundTripper

	mu       sync.Mutex
	n        int
	requests []sent
}

// sent records one request that the spreader forwarded.
type sent struct {
	Host        string
	Method      string
	SessionID   string
	LastEventID string
	Status      int
}

func newSpreader(t *testing.T, mcpURLs []string) *spreader {
	t.Helper()
	sp := &spreader{hosts: hosts(mcpURLs), base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(sp.base.(*http.Transport).CloseIdleConnections)
	return sp
}

// hosts returns the host:port of each URL.
func hosts(urls []string) []string {
	var out []string
	for _, u := range urls {
		host, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "/")
		out = append(out, host)
	}
	return out
}

func (sp *spreader) RoundTrip(req *http.Request) (*http.Response, error) {
	sp.mu.Lock()
	host := sp.hosts[sp.n%len(sp.hosts)]
	sp.n++
	sp.mu.Unlock()

	out := req.Clone(req.Context())
	out.URL.Host, out.Host = host, host
	resp, err := sp.base.RoundTrip(out)
	rec := sent{Host: host, Method: req.Method, SessionID: req.Header.Get("Mcp-Session-Id"),
		LastEventID: req.Header.Get("Last-Event-ID")}
	if err == nil {
		rec.Status = resp.StatusCode
	}
	sp.mu.Lock()
	sp.requests = append(sp.requests, rec)
	sp.mu.Unlock()
	return resp, err
}

// sent returns the requests forwarded so far.
func (sp *spreader) sent() []sent {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]sent(nil), sp.requests...)
}

// checkSpread fails the test unless every replica answered at least one
// request that carried sessionID.
func checkSpread(t *testing.T, sp *spreader, sessionID string) {
	t.Helper()
	served := map[string]int{}
	for _, r := range sp.sent() {
		if r.SessionID == sessionID && r.Status/100 == 2 {
			served[r.Host]++
		}
	}
	for _, h := range sp.hosts {
		if served[h] == 0 {
			t.Errorf("replica %s served no request of session %s; requests: %+v",
				h, sessionID, sp.sent())
		}
	}
}

// checkSessionGone fails the test unless every gateway answers a request
// of the ended session with 404 Not Found (2025-11-25, Transports,
// Session Management).
func checkSessionGone(t *testing.T, mcpURLs []string, sessionID string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, u := range mcpURLs {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", protocolVersion)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s after the session ended: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s with ended session: status %d, want 404", u, resp.StatusCode)
		}
	}
}

// protocolVersion is the MCP revision the clients pin.
const protocolVersion = "2025-11-25"
