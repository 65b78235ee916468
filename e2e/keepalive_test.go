package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard.dev/pkg/suite"
)

// TestOpenStreamKeepsSession checks that a client that only listens on
// its GET stream keeps its session past the session TTL: the gateway
// holding the stream renews it.
func TestOpenStreamKeepsSession(t *testing.T) {
	const ttl = 2 * time.Second
	s := startSuiteWith(t, suite.Config{ExtraArgs: map[string][]string{
		suite.SessionBin: {"-session-ttl=" + ttl.String()},
		suite.GatewayBin: {"-heartbeat-interval=200ms"},
	}})
	url := s.MCPURLs()[0]
	listening := initSession(t, url, protocolVersion)
	idle := initSession(t, url, protocolVersion)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", listening)
	req.Header.Set("MCP-Protocol-Version", protocolVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET: status %d", resp.StatusCode)
	}

	// Read the stream (heartbeats) for twice the TTL: the idle session
	// expires meanwhile, the listening one must not.
	lines := bufio.NewScanner(resp.Body)
	deadline := time.Now().Add(2 * ttl)
	for time.Now().Before(deadline) && lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data:") && strings.Contains(lines.Text(), "error") {
			t.Fatalf("stream carried an error: %s", lines.Text())
		}
	}
	if got := pingStatus(t, url, listening); got != 200 {
		t.Errorf("listening session: ping status %d, want 200", got)
	}
	if got := pingStatus(t, url, idle); got != 404 {
		t.Errorf("idle session: ping status %d, want 404 after its TTL", got)
	}
}

func pingStatus(t *testing.T, url, session string) int {
	t.Helper()
	resp := rawPost(t, url, session, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	resp.Body.Close()
	return resp.StatusCode
}
