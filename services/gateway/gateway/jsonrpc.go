package gateway

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// JSON-RPC 2.0 error codes used by MCP.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
	// codeTransport is the implementation-defined code for errors found by
	// the HTTP transport before a message reaches a method (bad headers,
	// missing session); the HTTP status carries the precise meaning.
	codeTransport = -32000
	// codeSessionNotFound marks a request for an unknown or ended session.
	codeSessionNotFound = -32001
)

// kind classifies an incoming JSON-RPC message.
type kind int

const (
	kindRequest kind = iota + 1
	kindNotification
	kindResponse
)

// message is one incoming JSON-RPC message. Params, result and error stay
// raw so that nothing the client sent is reinterpreted on its way through.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  *string         `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`

	kind kind
}

// rpcError is a JSON-RPC error object, and the Go error that carries it.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return e.Message }

func newRPCError(code int, msg string) *rpcError { return &rpcError{Code: code, Message: msg} }

// parseMessage decodes and classifies one message. Errors are *rpcError
// with -32700 for malformed JSON and -32600 for JSON that is not a valid
// JSON-RPC 2.0 message.
func parseMessage(body []byte) (*message, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, newRPCError(codeParseError, "parse error: body is not valid JSON")
	}
	// encoding/json would replace invalid bytes in strings silently, so an
	// id could come back changed and arguments would fail later, deep in
	// gRPC; JSON text must be UTF-8 (RFC 8259, section 8.1).
	if !utf8.Valid(body) {
		return nil, newRPCError(codeParseError, "parse error: body is not valid UTF-8")
	}
	// Known shortcoming: 2025-03-26 allowed JSON-RPC batches; the gateway
	// refuses them for every revision (later revisions dropped batching).
	if len(body) > 0 && body[0] == '[' {
		return nil, newRPCError(codeInvalidRequest,
			"invalid request: JSON-RPC batches are not supported; send one message per POST")
	}
	if len(body) == 0 || body[0] != '{' {
		return nil, newRPCError(codeInvalidRequest, "invalid request: expected a JSON-RPC object")
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, newRPCError(codeInvalidRequest, "invalid request: "+err.Error())
	}
	if m.JSONRPC != "2.0" {
		return &m, newRPCError(codeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
	}
	return &m, classify(&m)
}

func classify(m *message) error {
	hasID := len(m.ID) > 0 && !bytes.Equal(m.ID, []byte("null"))
	switch {
	case m.Method != nil && hasID:
		m.kind = kindRequest
	case m.Method != nil:
		if len(m.ID) > 0 {
			return newRPCError(codeInvalidRequest, "invalid request: id must not be null")
		}
		m.kind = kindNotification
	case hasID && (m.Result != nil) != (m.Error != nil):
		m.kind = kindResponse
	default:
		return newRPCError(codeInvalidRequest,
			"invalid request: not a request, notification or response")
	}
	if hasID && !validID(m.ID) {
		m.ID = nil
		return newRPCError(codeInvalidRequest, "invalid request: id must be a string or an integer")
	}
	if m.Method != nil && *m.Method == "" {
		return newRPCError(codeInvalidRequest, "invalid request: method must not be empty")
	}
	return nil
}

// validID accepts the id types MCP allows: strings and integers.
func validID(raw json.RawMessage) bool {
	switch raw[0] {
	case '"':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return !bytes.ContainsAny(raw, ".eE")
	}
	return false
}

// decodeParams decodes a request's params into v. Absent params decode as
// an empty object; anything but an object is invalid params.
func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] != '{' {
		return newRPCError(codeInvalidParams, "invalid params: params must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return newRPCError(codeInvalidParams, "invalid params: "+err.Error())
	}
	return nil
}

// response encodes a JSON-RPC response for id with either a result or an
// error. An error whose request id is unknown (unparseable input, GET and
// DELETE refusals) carries no id member: MCP's JSONRPCErrorResponse makes
// it optional and allows only strings and integers when present.
func response(id json.RawMessage, result any, rerr *rpcError) []byte {
	out := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id,omitempty"`
		Result  any             `json:"result,omitempty"`
		Error   *rpcError       `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: id}
	if rerr != nil {
		out.Error = rerr
	} else {
		out.Result = result
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Results are built from validated JSON; failing here is a bug.
		b, _ = json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id,omitempty"`
			Error   *rpcError       `json:"error"`
		}{"2.0", id, newRPCError(codeInternalError, "internal error: encode result")})
	}
	return b
}
