package stdio

import (
	"encoding/json"
	"net/http"

	"switchboard.dev/pkg/mcpheader"
)

// A desktop client of the stateless generation (2026-07-28) sends each
// request with its protocol version, capabilities and identity in _meta,
// and no initialize. Over HTTP that generation mirrors the method and the
// target into headers (Streamable HTTP, Request Metadata), which the
// gateway checks against the body; the bridge adds them, as the HTTP
// client it stands in for would.
//
// Known shortcoming: the bridge does not read tool schemas, so it sends no
// Mcp-Param-{Name} headers for arguments a tool marks with x-mcp-header;
// the gateway refuses such calls of a stateless client as a header
// mismatch.

// Request metadata headers of the stateless generation.
const (
	headerMethod = "Mcp-Method"
	headerName   = "Mcp-Name"
)

// statelessHeaders returns the headers a stateless request needs, or nil
// for a message of the session-based revisions.
func statelessHeaders(body []byte) http.Header {
	var m struct {
		Method string `json:"method"`
		Params struct {
			Name *string `json:"name"`
			URI  *string `json:"uri"`
			Meta struct {
				ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil || m.Params.Meta.ProtocolVersion == "" {
		return nil
	}
	h := http.Header{}
	h.Set(headerProtocolVersion, m.Params.Meta.ProtocolVersion)
	h.Set(headerMethod, m.Method)
	switch {
	case m.Method == "resources/read" && m.Params.URI != nil:
		h.Set(headerName, mcpheader.Encode(*m.Params.URI))
	case (m.Method == "tools/call" || m.Method == "prompts/get") && m.Params.Name != nil:
		h.Set(headerName, mcpheader.Encode(*m.Params.Name))
	}
	return h
}
