package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// maxRequestKey bounds the name a provider gives a request to the client.
const maxRequestKey = 128

// appendTimeout bounds one AppendEvent, including waiting for a session
// service replica to become reachable.
const appendTimeout = 10 * time.Second

// callStreamed runs a call whose messages are logged to a session stream.
// The call is checked and routed here, so that an unknown tool fails the
// RPC; then it runs detached from the RPC, which only relays its events
// until the final one: a gateway that dies does not end the call, and the
// client resumes its stream from the session's log on any replica.
func (s *Server) callStreamed(ctx context.Context, req *registryv1.CallToolRequest,
	send func(*registryv1.CallToolResponse) error) error {
	if err := validateStreamed(req); err != nil {
		return err
	}
	key, _ := requestKey(req.GetRequestIdJson())
	tool, addr, client, release, err := s.route(ctx, req.GetName())
	if err != nil {
		return err
	}
	if req.GetCheckParamHeaders() {
		if err := checkParamHeaders(tool.GetTool().GetInputSchemaJson(), req.GetArgumentsJson(),
			req.GetParamHeaders()); err != nil {
			release()
			return err
		}
	}

	// Detached on purpose: the call outlives this RPC, and ends with its
	// result, the call timeout, CancelCall or shutdown.
	callCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c, err := s.calls.add(req.GetSessionId(), key, cancel, true)
	if err != nil {
		cancel(nil)
		release()
		return err
	}
	r := &streamedCall{s: s, c: c, req: req, tool: tool, addr: addr, out: newRelay(),
		pending: make(map[int64]string)}
	go r.detach(callCtx, cancel, client, release)
	// Headers tell the caller that the call now exists and will be logged
	// to the end, so that the gateway offers the client a resumable stream
	// only for a call that runs. A caller already gone changes nothing.
	grpc.SendHeader(ctx, metadata.MD{})
	return r.out.serve(ctx, send)
}

// detach runs the call to its end, then frees what it held. ctx is the
// call's own, detached from any RPC, and cancel is its cancel func.
//
// Known shortcoming: the call lives only in this registry process. If the
// process dies, the provider's stream breaks and nothing finishes the
// call: a client resuming its stream waits for a response that never
// comes (a task stays "working" until its ttl). Surviving that needs the
// call's progress recorded in Redis and a takeover by another replica.
func (r *streamedCall) detach(ctx context.Context, cancel context.CancelCauseFunc,
	client providerv1.ProviderServiceClient, release func()) {
	defer r.s.calls.remove(r.c)
	defer release()
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, r.s.cfg.CallTimeout, errCallTimeout)
	defer stop()
	r.run(ctx, client)
}

// streamedCall is the state of one detached call.
type streamedCall struct {
	s    *Server
	c    *call
	req  *registryv1.CallToolRequest
	tool *registryv1.CatalogTool
	addr string
	out  *relay
	ps   providerStream
	// pending maps the provider's ids of unanswered requests to the ids
	// the client saw.
	pending map[int64]string
	// gone is set once the session was found missing.
	gone bool
	// task follows the call of a task; nil for other calls.
	task *taskCall
}

// received is one outcome of the provider stream's Recv.
type received struct {
	msg *providerv1.CallToolResponse
	err error
}

// run drives the call until it ends, then tells the relay.
func (r *streamedCall) run(ctx context.Context, client providerv1.ProviderServiceClient) {
	defer r.out.end()
	ps, err := r.s.open(ctx, client, r.tool, r.req)
	if err != nil {
		r.fail(ctx, err)
		return
	}
	r.ps = ps
	msgs := make(chan received)
	go func() {
		for {
			msg, err := ps.Recv()
			select {
			case msgs <- received{msg, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	r.loop(ctx, msgs)
}

// loop handles the provider's messages, the client's answers and the
// call's cancellation until the call ends.
func (r *streamedCall) loop(ctx context.Context, msgs <-chan received) {
	for {
		select {
		case m := <-msgs:
			if m.err != nil {
				r.fail(ctx, m.err)
				return
			}
			if r.handle(ctx, m.msg) {
				return
			}
		case <-r.c.inbox.ready:
			r.deliver(ctx, r.c.inbox.take())
		case <-ctx.Done():
			r.fail(ctx, ctx.Err())
			return
		}
	}
}

// handle passes one provider message on and reports whether it ended the
// call.
func (r *streamedCall) handle(ctx context.Context, msg *providerv1.CallToolResponse) bool {
	switch m := msg.GetMessage().(type) {
	case *providerv1.CallToolResponse_Result:
		r.result(ctx, m.Result)
		return true
	case *providerv1.CallToolResponse_Notification:
		r.notification(ctx, m.Notification)
	case *providerv1.CallToolResponse_Request:
		return r.request(ctx, m.Request)
	case *providerv1.CallToolResponse_CloseStream:
		// Not logged: it concerns only the client's current connection.
		r.out.send(&registryv1.CallToolResponse{
			Message: &registryv1.CallToolResponse_CloseStream{CloseStream: m.CloseStream},
		})
	}
	return false
}

// result ends the call with the provider's result.
func (r *streamedCall) result(ctx context.Context, res *providerv1.ToolResult) {
	result, err := toolResultJSON(res)
	if err != nil {
		r.fail(ctx, errorf(ErrProvider, "provider %q returned an invalid result: %v",
			r.tool.GetProvider(), err))
		return
	}
	msg, err := rpcResponse(r.req.GetRequestIdJson(), result)
	if err != nil {
		r.fail(ctx, err)
		return
	}
	r.finish(ctx, msg)
}

// fail ends the call after err: a cancelled call ends without a
// response, any other failure with the response the client would get
// from a call without a stream.
func (r *streamedCall) fail(ctx context.Context, err error) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errSessionGone):
		return
	case errors.Is(cause, errCancelled):
		r.s.log.Info("tool call cancelled", "tool", r.req.GetName(),
			"session_id", r.req.GetSessionId())
		r.finish(ctx, "")
		return
	case errors.Is(cause, errShutdown):
		err = errorf(ErrProvider, "the registry stopped before the call ended")
	case !isKnown(err):
		err = r.s.providerErr(ctx, r.tool.GetProvider(), r.addr, toolWhat(r.tool), err)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProvider) {
		r.s.log.Warn("tool call failed", "tool", r.req.GetName(), "reason", err)
	}
	msg, merr := failureResponse(r.req.GetRequestIdJson(), err, r.req.GetProtocolVersion())
	if merr != nil {
		r.s.log.Error("build failure response", "tool", r.req.GetName(), "err", merr)
		return
	}
	r.finish(ctx, msg)
}

// isKnown tells whether err was already classified.
func isKnown(err error) bool {
	var k *kindError
	return errors.As(err, &k)
}

// finish withdraws the unanswered requests to the client and logs the
// final event: the response, or an empty marker for a cancelled call.
func (r *streamedCall) finish(ctx context.Context, msg string) {
	reason := "the tool call ended"
	if msg == "" {
		reason = "the tool call was cancelled"
	}
	ids := make([]int64, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		params := `{"requestId":` + r.pending[id] + `,"reason":` + jsonString(reason) + `}`
		note, err := rpcNotification("notifications/cancelled", params)
		if err == nil {
			r.emit(ctx, note, false)
		}
		delete(r.pending, id)
	}
	if r.task.finish(ctx, r, msg) {
		return
	}
	r.emit(ctx, msg, true)
}

// notification logs a notification for the client, unless it is a log
// message below the session's level.
func (r *streamedCall) notification(ctx context.Context, n *providerv1.Notification) {
	params := n.GetParamsJson()
	if n.GetMethod() == "" || (params != "" && !isJSONObject(params)) {
		r.s.log.Warn("malformed notification dropped", "tool", r.req.GetName(),
			"provider", r.tool.GetProvider(), "method", n.GetMethod())
		return
	}
	if n.GetMethod() == "notifications/message" && !logPasses(r.req.GetLogLevel(), params) {
		return
	}
	msg, err := rpcNotification(n.GetMethod(), params)
	if err != nil {
		return
	}
	r.emit(ctx, msg, false)
}

// request logs a request to the client under an id that names this
// instance and call, so that the answer finds its way back from any
// replica. Requests the client cannot take are refused at once: to the
// provider for the session-based revisions, which let a tool carry on
// without the capability; from 2026-07-28 on, the whole request fails
// with MissingRequiredClientCapability, as that revision requires. It
// reports whether that ended the call.
func (r *streamedCall) request(ctx context.Context, q *providerv1.ClientRequest) bool {
	refuse := func(msg string) {
		answerProvider(r.ps, q.GetId(), "", errorObject(codeInternalError, msg))
	}
	params := q.GetParamsJson()
	switch {
	case q.GetMethod() == "" || (params != "" && !isJSONObject(params)):
		refuse("malformed request: want a method and an object of params")
		return false
	case r.pending[q.GetId()] != "":
		refuse(fmt.Sprintf("request id %d is already pending", q.GetId()))
		return false
	case len(q.GetKey()) > maxRequestKey:
		refuse(fmt.Sprintf("request key: want at most %d bytes", maxRequestKey))
		return false
	}
	if missing := missingCapability(r.req.GetClientCapabilitiesJson(), q.GetMethod(),
		params); missing != "" {
		if statelessRevision(r.req.GetProtocolVersion()) {
			msg, err := missingCapabilityResponse(r.req.GetRequestIdJson(), missing)
			if err == nil {
				r.finish(ctx, msg)
				return true
			}
		}
		refuse("client does not support " + missing)
		return false
	}
	id := jsonString(requestID(r.s.instance, r.c.id, q.GetId(), q.GetKey()))
	msg, err := rpcRequest(id, q.GetMethod(), params)
	if err != nil {
		refuse("malformed request")
		return false
	}
	r.pending[q.GetId()] = id
	r.task.asked(ctx, id, msg)
	r.emit(ctx, msg, false)
	return false
}

// deliver passes the client's answers to the provider.
func (r *streamedCall) deliver(ctx context.Context, answers []answer) {
	for _, a := range answers {
		if r.pending[a.Request] == "" {
			r.s.log.Debug("answer to no pending request dropped", "call", r.c.id,
				"request", a.Request)
			continue
		}
		id := r.pending[a.Request]
		delete(r.pending, a.Request)
		answerProvider(r.ps, a.Request, string(a.Result), string(a.Error))
		r.task.answered(ctx, id)
	}
}

// emit logs one message of the call to the session and relays it to the
// caller. An empty final message is the marker of a cancelled call.
func (r *streamedCall) emit(ctx context.Context, msg string, final bool) {
	if r.gone {
		return
	}
	msg = r.task.relate(msg, final)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	resp, err := r.s.sessions.AppendEvent(actx, &sessionv1.AppendEventRequest{
		SessionId: r.req.GetSessionId(), Stream: r.req.GetStream(),
		MessageJson: msg, Final: final,
	}, grpc.WaitForReady(true))
	if status.Code(err) == codes.NotFound {
		// The session ended: nothing can reach its client any more.
		r.gone = true
		r.c.cancel(errSessionGone)
		r.out.fail(errorf(ErrNotFound, "session %q not found", r.req.GetSessionId()))
		return
	}
	if err != nil {
		// The event still goes to a connected caller; only resuming it
		// elsewhere is lost.
		r.s.log.Error("append event", "session_id", r.req.GetSessionId(),
			"stream", r.req.GetStream(), "err", err)
	}
	r.out.send(&registryv1.CallToolResponse{Message: &registryv1.CallToolResponse_Event{
		Event: &sessionv1.Event{Id: resp.GetEventId(), MessageJson: msg, Final: final},
	}})
}

// relay hands a detached call's events to the RPC that started it, for as
// long as that RPC lasts. The call never waits for a slow caller: when
// the queue is full the RPC ends, and the caller resumes from the log.
type relay struct {
	items chan relayItem
	// gone is closed when the RPC stopped listening.
	gone chan struct{}
	// lagged is closed when the caller fell behind.
	lagged chan struct{}
	once   sync.Once
}

// relayQueue is how many messages a relay holds for its caller.
const relayQueue = 256

// relayItem is a message for the caller, or the end of the relay with
// err (nil once the final event went out).
type relayItem struct {
	msg *registryv1.CallToolResponse
	err error
	end bool
}

func newRelay() *relay {
	return &relay{items: make(chan relayItem, relayQueue), gone: make(chan struct{}),
		lagged: make(chan struct{})}
}

// send passes msg to the caller, if it still listens.
func (r *relay) send(msg *registryv1.CallToolResponse) { r.put(relayItem{msg: msg}) }

// fail ends the RPC with err.
func (r *relay) fail(err error) { r.put(relayItem{err: err, end: true}) }

// end ends the RPC, which normally ended already with the final event.
func (r *relay) end() {
	r.put(relayItem{err: errorf(ErrProvider, "the call ended without a final event"),
		end: true})
}

func (r *relay) put(it relayItem) {
	select {
	case <-r.gone:
	case r.items <- it:
	default:
		r.once.Do(func() { close(r.lagged) })
	}
}

// serve sends the call's messages until the final event, the end of the
// call or the caller leaving or lagging, whichever comes first.
func (r *relay) serve(ctx context.Context, send func(*registryv1.CallToolResponse) error) error {
	defer close(r.gone)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.lagged:
			return errorf(ErrUnavailable,
				"the caller fell behind the call; resume it from the session stream")
		case it := <-r.items:
			if it.end {
				return it.err
			}
			if err := send(it.msg); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("relay event: %w", err)
			}
			if it.msg.GetEvent().GetFinal() {
				return nil
			}
		}
	}
}
