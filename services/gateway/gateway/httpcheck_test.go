package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAccepts(t *testing.T) {
	tests := []struct {
		header         string
		json, sse      bool
		absentAsHeader bool
	}{
		{header: "application/json, text/event-stream", json: true, sse: true},
		{header: "text/event-stream, application/json", json: true, sse: true},
		{header: "application/json", json: true},
		{header: "text/event-stream", sse: true},
		{header: "*/*", json: true, sse: true},
		{header: "application/*", json: true},
		{header: "text/*", sse: true},
		{header: "text/html", json: false, sse: false},
		{header: "application/json;q=0, text/event-stream", sse: true},
		{header: "application/json; charset=utf-8", json: true},
		{header: "garbage;;;", json: false},
		{absentAsHeader: true, json: true, sse: true},
	}
	for _, tt := range tests {
		var h []string
		if !tt.absentAsHeader {
			h = []string{tt.header}
		}
		json, sse := accepts(h)
		if json != tt.json || sse != tt.sse {
			t.Errorf("accepts(%q) = %v, %v; want %v, %v", tt.header, json, sse, tt.json, tt.sse)
		}
	}
}

func TestIsJSONContent(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"text/plain":                      false,
		"":                                false,
		"application/json-seq":            false,
	} {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader("{}"))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if got := isJSONContent(r); got != want {
			t.Errorf("isJSONContent(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for req, want := range map[string]string{
		"2025-11-25": "2025-11-25",
		"2025-06-18": "2025-06-18",
		"2025-03-26": "2025-03-26",
		"2024-11-05": "2024-11-05",
		"2099-01-01": latestVersion,
		"":           latestVersion,
	} {
		if got := negotiate(req); got != want {
			t.Errorf("negotiate(%q) = %q, want %q", req, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{HTTPAddr: "127.0.0.1:8080", GRPCAddr: "127.0.0.1:8081", SessionAddr: "s",
		RegistryAddr: "r", MaxBodyBytes: 4096, HeartbeatInterval: 1, SSERetry: 1, BackendTimeout: 1, StatelessCallTTL: time.Second}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if len(c.AllowedHosts) == 0 {
		t.Error("loopback address should default AllowedHosts to loopback names")
	}
	bad := Config{HTTPAddr: "nope", GRPCAddr: "127.0.0.1:1", MaxBodyBytes: 1,
		AllowedOrigins: []string{"not-a-url"}}
	err := bad.Validate()
	for _, field := range []string{"http-addr", "session-addr", "registry-addr", "max-body-bytes",
		"heartbeat-interval", "sse-retry", "allowed-origins"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}

func TestSessionAttrHidesTheID(t *testing.T) {
	id := "Z8SMoGWGqtZiRfrglJ9VLwona5vnzLZ7"
	if got := sessionAttr(id).Value.String(); got != "Z8SMoGWG..." {
		t.Errorf("sessionAttr logs %q, want only a prefix", got)
	}
	if got := sessionAttr("short").Value.String(); got != "short" {
		t.Errorf("sessionAttr(short) = %q", got)
	}
}
