package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

type callStream = grpc.BidiStreamingServer[providerv1.CallToolRequest, providerv1.CallToolResponse]

// exchange carries one CallTool stream's traffic after the CallToolStart:
// notifications and requests for the client go out, the client's answers
// come in. A receive loop runs beside the handler, because answers arrive
// while the handler waits for them.
type exchange struct {
	stream callStream
	log    *slog.Logger

	// sendMu serializes sends, which gRPC does not allow concurrently,
	// and guards ended: once the result is out nothing may follow it.
	sendMu sync.Mutex
	ended  bool

	// mu guards the requests waiting for an answer and the keys used so
	// far. closed is set when no more answers can arrive.
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan *providerv1.ClientResponse
	keys    map[string]bool
	closed  bool
}

func newExchange(stream callStream, log *slog.Logger) *exchange {
	return &exchange{
		stream:  stream,
		log:     log,
		pending: make(map[int64]chan *providerv1.ClientResponse),
		keys:    make(map[string]bool),
	}
}

// send sends one interim message.
func (x *exchange) send(ctx context.Context, msg *providerv1.CallToolResponse) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x.sendMu.Lock()
	defer x.sendMu.Unlock()
	if x.ended {
		return ErrCallEnded
	}
	if err := x.stream.Send(msg); err != nil {
		// The stream is broken: the caller went away.
		x.ended = true
		return ErrCallEnded
	}
	return nil
}

// finish sends the result, when there is one, and ends the exchange so
// that nothing follows it. Requests still waiting fail with ErrCallEnded.
func (x *exchange) finish(res *providerv1.ToolResult) error {
	x.sendMu.Lock()
	ended := x.ended
	x.ended = true
	var err error
	if res != nil && !ended {
		err = x.stream.Send(&providerv1.CallToolResponse{
			Message: &providerv1.CallToolResponse_Result{Result: res},
		})
	}
	x.sendMu.Unlock()
	x.close()
	return err
}

// receive reads the caller's answers until the stream ends. It returns
// once the RPC is over, since gRPC ends a server stream's receives when
// its handler returns.
func (x *exchange) receive() {
	defer x.close()
	for {
		msg, err := x.stream.Recv()
		if err != nil {
			return
		}
		resp := msg.GetResponse()
		if resp == nil {
			x.log.Warn("unexpected message on a call stream", "want", "ClientResponse")
			continue
		}
		x.deliver(resp)
	}
}

// deliver hands an answer to the request waiting for it.
func (x *exchange) deliver(resp *providerv1.ClientResponse) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ch, ok := x.pending[resp.GetId()]
	if !ok {
		// The request was given up on, or never made.
		x.log.Debug("response to no pending request dropped", "request_id", resp.GetId())
		return
	}
	delete(x.pending, resp.GetId())
	ch <- resp
}

// close fails every waiting request: no answer can arrive any more.
func (x *exchange) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	for id, ch := range x.pending {
		delete(x.pending, id)
		close(ch)
	}
}

// request sends a request to the client, named key when key is not
// empty, and waits for its answer.
func (x *exchange) request(ctx context.Context, method, params, key string) (
	json.RawMessage, error) {
	id, ch, err := x.expect(key)
	if err != nil {
		return nil, err
	}
	defer x.forget(id)
	msg := &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Request{
		Request: &providerv1.ClientRequest{Id: id, Method: method, ParamsJson: params, Key: key},
	}}
	if err := x.send(ctx, msg); err != nil {
		return nil, err
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrCallEnded
		}
		if e := resp.GetErrorJson(); e != "" {
			return nil, clientError(e)
		}
		if r := resp.GetResultJson(); r != "" {
			return json.RawMessage(r), nil
		}
		return json.RawMessage("{}"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// expect registers a new request id and the channel its answer will
// arrive on, and claims key for the call.
func (x *exchange) expect(key string) (int64, chan *providerv1.ClientResponse, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, nil, ErrCallEnded
	}
	if key != "" {
		// A key stays taken after its request is answered: a gateway
		// matches a stateless client's answers to requests by key, so a
		// reused key could hand an old answer to a new question.
		if x.keys[key] {
			return 0, nil, fmt.Errorf("request key %q: %w", key, ErrDuplicateKey)
		}
		x.keys[key] = true
	}
	x.nextID++
	ch := make(chan *providerv1.ClientResponse, 1)
	x.pending[x.nextID] = ch
	return x.nextID, ch, nil
}

// forget drops a request that is answered or given up on.
func (x *exchange) forget(id int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.pending, id)
}
