package stdio

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Streamable HTTP headers (MCP 2025-11-25, Transports, Streamable HTTP).
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "MCP-Protocol-Version"
	headerLastEventID     = "Last-Event-ID"
)

// Reconnection delays of SSE streams: the first, unless the gateway
// suggests one with a retry field, and the longest after repeated
// failures.
const (
	firstRetry = time.Second
	maxRetry   = 30 * time.Second
	// maxResumes bounds the attempts to resume a broken request stream.
	maxResumes = 8
)

// initialize relays an initialize request, then keeps the session id and
// the protocol version that its answer carries. A client that initializes
// again starts a new session: the old one is forgotten.
func (b *Bridge) initialize(ctx context.Context, line []byte, msg *message) {
	b.setSession("", "")
	resp, err := b.send(ctx, http.MethodPost, line, "")
	if err != nil {
		b.reply(msg.id, transportError("gateway unreachable: %v", err))
		return
	}
	defer resp.Body.Close()
	if sid := resp.Header.Get(headerSessionID); sid != "" && resp.StatusCode/100 == 2 {
		b.setSession(sid, "")
		b.log.Info("session started", "session_id", sid)
	}
	answer := b.answer(ctx, resp, msg.id)
	var r struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if answer != nil && json.Unmarshal(answer, &r) == nil {
		b.mu.Lock()
		b.version = r.Result.ProtocolVersion
		b.mu.Unlock()
	}
}

// request relays a request and writes its answer.
func (b *Bridge) request(ctx context.Context, line []byte, msg *message) {
	resp, err := b.send(ctx, http.MethodPost, line, "")
	if err != nil {
		if ctx.Err() != nil {
			// Cancelled: the client expects no answer any more.
			return
		}
		b.log.Warn("request failed", "method", msg.method, "err", err)
		b.reply(msg.id, transportError("gateway unreachable: %v", err))
		return
	}
	defer resp.Body.Close()
	b.answer(ctx, resp, msg.id)
}

// answer writes the answer that resp carries to the request id, and the
// messages that precede it on an SSE stream; it returns the answer.
func (b *Bridge) answer(ctx context.Context, resp *http.Response, id json.RawMessage) []byte {
	switch {
	case resp.StatusCode/100 != 2:
		b.log.Warn("request refused", "status", resp.StatusCode)
		b.reply(id, httpFailure(resp))
	case isEventStream(resp):
		return b.stream(ctx, resp, id)
	case resp.StatusCode != http.StatusOK:
		b.reply(id, transportError("gateway answered HTTP %s without a response", resp.Status))
	default:
		body, err := readBody(resp.Body)
		if err != nil {
			b.reply(id, transportError("gateway answer lost: %v", err))
			return nil
		}
		b.relay(body)
		return body
	}
	return nil
}

// notify relays a notification or a response to a server request; the
// gateway accepts them with 202 and nothing to relay back. After the
// client's initialized notification, the session's GET stream opens.
func (b *Bridge) notify(ctx context.Context, line []byte, msg *message) {
	resp, err := b.send(ctx, http.MethodPost, line, "")
	if err != nil {
		b.log.Warn("message not delivered", "method", msg.method, "err", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.log.Warn("message refused", "method", msg.method, "status", resp.StatusCode)
		return
	}
	if msg.method == "notifications/initialized" {
		b.listen(ctx)
	}
}

// send makes one HTTP request to the gateway with the session's headers.
func (b *Bridge) send(ctx context.Context, method string, body []byte,
	lastEventID string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.cfg.URL, rd)
	if err != nil {
		return nil, err
	}
	for name, values := range b.headers {
		req.Header[name] = values
	}
	switch method {
	case http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	case http.MethodGet:
		req.Header.Set("Accept", "text/event-stream")
	}
	if lastEventID != "" {
		req.Header.Set(headerLastEventID, lastEventID)
	}
	if h := statelessHeaders(body); h != nil {
		for name, values := range h {
			req.Header[name] = values
		}
		return b.client.Do(req)
	}
	sid, version := b.session()
	if sid != "" {
		req.Header.Set(headerSessionID, sid)
	}
	if version != "" {
		req.Header.Set(headerProtocolVersion, version)
	}
	return b.client.Do(req)
}

func (b *Bridge) session() (id, version string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessionID, b.version
}

// setSession replaces the session and stops the old session's stream.
func (b *Bridge) setSession(id, version string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id != b.sessionID && b.stopGET != nil {
		b.stopGET()
		b.stopGET = nil
	}
	b.sessionID, b.version = id, version
}

// endSession deletes the session at the gateway (MCP 2025-11-25,
// Transports, Session Management).
func (b *Bridge) endSession(ctx context.Context) {
	sid, _ := b.session()
	if sid == "" {
		return
	}
	// The session must end even when a signal cancelled ctx: the DELETE
	// gets a context of its own, bounded by the shutdown timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ShutdownTimeout)
	defer cancel()
	resp, err := b.send(ctx, http.MethodDelete, nil, "")
	if err != nil {
		b.log.Warn("session not deleted", "session_id", sid, "err", err)
		return
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		b.log.Info("session deleted", "session_id", sid)
	case resp.StatusCode == http.StatusMethodNotAllowed:
		b.log.Info("gateway keeps sessions until they expire", "session_id", sid)
	default:
		b.log.Warn("session not deleted", "session_id", sid, "status", resp.StatusCode)
	}
}
