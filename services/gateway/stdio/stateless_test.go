package stdio

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStatelessHeaders(t *testing.T) {
	const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	tests := []struct {
		name, body string
		want       http.Header
	}{
		{"session-based request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil},
		{"discover", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + meta + `}}`,
			http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"server/discover"}}},
		{"tool call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo",` + meta + `}}`,
			http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"tools/call"},
				"Mcp-Name": {"demo__echo"}}},
		{"read of a non-ASCII URI", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///ä",` + meta + `}}`,
			http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"resources/read"},
				"Mcp-Name": {"=?base64?ZmlsZTovLy/DpA==?="}}},
		{"prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p",` + meta + `}}`,
			http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"prompts/get"},
				"Mcp-Name": {"p"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, statelessHeaders([]byte(tc.body))); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}
