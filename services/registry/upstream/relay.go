package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// connectClient opens the upstream session of client session c. It
// advertises caps, and relays what the upstream sends during a call
// (progress, log messages, requests to the client) to that call. The
// SDK's multi round-trip handling is off: the bridge passes input
// requests on to the client itself.
func (b *bridge) connectClient(ctx context.Context, caps *mcp.ClientCapabilities,
	c *clientConn) (*mcp.ClientSession, error) {
	client := mcp.NewClient(implementation, &mcp.ClientOptions{
		Capabilities:                caps,
		ProgressNotificationHandler: c.onProgress,
		LoggingMessageHandler:       c.onLog,
		ResourceUpdatedHandler:      b.onResourceUpdated,
		MultiRoundTrip:              &mcp.MultiRoundTripOptions{Disabled: true},
	})
	return client.Connect(ctx, b.transport(newTap(b.log, c)), nil)
}

// call is one tool call in flight on a client's upstream session.
type call struct {
	ctx context.Context
	// token is the progress token the client sent, as JSON text, and
	// tokenKey its normalized form for matching.
	token    json.RawMessage
	tokenKey string

	sendMu sync.Mutex
	stream providerv1.ProviderService_CallToolServer

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan *providerv1.ClientResponse
}

func (c *call) send(msg *providerv1.CallToolResponse) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(msg)
}

// readAnswers hands the client's answers to the requests waiting for
// them, until the stream ends.
func (c *call) readAnswers() {
	for {
		msg, err := c.stream.Recv()
		if err != nil {
			return
		}
		r := msg.GetResponse()
		if r == nil {
			continue
		}
		c.mu.Lock()
		ch := c.pending[r.GetId()]
		delete(c.pending, r.GetId())
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// request sends a request to the client and waits for the answer: the
// client's result, or its JSON-RPC error, as JSON text either way. key
// names the request among an input_required result's inputRequests.
func (c *call) request(ctx context.Context, method, key string, params json.RawMessage) (
	json.RawMessage, *jsonrpc.Error) {
	ch := make(chan *providerv1.ClientResponse, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	if c.pending == nil {
		c.pending = map[int64]chan *providerv1.ClientResponse{}
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	err := c.send(&providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Request{
		Request: &providerv1.ClientRequest{Id: id, Method: method, Key: key,
			ParamsJson: string(params)}}})
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: fmt.Sprintf("relay %s: %v", method, err)}
	}
	select {
	case r := <-ch:
		if r.GetErrorJson() != "" {
			return nil, clientError(r.GetErrorJson())
		}
		return json.RawMessage(r.GetResultJson()), nil
	case <-ctx.Done():
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: fmt.Sprintf("%s: %v", method, ctx.Err())}
	case <-c.ctx.Done():
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: fmt.Sprintf("%s: %v", method, c.ctx.Err())}
	}
}

// clientError decodes the client's JSON-RPC error object, data and all.
func clientError(text string) *jsonrpc.Error {
	e := &jsonrpc.Error{}
	if err := json.Unmarshal([]byte(text), e); err != nil || e.Code == 0 {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "client failed: " + text}
	}
	return e
}

func (cc *clientConn) addCall(c *call) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.calls = append(cc.calls, c)
}

func (cc *clientConn) removeCall(c *call) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.calls = slices.DeleteFunc(cc.calls, func(x *call) bool { return x == c })
}

// latestCall is the call a message from the upstream goes to when the
// transport cannot tell which call it belongs to: the latest one still
// running. Over Streamable HTTP, what comes on a call's own stream goes
// to that call (see tapRoundTripper).
//
// Known shortcoming: over stdio and HTTP+SSE, and for messages an
// upstream sends on its standalone Streamable HTTP stream, log messages
// and requests to the client carry nothing that names their call, so
// while one client session runs several calls on the same upstream at
// once they all go to the latest call. Progress notifications are
// matched by their token and are not affected. A request the upstream
// sends while no call runs (say roots/list right after initialization)
// is refused, since only a call's stream reaches the client.
func (cc *clientConn) latestCall() *call {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.calls) == 0 {
		return nil
	}
	return cc.calls[len(cc.calls)-1]
}

// onProgress relays notifications/progress to the call whose progress
// token it names, with the token exactly as the client wrote it.
func (cc *clientConn) onProgress(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
	key := tokenKey(r.Params.ProgressToken)
	cc.mu.Lock()
	var target *call
	for _, c := range cc.calls {
		if c.tokenKey != "" && c.tokenKey == key {
			target = c
		}
	}
	cc.mu.Unlock()
	if target == nil {
		return
	}
	params, err := withMember(r.Params, "progressToken", target.token)
	if err != nil {
		return
	}
	target.send(notification("notifications/progress", params))
}

// relayProgress relays notifications/progress params, as they came, to
// c when they name its progress token, and reports whether they did.
func (c *call) relayProgress(params json.RawMessage) bool {
	var p struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	}
	if json.Unmarshal(params, &p) != nil || c.tokenKey == "" ||
		tokenKey(p.ProgressToken) != c.tokenKey {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(params, &obj) != nil {
		return false
	}
	obj["progressToken"] = c.token
	data, err := json.Marshal(obj)
	if err != nil {
		return false
	}
	c.send(notification("notifications/progress", data))
	return true
}

// onLog relays notifications/message to the call it belongs to.
func (cc *clientConn) onLog(_ context.Context, r *mcp.LoggingMessageRequest) {
	c := cc.latestCall()
	if c == nil {
		return
	}
	params, err := json.Marshal(r.Params)
	if err != nil {
		return
	}
	c.send(notification("notifications/message", params))
}

func notification(method string, params []byte) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Notification{
		Notification: &providerv1.Notification{Method: method, ParamsJson: string(params)}}}
}

// tokenKey normalizes a progress token for matching: the upstream's
// token comes back decoded by the SDK, the client's is JSON text.
func tokenKey(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case json.RawMessage:
		var x any
		if json.Unmarshal(t, &x) != nil {
			return ""
		}
		v = x
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

// withMember encodes v as a JSON object with member name set to value.
func withMember(v any, name string, value json.RawMessage) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	obj[name] = value
	return json.Marshal(obj)
}

// metaToken returns the progress token of a _meta object, as JSON text.
func metaToken(meta map[string]json.RawMessage) json.RawMessage {
	t := meta["progressToken"]
	if len(bytes.TrimSpace(t)) == 0 || string(t) == "null" {
		return nil
	}
	return t
}

var errNoStart = errors.New("first message must be a CallToolStart")
