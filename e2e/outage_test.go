package e2e

import (
	"encoding/json"
	"io"
	"testing"
)

// TestInitializeDuringSessionOutage checks that a gateway whose session
// service is down answers initialize with 503, so that clients and load
// balancers retry, rather than with a JSON-RPC error under HTTP 200.
func TestInitializeDuringSessionOutage(t *testing.T) {
	s := startSuite(t, 1)
	url := s.MCPURLs()[0]
	s.Session.Kill()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` +
		protocolVersion + `","capabilities":{},"clientInfo":{"name":"outage","version":"1"}}}`
	resp := rawPost(t, url, "", body)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var msg struct {
		ID    json.RawMessage `json:"id"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &msg)
	if resp.StatusCode != 503 || msg.Error == nil || msg.Error.Code != -32603 || string(msg.ID) != "1" {
		t.Errorf("initialize during outage: status %d, body %s; want 503 with error -32603 for id 1",
			resp.StatusCode, raw)
	}
}
