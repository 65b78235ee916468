package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWireValidation checks the checker: a stand-in server answers one
// request with an SSE stream holding one message, and the wire must
// accept the valid messages and report the others.
func TestWireValidation(t *testing.T) {
	const callX = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`
	for _, tc := range []struct {
		name, request, answer string
		valid                 bool
	}{
		{"tools/call result", callX,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}`, true},
		{"content block without type", callX,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"hi"}]}}`, false},
		{"image that is not base64", callX,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"image","data":"!!","mimeType":"image/png"}]}}`,
			false},
		{"result of another method", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, false},
		{"result for no request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}`, false},
		{"progress", callX,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
			true},
		{"progress without token", callX,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, false},
		{"unknown notification", `{"jsonrpc":"2.0","id":1,"method":"ping"}`,
			`{"jsonrpc":"2.0","method":"notifications/whatever"}`, false},
		{"sampling request", callX,
			`{"jsonrpc":"2.0","id":"sb/1","method":"sampling/createMessage","params":` +
				`{"messages":[{"role":"user","content":{"type":"text","text":"q"}}],"maxTokens":5}}`, true},
		{"sampling request without maxTokens", callX,
			`{"jsonrpc":"2.0","id":"sb/1","method":"sampling/createMessage","params":{"messages":[]}}`,
			false},
		{"error", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad cursor"}}`, true},
		{"error with a null id", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, false},
		{"error with a null id for a request without one", `{"jsonrpc":"2.0","method":`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, false},
		{"not JSON-RPC", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, `{"hello":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(rw, "id: s:1\nevent: message\ndata: %s\n\n", tc.answer)
			}))
			t.Cleanup(srv.Close)
			w := unreportedWire(t, []string{srv.URL + "/mcp"})
			resp, err := w.client().Post(srv.URL+"/mcp", "application/json",
				strings.NewReader(tc.request))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			w.mu.Lock()
			defer w.mu.Unlock()
			invalid := len(w.failures)
			if w.validated != 1 || (invalid == 0) != tc.valid {
				t.Errorf("validated %d, failures %q; want 1 message, valid %v",
					w.validated, w.failures, tc.valid)
			}
		})
	}
}
