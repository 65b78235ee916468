package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The bridge is a proxy: what the upstream and the client say to each
// other must pass unjudged and unchanged. The SDK client decodes results
// into its own types (dropping members it does not model, turning
// numbers into float64) and validates the upstream's requests to the
// client before its handlers see them. So the bridge keeps the SDK for
// the session's life cycle and for sending requests, and taps the
// JSON-RPC traffic underneath it: the upstream's requests to the client
// are answered by the bridge without the SDK seeing them, and the
// answers to the bridge's own requests are captured as they came.

// errNoResponse reports a request whose answer can never arrive: the
// upstream ended the stream that was to carry it, without an event id to
// resume from (MCP 2025-11-25, Streamable HTTP, resumability). Whether
// the request took effect is unknown.
var errNoResponse = errors.New("upstream ended the request without a response and " +
	"without a way to resume it")

// exchange follows one request the bridge sends upstream. It says what
// to add to the request's params on the wire, and receives the
// upstream's answer exactly as it came.
type exchange struct {
	// call is the tool call the request serves, nil for other requests.
	call *call
	// extra are params members set on the wire as given: the
	// inputResponses and requestState of a multi round-trip retry, which
	// the SDK's types would re-encode.
	extra map[string]json.RawMessage

	mu     sync.Mutex
	result json.RawMessage
	rpcErr *jsonrpc.Error
	lost   bool
	// forget stops the tap that matches answers by id from tracking it.
	forget func()
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// settle records the upstream's answer. An error the SDK made up (not
// one that came on the wire) is left to the SDK.
func (ex *exchange) settle(r *jsonrpc.Response) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if r.Error == nil {
		ex.result = append(json.RawMessage(nil), r.Result...)
		return
	}
	if e, ok := r.Error.(*jsonrpc.Error); ok {
		ex.rpcErr = &jsonrpc.Error{Code: e.Code, Message: e.Message,
			Data: append(json.RawMessage(nil), e.Data...)}
	}
}

// markLost records that the stream meant to carry the answer ended
// without it and without a way to resume it.
func (ex *exchange) markLost() {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.result == nil && ex.rpcErr == nil {
		ex.lost = true
	}
}

func (ex *exchange) outcome() (json.RawMessage, *jsonrpc.Error, bool) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.result, ex.rpcErr, ex.lost
}

func (ex *exchange) close() {
	ex.mu.Lock()
	forget := ex.forget
	ex.mu.Unlock()
	if forget != nil {
		forget()
	}
}

// apply returns params with the exchange's extra members set.
func (ex *exchange) apply(params json.RawMessage) (json.RawMessage, error) {
	if len(ex.extra) == 0 {
		return params, nil
	}
	obj := map[string]json.RawMessage{}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	for k, v := range ex.extra {
		obj[k] = v
	}
	return json.Marshal(obj)
}

// roundTrip sends one request through the SDK (send, given ctx carrying
// ex) and returns the upstream's result as it came. The SDK may refuse a
// result it cannot model; the upstream's answer still counts.
//
// Known shortcoming: a result the SDK served from its own cache (ttlMs,
// SEP-2549) never crossed the wire, so it is encoded from the SDK's
// types, with what they drop.
func roundTrip(ctx context.Context, ex *exchange,
	send func(context.Context) (any, error)) (json.RawMessage, error) {
	defer ex.close()
	typed, err := send(withExchange(ctx, ex))
	result, rpcErr, lost := ex.outcome()
	switch {
	case result != nil:
		return result, nil
	case rpcErr != nil:
		return nil, rpcErr
	case err != nil && lost && ctx.Err() == nil:
		return nil, fmt.Errorf("%w: %v", errNoResponse, err)
	case err != nil:
		return nil, err
	}
	data, err := json.Marshal(typed)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return data, nil
}

// relayed are the upstream's requests the bridge answers itself: the
// requests to the client, passed on raw, and ping.
var relayed = map[string]bool{
	"elicitation/create":     true,
	"sampling/createMessage": true,
	"roots/list":             true,
	"ping":                   true,
}

// tap sees the JSON-RPC traffic of one upstream session before the SDK.
type tap struct {
	log *slog.Logger
	// owner is the client session whose calls the upstream's requests go
	// to; nil for the catalogue session, which relays none.
	owner *clientConn

	mu   sync.Mutex
	conn mcp.Connection
	// pending matches answers to requests by id, on connections where
	// the answer does not come with the request's own HTTP exchange.
	pending map[jsonrpc.ID]*exchange
}

func newTap(log *slog.Logger, owner *clientConn) *tap {
	return &tap{log: log, owner: owner, pending: map[jsonrpc.ID]*exchange{}}
}

func (t *tap) setConn(c mcp.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn = c
}

func (t *tap) track(id jsonrpc.ID, ex *exchange) {
	t.mu.Lock()
	t.pending[id] = ex
	t.mu.Unlock()
	ex.mu.Lock()
	ex.forget = func() { t.untrack(id) }
	ex.mu.Unlock()
}

func (t *tap) untrack(id jsonrpc.ID) *exchange {
	t.mu.Lock()
	defer t.mu.Unlock()
	ex := t.pending[id]
	delete(t.pending, id)
	return ex
}

// intercept answers msg when it is a request the bridge relays, and
// reports whether it did; the SDK must then not see it. c is the call
// the request came with, nil when the transport cannot tell.
func (t *tap) intercept(msg *jsonrpc.Request, c *call) bool {
	if !msg.IsCall() || !relayed[msg.Method] {
		return false
	}
	go t.answer(msg, c)
	return true
}

// answer relays the upstream's request to the client and writes the
// client's result or error back, both as they came.
func (t *tap) answer(req *jsonrpc.Request, c *call) {
	resp := &jsonrpc.Response{ID: req.ID}
	result, rpcErr := t.relay(req, c)
	if rpcErr != nil {
		resp.Error = rpcErr
	} else {
		resp.Result = result
	}
	t.mu.Lock()
	conn := t.conn
	t.mu.Unlock()
	if conn == nil {
		return
	}
	// The answer is not part of any request of the bridge's: it gets a
	// bound of its own.
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if err := conn.Write(ctx, resp); err != nil {
		t.log.Debug("answer to upstream request not sent", "method", req.Method, "err", err)
	}
}

func (t *tap) relay(req *jsonrpc.Request, c *call) (json.RawMessage, *jsonrpc.Error) {
	// A ping asks whether the upstream's peer, the bridge, is there.
	if req.Method == "ping" {
		return json.RawMessage("{}"), nil
	}
	if c == nil && t.owner != nil {
		c = t.owner.latestCall()
	}
	if c == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError,
			Message: req.Method + ": no tool call in progress to relay the request to the client"}
	}
	return c.request(c.ctx, req.Method, "", req.Params)
}

// tapTransport hands the tap the connection its session runs on. wrap
// puts the tap in the connection's path; it must stay off for Streamable
// HTTP, whose connection the SDK tells about the negotiated session
// through a method a wrapper cannot forward (there the tap sits in the
// HTTP client instead, see tapRoundTripper).
type tapTransport struct {
	inner mcp.Transport
	tap   *tap
	wrap  bool
}

func (tt *tapTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := tt.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	tt.tap.setConn(conn)
	if !tt.wrap {
		return conn, nil
	}
	return &tapConn{Connection: conn, tap: tt.tap}, nil
}

// tapConn taps a connection that carries every message of the session
// (stdio, HTTP+SSE). It cannot tell which call a request of the
// upstream's belongs to.
type tapConn struct {
	mcp.Connection
	tap *tap
}

func (c *tapConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	req, ok := msg.(*jsonrpc.Request)
	ex := exchangeFrom(ctx)
	if !ok || !req.IsCall() || ex == nil {
		return c.Connection.Write(ctx, msg)
	}
	params, err := ex.apply(req.Params)
	if err != nil {
		return fmt.Errorf("%s: %w", req.Method, err)
	}
	out := *req
	out.Params = params
	c.tap.track(req.ID, ex)
	return c.Connection.Write(ctx, &out)
}

func (c *tapConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, err := c.Connection.Read(ctx)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			if ex := c.tap.untrack(m.ID); ex != nil {
				ex.settle(m)
			}
		case *jsonrpc.Request:
			if c.tap.intercept(m, nil) {
				continue
			}
		}
		return msg, nil
	}
}
