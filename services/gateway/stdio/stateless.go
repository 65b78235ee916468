package stdio

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
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
		h.Set(headerName, headerSafe(*m.Params.URI))
	case (m.Method == "tools/call" || m.Method == "prompts/get") && m.Params.Name != nil:
		h.Set(headerName, headerSafe(*m.Params.Name))
	}
	return h
}

// headerSafe writes a value as a header may carry it: as it is when it is
// visible ASCII with no surrounding space, else in the Base64 sentinel
// form "=?base64?...?=" (2026-07-28, Streamable HTTP, Value Encoding).
func headerSafe(v string) string {
	plain := v != "" && v == strings.TrimSpace(v) &&
		!(strings.HasPrefix(v, "=?base64?") && strings.HasSuffix(v, "?="))
	for i := 0; plain && i < len(v); i++ {
		plain = v[i] >= 0x20 && v[i] < 0x7f
	}
	if plain {
		return v
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}
