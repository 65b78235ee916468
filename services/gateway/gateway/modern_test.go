package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsStateless(t *testing.T) {
	const meta = `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`
	tests := []struct {
		name, method, params string
		headers              map[string]string
		want                 bool
	}{
		{"meta version, no session", "tools/list", meta, nil, true},
		{"stateless header wins over a session id", "tools/list", `{}`,
			map[string]string{headerProtocolVersion: "2026-07-28", headerSessionID: "s"}, true},
		{"session request", "tools/list", meta, map[string]string{headerSessionID: "s"}, false},
		{"session-era initialize", "initialize", `{}`, nil, false},
		{"initialize under a stateless header", "initialize", `{}`,
			map[string]string{headerProtocolVersion: "2026-07-28"}, true},
		{"unknown header version, no session", "tools/list", `{}`,
			map[string]string{headerProtocolVersion: "v999"}, true},
		{"known session-era header, no meta", "tools/list", `{}`,
			map[string]string{headerProtocolVersion: "2025-11-25"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/mcp", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			method := tc.method
			m := &message{Method: &method, Params: json.RawMessage(tc.params)}
			if got := isStateless(r, m); got != tc.want {
				t.Errorf("isStateless = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckHeaders(t *testing.T) {
	rm := requestMeta{ProtocolVersion: "2026-07-28"}
	tests := []struct {
		name, method, params string
		headers              [][2]string
		code                 int
		want                 string
	}{
		{"good", "tools/call", `{"name":"echo"}`, [][2]string{
			{headerProtocolVersion, "2026-07-28"}, {headerMethod, "tools/call"}, {headerName, " echo "}}, 0, ""},
		{"version twice", "tools/list", `{}`, [][2]string{
			{headerProtocolVersion, "2026-07-28"}, {headerProtocolVersion, "2025-11-25"},
			{headerMethod, "tools/list"}}, codeHeaderMismatch, "more than once"},
		{"method missing", "tools/list", `{}`, [][2]string{
			{headerProtocolVersion, "2026-07-28"}}, codeHeaderMismatch, "Mcp-Method header is required"},
		{"method twice", "tools/list", `{}`, [][2]string{{headerProtocolVersion, "2026-07-28"},
			{headerMethod, "tools/list"}, {headerMethod, "tools/list"}}, codeHeaderMismatch, "more than once"},
		{"name not a string", "tools/call", `{"name":7}`, [][2]string{
			{headerProtocolVersion, "2026-07-28"}, {headerMethod, "tools/call"}, {headerName, "7"}},
			codeInvalidParams, "name must be a string"},
		{"base64 name", "tools/call", `{"name":"é"}`, [][2]string{{headerProtocolVersion, "2026-07-28"},
			{headerMethod, "tools/call"}, {headerName, "=?base64?w6k=?="}}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/mcp", nil)
			for _, h := range tc.headers {
				r.Header.Add(h[0], h[1])
			}
			method := tc.method
			err := checkHeaders(r, &message{Method: &method, Params: json.RawMessage(tc.params)}, rm)
			switch {
			case tc.code == 0 && err != nil:
				t.Errorf("checkHeaders = %v, want nil", err)
			case tc.code != 0 && (err == nil || err.Code != tc.code || !strings.Contains(err.Message, tc.want)):
				t.Errorf("checkHeaders = %v, want code %d with %q", err, tc.code, tc.want)
			}
		})
	}
}

func TestUnsupportedVersionData(t *testing.T) {
	e := unsupportedVersion("2025-11-25")
	var data struct {
		Supported []string `json:"supported"`
		Requested string   `json:"requested"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil || data.Requested != "2025-11-25" ||
		len(data.Supported) != len(statelessVersions) || data.Supported[0] != statelessVersions[0] {
		t.Errorf("data %s: want the stateless revisions and the requested one", e.Data)
	}
}

// TestStatelessReplyAccept: a client that accepts only SSE gets its
// answer as a one-event stream; errors with a status of their own stay
// JSON.
func TestStatelessReplyAccept(t *testing.T) {
	tests := []struct {
		name    string
		sseOnly bool
		send    func(o statelessReply)
		status  int
		ctype   string
	}{
		{"json result", false, func(o statelessReply) { o.result(json.RawMessage(`1`), "tools/list", map[string]any{}) },
			200, "application/json"},
		{"sse result", true, func(o statelessReply) { o.result(json.RawMessage(`1`), "tools/list", map[string]any{}) },
			200, "text/event-stream"},
		{"sse method error", true, func(o statelessReply) { o.fail(json.RawMessage(`1`), newRPCError(codeInternalError, "x")) },
			200, "text/event-stream"},
		{"header mismatch stays json", true, func(o statelessReply) {
			o.fail(json.RawMessage(`1`), headerMismatch("x"))
		}, 400, "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.send(statelessReply{w: w, sseOnly: tc.sseOnly})
			if w.Code != tc.status || w.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Header().Get("Content-Type"), tc.status, tc.ctype)
			}
			if tc.ctype == "text/event-stream" && !strings.Contains(w.Body.String(), "data: {") {
				t.Errorf("body %q is no SSE event", w.Body.String())
			}
		})
	}
}
