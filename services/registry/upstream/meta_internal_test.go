package upstream

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRawMetaDropsHopFields: the stateless generation's per-request
// fields describe the client's hop and stay behind; everything else, such
// as trace context and progress tokens, goes on byte for byte.
func TestRawMetaDropsHopFields(t *testing.T) {
	got, err := rawMeta(`{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"info",` +
		`"traceparent":"00-abc-def-01","progressToken":9007199254740993,"com.example/x":{"a":1}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{
		"traceparent":   json.RawMessage(`"00-abc-def-01"`),
		"progressToken": json.RawMessage(`9007199254740993`),
		"com.example/x": json.RawMessage(`{"a":1}`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
	if _, err := rawMeta(`[1]`); err == nil {
		t.Error("a _meta that is no object was accepted")
	}
}
