package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEndpointEvent(t *testing.T) {
	tests := []struct {
		name, sessionID, want string
	}{
		{"plain id", "AbC-_123", "event: endpoint\ndata: /messages?sessionId=AbC-_123\n\n"},
		{"id escaped", "a b&c=d", "event: endpoint\ndata: /messages?sessionId=a+b%26c%3Dd\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s, err := startSSE(rec)
			if err != nil {
				t.Fatalf("startSSE: %v", err)
			}
			if err := writeEndpoint(s, endpointURI(tt.sessionID)); err != nil {
				t.Fatalf("writeEndpoint: %v", err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("stream = %q, want %q", got, tt.want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
		})
	}
}

// TestLegacyRefusals covers the requests the legacy transport refuses
// before it reaches a backend, so the handler runs without any.
func TestLegacyRefusals(t *testing.T) {
	cfg := &Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", SessionAddr: "x",
		RegistryAddr: "x", MaxBodyBytes: 1024, SSERetry: 1, HeartbeatInterval: 1, BackendTimeout: 1, StatelessCallTTL: time.Second}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l := NewLegacy(NewHandler(slog.New(slog.DiscardHandler), cfg, nil, nil), t.Context())
	const msg = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		code                       int
		allow                      string
	}{
		{name: "GET messages", method: "GET", target: "/messages?sessionId=x",
			status: 405, code: codeTransport, allow: "POST"},
		{name: "POST sse", method: "POST", target: "/sse", body: msg,
			status: 405, code: codeTransport, allow: "GET"},
		{name: "no sessionId", method: "POST", target: "/messages", body: msg,
			status: 400, code: codeTransport},
		{name: "empty sessionId", method: "POST", target: "/messages?sessionId=", body: msg,
			status: 400, code: codeTransport},
		{name: "not JSON content", method: "POST", target: "/messages?sessionId=x", body: msg,
			header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: codeTransport},
		{name: "too large", method: "POST", target: "/messages?sessionId=x",
			body: strings.Repeat(" ", 2048) + msg, status: 413, code: codeTransport},
		{name: "parse error", method: "POST", target: "/messages?sessionId=x", body: "{",
			status: 400, code: codeParseError},
		{name: "batch", method: "POST", target: "/messages?sessionId=x", body: "[" + msg + "]",
			status: 400, code: codeInvalidRequest},
		{name: "foreign origin", method: "GET", target: "/sse",
			header: map[string]string{"Origin": "https://evil.example"}, status: 403, code: codeTransport},
		{name: "foreign host", method: "POST", target: "/messages?sessionId=x", body: msg,
			header: map[string]string{"Host": "evil.example"}, status: 403, code: codeTransport},
		{name: "SSE not accepted", method: "GET", target: "/sse",
			header: map[string]string{"Accept": "application/json"}, status: 406, code: codeTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), tt.method,
				"http://127.0.0.1"+tt.target, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if host := tt.header["Host"]; host != "" {
				r.Host = host
			}
			rec := httptest.NewRecorder()
			l.ServeHTTP(rec, r)
			checkRefusal(t, rec, tt.status, tt.code, tt.allow)
		})
	}
}

func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, status, code int, allow string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if got := rec.Header().Get("Allow"); got != allow {
		t.Errorf("Allow = %q, want %q", got, allow)
	}
	var body struct {
		Error rpcError `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if body.Error.Code != code {
		t.Errorf("JSON-RPC code = %d, want %d (%s)", body.Error.Code, code, body.Error.Message)
	}
	if body.Error.Message == "" {
		t.Error("error without a message")
	}
}
