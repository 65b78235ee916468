package stdio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// lineWriter writes whole messages to stdout, one per line, one at a time
// (MCP 2025-11-25, Transports, stdio: messages are delimited by newlines
// and must not contain embedded newlines).
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

// write writes msg as one line. A message with line breaks between its
// tokens is compacted first; json.Compact keeps numbers as they are.
func (lw *lineWriter) write(msg []byte) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf.Reset()
	if err := json.Compact(&lw.buf, msg); err != nil {
		return fmt.Errorf("message from gateway: %w", err)
	}
	lw.buf.WriteByte('\n')
	if _, err := lw.w.Write(lw.buf.Bytes()); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// relay writes a message that came from the gateway.
func (b *Bridge) relay(msg []byte) {
	if err := b.out.write(msg); err != nil {
		b.log.Error("message not relayed", "err", err)
	}
}

// reply writes a JSON-RPC error response. errObj is an *rpcError or a
// raw error object from the gateway; a nil id is written as null.
func (b *Bridge) reply(id json.RawMessage, errObj any) {
	if id == nil {
		id = json.RawMessage("null")
	}
	msg, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   any             `json:"error"`
	}{"2.0", id, errObj})
	if err != nil {
		b.log.Error("error response not built", "err", err)
		return
	}
	b.relay(msg)
}

// transportError describes a request that got no answer from the gateway.
func transportError(format string, args ...any) *rpcError {
	return &rpcError{Code: codeTransport, Message: fmt.Sprintf(format, args...)}
}

// httpFailure returns the error to answer a request that the gateway
// refused with resp: the JSON-RPC error in its body if it has one (the
// gateway sends one with every refusal), else one naming the status.
func httpFailure(resp *http.Response) any {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &m) == nil && isObject(m.Error) {
		return m.Error
	}
	e := transportError("gateway answered HTTP %s", resp.Status)
	e.Data = map[string]int{"status": resp.StatusCode}
	return e
}

// isEventStream reports whether resp is an SSE stream.
func isEventStream(resp *http.Response) bool {
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	return strings.HasPrefix(strings.TrimSpace(ct), "text/event-stream")
}

// readBody reads a JSON answer, up to maxEventBytes.
func readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(body) > maxEventBytes {
		return nil, errors.New("read answer: too large")
	}
	return body, nil
}

func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }
