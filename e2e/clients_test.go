package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/redisx"
	"switchboard.dev/pkg/suite"
)

// featureSuite runs two gateway replicas in front of the demo provider
// (prefix demo) and the conformance provider (no prefix). The gateways
// send a heartbeat every 200ms on idle streams and suggest a 100ms
// reconnection delay; the registry pages every list by three, so that
// listing follows cursors across replicas.
func featureSuite(t *testing.T) *suite.Suite {
	t.Helper()
	empty := ""
	return startSuiteWith(t, suite.Config{
		Gateways: 2,
		Providers: []suite.Provider{
			{Name: "demo"},
			{Name: "conformance", Bin: suite.ConformanceProviderBin, Prefix: &empty},
		},
		ExtraArgs: map[string][]string{
			suite.GatewayBin:  {"-heartbeat-interval=200ms", "-sse-retry=100ms"},
			suite.RegistryBin: {"-default-page-size=3"},
		},
	})
}

// goClient connects the official Go SDK client through w, pinned to
// protocolVersion. opts sets its handlers and capabilities; nil means
// the SDK's defaults.
func goClient(t *testing.T, w *wire, endpoint string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return goClientOf(t, w, endpoint, mcp.NewClient(
		&mcp.Implementation{Name: "switchboard-e2e-go", Version: "1.0.0"}, opts))
}

// goClientOf connects client through w.
func goClientOf(t *testing.T, w *wire, endpoint string, client *mcp.Client) *mcp.ClientSession {
	t.Helper()
	transport := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: w.client()}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	opts := &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion}
	cs, err := client.Connect(ctx, transport, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != protocolVersion {
		t.Fatalf("negotiated protocol %q, want %q", got, protocolVersion)
	}
	return cs
}

// timeout returns a context for one operation of a test.
func opCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call runs a tool and fails the test if the call fails.
func mustCall(t *testing.T, cs *mcp.ClientSession, params *mcp.CallToolParams) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(opCtx(t), params)
	if err != nil {
		t.Fatalf("call %s: %v", params.Name, err)
	}
	return res
}

// callText runs a tool and returns its text blocks, joined.
func callText(t *testing.T, cs *mcp.ClientSession, name string, args any) (string, bool) {
	t.Helper()
	res := mustCall(t, cs, &mcp.CallToolParams{Name: name, Arguments: args})
	return strings.Join(texts(res.Content), "\n"), res.IsError
}

// inbox collects what a client's handler receives, from any goroutine.
type inbox[T any] struct {
	mu    sync.Mutex
	items []T
}

func (b *inbox[T]) add(v T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items = append(b.items, v)
}

func (b *inbox[T]) all() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]T(nil), b.items...)
}

// wait polls until cond holds for what arrived, and returns it.
func (b *inbox[T]) wait(t *testing.T, what string, cond func([]T) bool) []T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		items := b.all()
		if cond(items) {
			return items
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s; got %+v", what, items)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawSession initializes a session over raw HTTP through w, declaring
// the given client capabilities, and returns its id.
func rawSession(t *testing.T, w *wire, url, capabilities string) string {
	t.Helper()
	resp := rawSend(t, w, http.MethodPost, url, "", `{"jsonrpc":"2.0","id":0,"method":"initialize",`+
		`"params":{"protocolVersion":"`+protocolVersion+`","capabilities":`+capabilities+`,`+
		`"clientInfo":{"name":"switchboard-e2e-raw","version":"1.0.0"}}}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, id)
	}
	resp = rawSend(t, w, http.MethodPost, url, id,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d, want 202", resp.StatusCode)
	}
	return id
}

// rawSend sends one request through w with the headers a client of the
// session sends, plus extra.
func rawSend(t *testing.T, w *wire, method, url, session, body string,
	extra map[string]string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(opCtx(t), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := w.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

// rawRPC posts one JSON-RPC request in the session and returns the
// messages of the answer, JSON or SSE, read to its end.
func rawRPC(t *testing.T, w *wire, url, session, body string) []rpcMessage {
	t.Helper()
	resp := rawSend(t, w, http.MethodPost, url, session, body, nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: status %d: %s", body, resp.StatusCode, b)
	}
	return readMessages(t, resp)
}

// readMessages reads a whole answer and decodes its JSON-RPC messages.
func readMessages(t *testing.T, resp *http.Response) []rpcMessage {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var m rpcMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode answer: %v: %s", err, b)
		}
		return []rpcMessage{m}
	}
	var out []rpcMessage
	for _, line := range strings.Split(string(b), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "" {
			var m rpcMessage
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatalf("decode event: %v: %s", err, data)
			}
			out = append(out, m)
		}
	}
	return out
}

// logEntry is one entry of a session's event log in Redis.
type logEntry struct {
	ID      string // SSE event id, "<stream>:<entry id>"
	Message string
	Final   bool
}

// eventLog reads what the session's event log holds for one stream.
func eventLog(t *testing.T, s *suite.Suite, session, stream string) []logEntry {
	t.Helper()
	key := redisx.Tag(s.Namespace, session) + ":events"
	msgs, err := redistest.Client(t).XRange(t.Context(), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("read event log %s: %v", key, err)
	}
	var out []logEntry
	for _, m := range msgs {
		if m.Values["s"] != stream {
			continue
		}
		msg, _ := m.Values["m"].(string)
		out = append(out, logEntry{ID: stream + ":" + m.ID, Message: msg, Final: m.Values["f"] == "1"})
	}
	return out
}

// sameJSON reports whether two JSON texts hold the same value, numbers
// compared digit for digit.
func sameJSON(a, b string) bool {
	decode := func(s string) (any, bool) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	va, ok1 := decode(a)
	vb, ok2 := decode(b)
	if !ok1 || !ok2 {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
