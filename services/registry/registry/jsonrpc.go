package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// JSON-RPC error codes the registry puts in responses.
const (
	codeInvalidParams = -32602
	codeInternalError = -32603
)

// The messages of a call are assembled from JSON texts rather than
// encoded from Go values, so that every value a provider or client wrote
// reaches the client with its exact digits. Each is compacted at the end,
// which also proves it well formed and keeps it on one SSE data line.

// rpcResponse returns a JSON-RPC response carrying result.
func rpcResponse(id, result string) (string, error) {
	return compactJSON(`{"jsonrpc":"2.0","id":` + id + `,"result":` + result + `}`)
}

// rpcError returns a JSON-RPC error response.
func rpcError(id string, code int, msg string) (string, error) {
	return compactJSON(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%s}}`,
		id, code, jsonString(msg)))
}

// rpcNotification returns a JSON-RPC notification; empty params are left
// out.
func rpcNotification(method, params string) (string, error) {
	return compactJSON(`{"jsonrpc":"2.0","method":` + jsonString(method) +
		withParams(params) + `}`)
}

// rpcRequest returns a JSON-RPC request with the given id.
func rpcRequest(id, method, params string) (string, error) {
	return compactJSON(`{"jsonrpc":"2.0","id":` + id + `,"method":` + jsonString(method) +
		withParams(params) + `}`)
}

func withParams(params string) string {
	if params == "" {
		return ""
	}
	return `,"params":` + params
}

// errorObject returns a JSON-RPC error object, for a ClientResponse.
func errorObject(code int, msg string) string {
	return fmt.Sprintf(`{"code":%d,"message":%s}`, code, jsonString(msg))
}

// compactJSON removes insignificant space from s, which must be one JSON
// value; numbers and strings keep every byte.
func compactJSON(s string) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return "", fmt.Errorf("build message: %w", err)
	}
	return buf.String(), nil
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // A string always encodes.
	return strings.TrimSuffix(buf.String(), "\n")
}

// isJSONKind tells whether s is one valid JSON value whose text starts
// with one of the bytes in starts.
func isJSONKind(s, starts string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return t != "" && strings.IndexByte(starts, t[0]) >= 0 && json.Valid([]byte(s))
}

// toolResultJSON returns an MCP CallToolResult for a provider's result:
// {"content":..., "structuredContent"?:..., "isError"?:true, "_meta"?:...}.
func toolResultJSON(r *providerv1.ToolResult) (string, error) {
	content := r.GetContentJson()
	if content == "" {
		content = "[]"
	}
	if !isJSONKind(content, "[") {
		return "", errors.New("content_json is not a JSON array")
	}
	var b strings.Builder
	b.WriteString(`{"content":` + content)
	if sc := r.GetStructuredContentJson(); sc != "" {
		if !isJSONObject(sc) {
			return "", errors.New("structured_content_json is not a JSON object")
		}
		b.WriteString(`,"structuredContent":` + sc)
	}
	if r.GetIsError() {
		b.WriteString(`,"isError":true`)
	}
	if meta := r.GetMetaJson(); meta != "" {
		if !isJSONObject(meta) {
			return "", errors.New("meta_json is not a JSON object")
		}
		b.WriteString(`,"_meta":` + meta)
	}
	b.WriteString("}")
	return b.String(), nil
}

// errorResultJSON returns a CallToolResult that reports a failure to the
// model as one text block.
func errorResultJSON(msg string) string {
	return `{"content":[{"type":"text","text":` + jsonString(msg) + `}],"isError":true}`
}

// failureResponse returns the JSON-RPC response for a call that failed
// with err, as the gateway answers a call without a stream (MCP
// 2025-11-25, Tools, Error Handling): failures of the tool's execution
// become results with isError so that the model sees them; arguments the
// provider refused are such failures from 2025-11-25 on and invalid
// params before; a tool the provider does not know is invalid params.
func failureResponse(id string, err error, version string) (string, error) {
	if e, ok := mcperr.From(err); ok {
		obj := fmt.Sprintf(`{"code":%d,"message":%s`, e.Code, jsonString(e.Message))
		if len(e.Data) > 0 {
			obj += `,"data":` + string(e.Data)
		}
		return compactJSON(`{"jsonrpc":"2.0","id":` + id + `,"error":` + obj + `}}`)
	}
	msg := err.Error()
	switch {
	case errors.Is(err, ErrInvalid) && version >= "2025-11-25":
		return rpcResponse(id, errorResultJSON(msg))
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return rpcError(id, codeInvalidParams, msg)
	case errors.Is(err, ErrUnavailable):
		return rpcResponse(id, errorResultJSON("tool provider unavailable: "+msg))
	case errors.Is(err, context.DeadlineExceeded):
		return rpcResponse(id, errorResultJSON("tool call timed out: "+msg))
	case errors.Is(err, ErrProvider):
		return rpcResponse(id, errorResultJSON("tool call failed: "+msg))
	}
	return rpcResponse(id, errorResultJSON("tool call failed: internal error"))
}

// logLevels ranks the MCP (RFC 5424) log levels.
var logLevels = map[string]int{
	"debug": 0, "info": 1, "notice": 2, "warning": 3,
	"error": 4, "critical": 5, "alert": 6, "emergency": 7,
}

// logPasses tells whether a notifications/message with params passes the
// session's minimum level. Without a minimum, or with a level the
// registry does not know on either side, the message passes.
func logPasses(minLevel, params string) bool {
	if minLevel == logLevelNone {
		return false
	}
	floor, ok := logLevels[minLevel]
	if !ok {
		return true
	}
	var p struct {
		Level string `json:"level"`
	}
	if json.Unmarshal([]byte(params), &p) != nil {
		return true
	}
	level, ok := logLevels[p.Level]
	return !ok || level >= floor
}

// clientCapabilities holds the members of a ClientCapabilities object
// that server-to-client requests need, each verbatim.
type clientCapabilities struct {
	Sampling    json.RawMessage `json:"sampling"`
	Elicitation json.RawMessage `json:"elicitation"`
	Roots       json.RawMessage `json:"roots"`
}

// present tells whether a capability member was given as an object.
func present(raw json.RawMessage) bool { return isJSONKind(string(raw), "{") }

// missingCapability returns the capability a server-to-client request
// needs and the client did not declare, or "" when it may be sent (MCP
// 2025-11-25, Client Features). Elicitation in url mode needs
// elicitation.url; in form mode any elicitation capability will do.
// Methods that need no capability, such as ping, always pass.
func missingCapability(capsJSON, method, params string) string {
	var caps clientCapabilities
	if capsJSON != "" {
		json.Unmarshal([]byte(capsJSON), &caps) // Malformed means none.
	}
	switch method {
	case "sampling/createMessage":
		if !present(caps.Sampling) {
			return "sampling"
		}
	case "roots/list":
		if !present(caps.Roots) {
			return "roots"
		}
	case "elicitation/create":
		if !present(caps.Elicitation) {
			return "elicitation"
		}
		var p struct {
			Mode string `json:"mode"`
		}
		json.Unmarshal([]byte(params), &p)
		var e struct {
			URL json.RawMessage `json:"url"`
		}
		json.Unmarshal(caps.Elicitation, &e)
		if p.Mode == "url" && !present(e.URL) {
			return "elicitation.url"
		}
	}
	return ""
}

// setMember returns the JSON object obj with member key set to value (a
// JSON text), replacing the first such member in place or adding it
// first. Every other byte of obj is kept.
func setMember(obj, key, value string) (string, error) {
	if !isJSONObject(obj) {
		return "", errors.New("want a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(obj))
	dec.Token() // The opening brace.
	open := int(dec.InputOffset())
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return "", err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		if name == key {
			end := int(dec.InputOffset())
			return obj[:end-len(v)] + value + obj[end:], nil
		}
	}
	sep := ","
	if strings.TrimSpace(obj[open:]) == "}" {
		sep = ""
	}
	return obj[:open] + jsonString(key) + ":" + value + sep + obj[open:], nil
}

// logLevelNone is the level of a request that asked for no log messages:
// from 2026-07-28 on, a request without a log level gets none.
const logLevelNone = "none"

// codeMissingCapability is MissingRequiredClientCapability (2026-07-28).
const codeMissingCapability = -32021

// statelessRevision tells whether a protocol revision is of the stateless
// generation (2026-07-28 and later), where a request needing a capability
// the client lacks fails as a whole.
func statelessRevision(version string) bool { return version >= "2026-07-28" }

// missingCapabilityResponse answers request id with
// MissingRequiredClientCapability naming the capability, such as
// "sampling" or "elicitation.url" (nested as {"elicitation":{"url":{}}}).
func missingCapabilityResponse(id, missing string) (string, error) {
	caps := "{}"
	parts := strings.Split(missing, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		caps = "{" + jsonString(parts[i]) + ":" + caps + "}"
	}
	e := fmt.Sprintf(`{"code":%d,"message":%s,"data":{"requiredCapabilities":%s}}`,
		codeMissingCapability, jsonString("the client must declare the "+missing+
			" capability for this request"), caps)
	return compactJSON(`{"jsonrpc":"2.0","id":` + id + `,"error":` + e + `}`)
}
