package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sessionMode says which Mcp-Session-Id a bad-input request carries.
type sessionMode int

const (
	withSession sessionMode = iota
	noSession
	unknownSession
	deletedSession
	// olderSession negotiated 2025-06-18, where arguments that fail the
	// input schema were still invalid params.
	olderSession
)

// badInput is one malformed request and the exact answer the MCP
// Streamable HTTP transport (2025-11-25) requires for it.
type badInput struct {
	name    string
	method  string            // default POST
	header  map[string]string // overrides; "" deletes the header
	added   map[string]string // added after the overrides (a second value)
	session sessionMode
	body    string
	// chunked sends the body without Content-Length, so the size limit
	// must be enforced while reading.
	chunked bool

	wantStatus int
	wantHeader map[string]string
	// wantCode is the JSON-RPC error code of the body; 0 means no error
	// body is expected.
	wantCode int
	wantID   string // raw JSON id of the error, "" when it has none
}

const ping = `{"jsonrpc":"2.0","id":7,"method":"ping"}`

var badInputs = []badInput{
	{name: "unparseable JSON", body: `{"jsonrpc":`, wantStatus: 400, wantCode: -32700, wantID: ""},
	{name: "JSON that is not an object", body: `"ping"`, wantStatus: 400, wantCode: -32600, wantID: ""},
	{name: "neither request nor response", body: `{"jsonrpc":"2.0","id":3}`, wantStatus: 400, wantCode: -32600, wantID: "3"},
	{name: "wrong jsonrpc version", body: `{"jsonrpc":"1.0","id":4,"method":"ping"}`, wantStatus: 400, wantCode: -32600, wantID: "4"},
	{name: "object id", body: `{"jsonrpc":"2.0","id":{},"method":"ping"}`, wantStatus: 400, wantCode: -32600, wantID: ""},
	{name: "batch", body: "[" + ping + "]", wantStatus: 400, wantCode: -32600, wantID: ""},
	{name: "unknown method", body: `{"jsonrpc":"2.0","id":5,"method":"no/such"}`, wantStatus: 200, wantCode: -32601, wantID: "5"},
	{name: "params not an object", body: `{"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1]}`, wantStatus: 200, wantCode: -32602, wantID: "6"},
	{name: "unknown tool", body: `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"no_such_tool"}}`, wantStatus: 200, wantCode: -32602, wantID: "8"},
	{name: "tool name missing", body: `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}`, wantStatus: 200, wantCode: -32602, wantID: "9"},
	{name: "arguments not an object", body: `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"demo__echo","arguments":"hi"}}`, wantStatus: 200, wantCode: -32602, wantID: "10"},
	{name: "arguments fail the schema (2025-06-18)", session: olderSession, header: map[string]string{"MCP-Protocol-Version": "2025-06-18"}, body: `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"demo__add","arguments":{"a":"x"}}}`, wantStatus: 200, wantCode: -32602, wantID: "11"},
	// From 2025-11-25 on, input validation failures are tool execution
	// errors, so that the model can correct its arguments.
	{name: "arguments fail the schema (2025-11-25)", body: `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"demo__add","arguments":{"a":"x"}}}`, wantStatus: 200},
	{name: "bad cursor", body: `{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"cursor":"!!bad!!"}}`, wantStatus: 200, wantCode: -32602, wantID: "12"},
	{name: "initialize without protocolVersion", session: noSession, body: `{"jsonrpc":"2.0","id":13,"method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, wantStatus: 200, wantCode: -32602, wantID: "13"},
	{name: "missing session id", session: noSession, body: ping, wantStatus: 400, wantCode: -32000, wantID: "7"},
	{name: "unknown session id", session: unknownSession, body: ping, wantStatus: 404, wantCode: -32001, wantID: "7"},
	{name: "deleted session id", session: deletedSession, body: ping, wantStatus: 404, wantCode: -32001, wantID: "7"},
	{name: "malformed session id", header: map[string]string{"Mcp-Session-Id": "bad id"}, session: noSession, body: ping, wantStatus: 404, wantCode: -32001, wantID: "7"},
	{name: "GET without session", method: "GET", session: noSession, header: map[string]string{"Accept": "text/event-stream"}, wantStatus: 400, wantCode: -32000, wantID: ""},
	{name: "GET unknown session", method: "GET", session: unknownSession, header: map[string]string{"Accept": "text/event-stream"}, wantStatus: 404, wantCode: -32001, wantID: ""},
	{name: "DELETE without session", method: "DELETE", session: noSession, wantStatus: 400, wantCode: -32000, wantID: ""},
	{name: "DELETE unknown session", method: "DELETE", session: unknownSession, wantStatus: 404, wantCode: -32001, wantID: ""},
	{name: "PUT", method: "PUT", body: ping, wantStatus: 405, wantHeader: map[string]string{"Allow": "GET, POST, DELETE"}, wantCode: -32000, wantID: ""},
	{name: "PATCH", method: "PATCH", body: ping, wantStatus: 405, wantHeader: map[string]string{"Allow": "GET, POST, DELETE"}, wantCode: -32000, wantID: ""},
	{name: "Accept admits neither JSON nor SSE", header: map[string]string{"Accept": "text/html"}, body: ping, wantStatus: 406, wantCode: -32000, wantID: ""},
	{name: "GET without SSE in Accept", method: "GET", header: map[string]string{"Accept": "application/json"}, wantStatus: 406, wantCode: -32000, wantID: ""},
	{name: "wrong Content-Type", header: map[string]string{"Content-Type": "text/plain"}, body: ping, wantStatus: 415, wantCode: -32000, wantID: ""},
	{name: "missing Content-Type", header: map[string]string{"Content-Type": ""}, body: ping, wantStatus: 415, wantCode: -32000, wantID: ""},
	{name: "body over the limit", body: oversized(), wantStatus: 413, wantCode: -32000, wantID: ""},
	{name: "chunked body over the limit", body: oversized(), chunked: true, wantStatus: 413, wantCode: -32000, wantID: ""},
	{name: "unsupported protocol version", header: map[string]string{"MCP-Protocol-Version": "1999-01-01"}, body: ping, wantStatus: 400, wantCode: -32000, wantID: "7"},
	{name: "foreign Origin", header: map[string]string{"Origin": "http://evil.example"}, body: ping, wantStatus: 403, wantCode: -32000, wantID: ""},
	{name: "second Origin", header: map[string]string{"Origin": "http://localhost"}, added: map[string]string{"Origin": "http://evil.example"}, body: ping, wantStatus: 403, wantCode: -32000, wantID: ""},
	{name: "invalid UTF-8", body: "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"ping\"}", wantStatus: 400, wantCode: -32700, wantID: ""},
	{name: "foreign Host", header: map[string]string{"Host": "evil.example"}, body: ping, wantStatus: 403, wantCode: -32000, wantID: ""},
	{name: "tool execution failure is a result", body: `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"demo__fail","arguments":{}}}`, wantStatus: 200},
}

// oversized is a well-formed request just over the gateway's 4 MiB limit.
func oversized() string {
	pad := strings.Repeat("x", 4<<20)
	return `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"pad":"` + pad + `"}}}`
}

func TestBadInput(t *testing.T) {
	url := startSuite(t, 1).MCPURLs()[0]
	live := initSession(t, url, "2025-11-25")
	older := initSession(t, url, "2025-06-18")
	gone := initSession(t, url, "2025-11-25")
	deleteSession(t, url, gone)

	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			resp := sendBad(t, url, tt, map[sessionMode]string{
				withSession: live, unknownSession: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", deletedSession: gone,
				olderSession: older,
			}[tt.session])
			defer resp.Body.Close()
			body := lastMessage(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			checkErrorBody(t, body, tt)
		})
	}
}

func sendBad(t *testing.T, url string, tt badInput, session string) *http.Response {
	t.Helper()
	method := tt.method
	if method == "" {
		method = "POST"
	}
	var body io.Reader = strings.NewReader(tt.body)
	if tt.chunked {
		body = io.MultiReader(strings.NewReader(tt.body)) // hides the length
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	for k, v := range tt.header {
		switch {
		case k == "Host":
			req.Host = v
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
	for k, v := range tt.added {
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", tt.name, err)
	}
	return resp
}

// lastMessage returns the JSON-RPC message of a JSON answer, or the last
// message of an SSE answer (tools/call answers with a resumable stream
// whose final event is the response).
func lastMessage(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return body
	}
	var last []byte
	for _, line := range strings.Split(string(body), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "" {
			last = []byte(data)
		}
	}
	return last
}

func checkErrorBody(t *testing.T, body []byte, tt badInput) {
	t.Helper()
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  *struct {
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("body is not a JSON-RPC message: %v: %s", err, body)
	}
	if tt.wantCode == 0 {
		if msg.Error != nil || msg.Result == nil || !msg.Result.IsError {
			t.Fatalf("want a result with isError true, got %s", body)
		}
		return
	}
	if msg.Error == nil {
		t.Fatalf("want error %d, got %s", tt.wantCode, body)
	}
	if msg.Error.Code != tt.wantCode || msg.Error.Message == "" {
		t.Errorf("error = %d %q, want code %d with a message", msg.Error.Code, msg.Error.Message, tt.wantCode)
	}
	if !bytes.Equal(msg.ID, []byte(tt.wantID)) || msg.JSONRPC != "2.0" {
		t.Errorf("jsonrpc %q id %s, want 2.0 and %s", msg.JSONRPC, msg.ID, tt.wantID)
	}
}

// initSession runs initialize and notifications/initialized over raw HTTP
// and returns the new session id.
func initSession(t *testing.T, url, version string) string {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version + `",` +
		`"capabilities":{},"clientInfo":{"name":"badinput","version":"1"}}}`
	resp := rawPost(t, url, "", body)
	resp.Body.Close()
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, id)
	}
	resp = rawPost(t, url, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("notifications/initialized: status %d, want 202", resp.StatusCode)
	}
	return id
}

func rawPost(t *testing.T, url, session, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

func deleteSession(t *testing.T, url, session string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "DELETE", url, nil)
	req.Header.Set("Mcp-Session-Id", session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: status %d, want 204", resp.StatusCode)
	}
}
