package stdio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// errLineTooLong reports a stdin line over the limit; the line was
// discarded.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line of r without its line ending. It never
// holds more than limit bytes of a line: a longer line is read to its end
// and discarded, and readLine returns the first limit bytes of it with
// errLineTooLong. A last line without a newline is returned as any other;
// then the next call returns io.EOF.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+2 { // +2: the "\r\n" is not the line's
			line = append(line, chunk[:max(limit-len(line), 0)]...)
			return line, discardLine(r, err)
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return trimEOL(line, limit)
		case err != nil:
			return nil, err
		}
		return trimEOL(line, limit)
	}
}

// trimEOL strips the line ending and applies the limit to what is left.
func trimEOL(line []byte, limit int) ([]byte, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > limit {
		return line[:limit], errLineTooLong
	}
	return line, nil
}

// discardLine reads up to the end of the current line; err is what the
// last read returned.
func discardLine(r *bufio.Reader, err error) error {
	for err == bufio.ErrBufferFull {
		_, err = r.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return err
	}
	return errLineTooLong
}

// kind says what a JSON-RPC message is.
type kind int

const (
	kindRequest kind = iota + 1
	kindNotification
	kindResponse
)

// message is what the bridge needs to know of a JSON-RPC message; the
// message itself is relayed as it came.
type message struct {
	kind   kind
	id     json.RawMessage // requests and responses
	method string          // requests and notifications
}

// JSON-RPC 2.0 error codes.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	// codeTransport reports that the gateway could not be reached or
	// refused the request with an HTTP error that carried no JSON-RPC
	// error of its own (JSON-RPC leaves -32000 to -32099 to servers).
	codeTransport = -32000
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// parse checks that line is one JSON-RPC 2.0 message (MCP 2025-11-25,
// Base Protocol, Messages: no batches, ids are strings or numbers). On
// failure the error says why and msg.id holds whatever id could be
// recovered.
func parse(line []byte) (*message, *rpcError) {
	if !json.Valid(line) {
		return &message{}, &rpcError{Code: codeParseError, Message: "parse error: invalid JSON"}
	}
	var f struct {
		JSONRPC *string         `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Params  json.RawMessage `json:"params"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(line, &f) != nil {
		return &message{}, invalid("not a JSON-RPC object")
	}
	msg := &message{}
	if validID(f.ID) {
		msg.id = f.ID
	}
	switch {
	case f.JSONRPC == nil || *f.JSONRPC != "2.0":
		return msg, invalid(`jsonrpc must be "2.0"`)
	case f.ID != nil && msg.id == nil:
		return msg, invalid("id must be a string or a number")
	case f.Method != nil:
		return msg, msg.request(f.Method, f.Params)
	case f.Result != nil && f.Error != nil:
		return msg, invalid("a response has a result or an error, not both")
	case f.Result == nil && f.Error == nil:
		return msg, invalid("a message needs a method, a result or an error")
	case msg.id == nil:
		return msg, invalid("a response needs an id")
	case f.Error != nil && !isObject(f.Error):
		return msg, invalid("error must be an object")
	}
	msg.kind = kindResponse
	return msg, nil
}

// request fills in a request or notification.
func (m *message) request(method, params json.RawMessage) *rpcError {
	if json.Unmarshal(method, &m.method) != nil || m.method == "" {
		return invalid("method must be a non-empty string")
	}
	if params != nil && !isObject(params) && !isArray(params) {
		return invalid("params must be an object")
	}
	m.kind = kindNotification
	if m.id != nil {
		m.kind = kindRequest
	}
	return nil
}

func invalid(why string) *rpcError {
	return &rpcError{Code: codeInvalidRequest, Message: "invalid request: " + why}
}

func isObject(raw json.RawMessage) bool { return firstByte(raw) == '{' }
func isArray(raw json.RawMessage) bool  { return firstByte(raw) == '[' }

func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// validID reports whether raw is a JSON string or number.
func validID(raw json.RawMessage) bool {
	c := firstByte(raw)
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// recoverID looks for a top-level "id" in the start of a message that was
// cut short, so that an over-long request can still be answered with its
// id. It returns nil when the prefix does not show one.
func recoverID(prefix []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		start := dec.InputOffset()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		// A value that ends the prefix may have been cut (a number).
		if key == "id" && int(dec.InputOffset()) < len(prefix) {
			raw := bytes.TrimLeft(prefix[start:dec.InputOffset()], " \t\r\n:")
			if validID(raw) {
				return json.RawMessage(raw)
			}
			return nil
		}
	}
}
