package httpguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		origin  string
		allowed []string
		want    bool
	}{
		{"", nil, true},
		{"http://localhost:6274", nil, true},
		{"http://127.0.0.1", nil, true},
		{"https://[::1]:8443", nil, true},
		{"http://evil.example", nil, false},
		{"http://localhost.evil.example", nil, false},
		{"null", nil, false},
		{"https://app.example", []string{"https://app.example"}, true},
		{"https://APP.example", []string{"https://app.example"}, true},
		{"http://localhost:1", []string{"https://app.example"}, false},
		{"http://anything", []string{"*"}, true},
	}
	for _, tt := range tests {
		if got := OriginAllowed(tt.origin, tt.allowed); got != tt.want {
			t.Errorf("OriginAllowed(%q, %q) = %v, want %v", tt.origin, tt.allowed, got, tt.want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	loop := []string{"localhost", "127.0.0.1", "::1"}
	tests := []struct {
		host    string
		allowed []string
		want    bool
	}{
		{"localhost:8080", loop, true},
		{"127.0.0.1:8080", loop, true},
		{"[::1]:8080", loop, true},
		{"127.0.0.1", loop, true},
		{"evil.example:8080", loop, false},
		{"evil.example", nil, true},
		{"mcp.example", []string{"*"}, true},
	}
	for _, tt := range tests {
		if got := HostAllowed(tt.host, tt.allowed); got != tt.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestLoopbackHosts(t *testing.T) {
	for addr, want := range map[string]int{
		"127.0.0.1:80": 3, "[::1]:80": 3, "localhost:80": 3, "0.0.0.0:80": 0, "10.1.2.3:80": 0, "bad": 0,
	} {
		if got := len(LoopbackHosts(addr)); got != want {
			t.Errorf("LoopbackHosts(%q) has %d names, want %d", addr, got, want)
		}
	}
}

func TestAdmin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := Admin(ok, LoopbackHosts("127.0.0.1:7280"))
	tests := []struct {
		name, method, host, origin, ctype, body string
		want                                    int
	}{
		{"plain GET", "GET", "127.0.0.1:7280", "", "", "", 200},
		{"JSON POST", "POST", "localhost:7280", "", "application/json", "{}", 200},
		{"page origin", "GET", "127.0.0.1:7280", "http://evil.example", "", "", 403},
		{"loopback page origin", "POST", "127.0.0.1:7280", "http://localhost:3000", "application/json", "{}", 403},
		{"foreign host", "GET", "attacker.example", "", "", "", 403},
		{"text/plain body", "POST", "127.0.0.1:7280", "", "text/plain", "{}", 415},
		{"no content type", "POST", "127.0.0.1:7280", "", "", "{}", 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/v1/providers", strings.NewReader(tt.body))
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
}
