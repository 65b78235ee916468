package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard.dev/pkg/suite"
)

// TestStatelessHardening covers what an attack on the stateless
// generation found, against real processes: a hidden call session does
// not open the session transport; a finished call's state cannot be
// replayed into running the tool again; GET and DELETE of the stateless
// revision are refused with 405.
func TestStatelessHardening(t *testing.T) {
	empty := ""
	s := startSuiteWith(t, suite.Config{Gateways: 2,
		Providers: []suite.Provider{{Name: "conformance", Bin: suite.ConformanceProviderBin, Prefix: &empty}}})
	urls := s.MCPURLs()
	const tool = `{"name":"test_input_required_result_elicitation"}`
	first := extPost(t, urls[0], "tools/call", tool, withoutTasks, nil)
	var round struct {
		RequestState string `json:"requestState"`
	}
	if err := json.Unmarshal(first.Result, &round); err != nil || round.RequestState == "" {
		t.Fatalf("first round %s: want a requestState", first.Result)
	}

	t.Run("hidden session refuses the session transport", func(t *testing.T) {
		body, _, _ := strings.Cut(round.RequestState, ".")
		raw, err := base64.RawURLEncoding.DecodeString(body)
		var st struct {
			Session string `json:"s"`
		}
		if err != nil || json.Unmarshal(raw, &st) != nil || st.Session == "" {
			t.Fatalf("requestState %q does not name its session", round.RequestState)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, urls[1],
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Mcp-Session-Id", st.Session)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("session transport with a hidden session: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("a finished call is not run again", func(t *testing.T) {
		retry := `{"name":"test_input_required_result_elicitation",` +
			`"inputResponses":{"user_name":{"action":"accept","content":{"name":"Ann"}}},` +
			`"requestState":` + quoteJSON(round.RequestState) + `}`
		done := extPost(t, urls[1], "tools/call", retry, withoutTasks, nil)
		if done.Error != nil || !strings.Contains(string(done.Result), "Ann") {
			t.Fatalf("answered round: %+v %s", done.Error, done.Result)
		}
		// Once the call's session is gone, a replay is told so.
		deadline := time.Now().Add(10 * time.Second)
		for {
			again := extPost(t, urls[0], "tools/call", retry, withoutTasks, nil)
			if again.Error != nil {
				if again.Error.Code != -32602 || !strings.Contains(again.Error.Message, "ended") {
					t.Errorf("replay: %+v, want -32602 (the call has ended)", again.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a replayed finished state still answers %s", again.Result)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("GET and DELETE answer 405", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			req, _ := http.NewRequestWithContext(t.Context(), method, urls[0], nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("MCP-Protocol-Version", statelessVersion)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Errorf("%s: %d Allow %q, want 405 Allow POST", method, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	})
}

// TestHungSessionService: a session service that hangs (stopped, not
// gone) fails requests with 503 after -backend-timeout instead of holding
// them.
func TestHungSessionService(t *testing.T) {
	s := startSuiteWith(t, suite.Config{Gateways: 1,
		ExtraArgs: map[string][]string{suite.GatewayBin: {"-backend-timeout=500ms"}}})
	url := s.MCPURLs()[0]
	pid := s.Session.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop the session service: %v", err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+protocolVersion+
			`","capabilities":{},"clientInfo":{"name":"hung","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("initialize against a hung session service: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("initialize: %d, want 503", resp.StatusCode)
	}
}
