package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// legacyOutput is what tsclient/legacy.mjs prints.
type legacyOutput struct {
	Endpoint        string
	SessionID       string
	ProtocolVersion string
	Tools           []string
	Echo, Add, Fail tsCall
	Requests        []struct {
		Host, Method, Path string
		Status             int
	}
}

// TestLegacySSEAcrossReplicas drives the HTTP+SSE transport of 2024-11-05
// with the TypeScript SDK's SSEClientTransport: the SSE stream on one
// gateway replica, every POST on the other.
func TestLegacySSEAcrossReplicas(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the TypeScript SDK client needs it")
	}
	dir := filepath.Join(root, "e2e", "tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("the TypeScript SDK is not installed in %s: run make tsdeps", dir)
	}
	s := startSuite(t, 2)
	bases := legacyBases(s.MCPURLs())

	out := runLegacyClient(t, node, dir, bases[0]+"/sse", bases[1])
	if out.Endpoint != "/messages" {
		t.Errorf("endpoint path %q, want /messages", out.Endpoint)
	}
	if out.ProtocolVersion != protocolVersion {
		t.Errorf("negotiated protocol %q, want %q", out.ProtocolVersion, protocolVersion)
	}
	for _, want := range []string{"demo__echo", "demo__add", "demo__fail"} {
		if !slices.Contains(out.Tools, want) {
			t.Errorf("tools/list lacks %s: %q", want, out.Tools)
		}
	}
	checkTSCall(t, "echo", out.Echo, tsCall{Text: []string{"hello over sse"}})
	checkTSCall(t, "add", out.Add, tsCall{Text: []string{`{"sum":42}`},
		StructuredContent: json.RawMessage(`{"sum":42}`)})
	checkTSCall(t, "fail", out.Fail, tsCall{Text: []string{"boom"}, IsError: true})

	hosts := hosts(bases)
	for _, r := range out.Requests {
		want := map[string]string{"GET": hosts[0], "POST": hosts[1]}[r.Method]
		if r.Host != want || r.Status/100 != 2 {
			t.Errorf("request %+v: want host %s and a 2xx status", r, want)
		}
	}
	if len(out.Requests) < 2 {
		t.Errorf("requests %+v: want a GET and POSTs", out.Requests)
	}
}

// runLegacyClient runs legacy.mjs and decodes its output.
func runLegacyClient(t *testing.T, node, dir, sseURL, postBase string) legacyOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "legacy.mjs", sseURL, postBase)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node legacy.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var out legacyOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("decode client output: %v\n%s", err, stdout.String())
	}
	if out.SessionID == "" {
		t.Fatalf("no session id in client output: %s", stdout.String())
	}
	return out
}

// legacyBases turns MCP endpoint URLs into the replicas' base URLs.
func legacyBases(mcpURLs []string) []string {
	var out []string
	for _, u := range mcpURLs {
		out = append(out, strings.TrimSuffix(u, "/mcp"))
	}
	return out
}

// TestLegacySSEWire checks the transport's wire format by hand: the
// endpoint event first, then every answer as an id-less message event,
// and a session that outlives its stream.
func TestLegacySSEWire(t *testing.T) {
	s := startSuite(t, 2)
	bases := legacyBases(s.MCPURLs())

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, events := openLegacy(t, ctx, bases[0]+"/sse")
	ev := nextLegacyEvent(t, events)
	if ev.event != "endpoint" || !strings.HasPrefix(ev.data, "/messages?sessionId=") {
		t.Fatalf("first event %+v, want an endpoint event naming /messages?sessionId=", ev)
	}
	endpoint := bases[1] + ev.data

	postLegacy(t, endpoint, `{"jsonrpc":"2.0","id":"p1","method":"ping"}`, http.StatusAccepted)
	ev = nextLegacyEvent(t, events)
	if ev.event != "message" || ev.id != "" || ev.data != `{"jsonrpc":"2.0","id":"p1","result":{}}` {
		t.Errorf("answer to ping %+v, want an id-less message event with the result", ev)
	}
	postLegacy(t, endpoint, `{"jsonrpc":"2.0","id":2,"method":"no/such"}`, http.StatusAccepted)
	ev = nextLegacyEvent(t, events)
	var m struct{ Error struct{ Code int } }
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil || m.Error.Code != -32601 {
		t.Errorf("answer to an unknown method %+v, want error -32601", ev)
	}

	// Closing the stream ends nothing: the session lives on.
	stream.Body.Close()
	postLegacy(t, endpoint, `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		http.StatusAccepted)
}

// TestLegacySSEErrors checks the HTTP answers of the legacy endpoints.
func TestLegacySSEErrors(t *testing.T) {
	s := startSuite(t, 1)
	base := legacyBases(s.MCPURLs())[0]
	const ping = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	tests := []struct {
		name, method, path, body, contentType string
		status, code                          int
	}{
		{"unknown session", "POST", "/messages?sessionId=nosuchsession", ping,
			"application/json", http.StatusNotFound, -32001},
		{"missing sessionId", "POST", "/messages", ping, "application/json",
			http.StatusBadRequest, -32000},
		{"bad session id", "POST", "/messages?sessionId=%20", ping, "application/json",
			http.StatusNotFound, -32001},
		{"not JSON", "POST", "/messages?sessionId=x", "{", "application/json",
			http.StatusBadRequest, -32700},
		{"wrong content type", "POST", "/messages?sessionId=x", ping, "text/plain",
			http.StatusUnsupportedMediaType, -32000},
		{"GET messages", "GET", "/messages?sessionId=x", "", "",
			http.StatusMethodNotAllowed, -32000},
		{"DELETE sse", "DELETE", "/sse", "", "", http.StatusMethodNotAllowed, -32000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path,
				strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m struct{ Error struct{ Code int } }
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != tt.status || m.Error.Code != tt.code {
				t.Errorf("got HTTP %d code %d, want HTTP %d code %d",
					resp.StatusCode, m.Error.Code, tt.status, tt.code)
			}
		})
	}
}

// legacyEvent is one SSE event of a legacy stream.
type legacyEvent struct{ id, event, data string }

// openLegacy GETs an SSE endpoint and returns its events as they come.
func openLegacy(t *testing.T, ctx context.Context, url string) (*http.Response, <-chan legacyEvent) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	events := make(chan legacyEvent)
	go func() {
		defer close(events)
		var ev legacyEvent
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "" && ev != (legacyEvent{}) {
				select {
				case events <- ev:
				case <-ctx.Done():
					return
				}
				ev = legacyEvent{}
			}
			// Comments (": heartbeat") have an empty field name.
			name, value, _ := strings.Cut(sc.Text(), ": ")
			switch name {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				ev.data += value
			}
		}
	}()
	return resp, events
}

// nextLegacyEvent returns the next event, failing the test if the stream
// ends first.
func nextLegacyEvent(t *testing.T, events <-chan legacyEvent) legacyEvent {
	t.Helper()
	ev, ok := <-events
	if !ok {
		t.Fatal("SSE stream ended early")
	}
	return ev
}

// postLegacy POSTs one message and checks the status.
func postLegacy(t *testing.T, url, body string, status int) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Errorf("POST %s: status %d, want %d", body, resp.StatusCode, status)
	}
}
