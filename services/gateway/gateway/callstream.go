package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// streamCall answers tools/call with a resumable SSE stream. The registry
// runs the call detached from this request and logs every message of it
// in the session's event log, so that the client can lose this connection,
// or this replica can die, and the client still gets every message by
// resuming the stream with Last-Event-ID on any replica.
func (h *Handler) streamCall(w http.ResponseWriter, r *http.Request, sess *sessionv1.Session, m *message, wantJSON bool) {
	if _, ok := requestedTask(m.Params); ok {
		// A task is answered at once, without a stream (tasks.go).
		result, err := h.callTool(r.Context(), sess, m.Params)
		replier{w: w, json: wantJSON}.reply(m.ID, result, err)
		return
	}
	req, err := callRequest(sess, m.Params)
	if err != nil {
		replier{w: w, json: wantJSON}.reply(m.ID, nil, err)
		return
	}
	req.Stream = newStreamName()
	req.RequestIdJson = string(m.ID)

	// The RPC is detached from the client until the registry confirms
	// that the call runs (its headers): a client that leaves right after
	// the priming event must not cancel a call before it starts, or its
	// stream would have nothing to resume.
	rpcCtx, cancelRPC := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancelRPC()
	calls, err := h.registry.CallTool(rpcCtx, req)
	if err == nil {
		_, err = calls.Header()
	}
	if err != nil {
		// Refused before it ran (unknown tool, bad arguments): a plain
		// answer, no stream.
		replier{w: w, json: wantJSON}.write(h.callFailure(sess, req, m.ID, err))
		return
	}
	s, err := startSSE(w)
	if err != nil {
		return
	}
	if s.prime(primingID(req.Stream), retryField(h.cfg.SSERetry)) != nil {
		return
	}
	ctx := r.Context()
	go h.keepSession(ctx, sess)
	recv, done := relay(ctx, func() (item, error) {
		resp, err := calls.Recv()
		if err != nil {
			return item{}, err
		}
		if res := resp.GetResult(); res != nil {
			// A result outside the log: the call was not streamed (a
			// registry that does not stream answers this way).
			body := response(m.ID, resultFromProto(res), nil)
			return item{event: &sessionv1.Event{MessageJson: string(body), Final: true}}, nil
		}
		cs := resp.GetCloseStream()
		return item{event: resp.GetEvent(), closeStream: cs != nil,
			retry: time.Duration(cs.GetRetryMs()) * time.Millisecond}, nil
	})
	err = h.pump(ctx, s, recv, done)
	if err == nil || ctx.Err() != nil || h.isClosing() {
		return
	}
	h.lostCall(s, sess, req, m.ID, err)
}

// lostCall answers a call whose relay broke before its response: the
// registry running it is gone, so nothing more will be logged for the
// stream. The failure is logged as the stream's final event, so that a
// client resuming the stream elsewhere gets it too instead of waiting.
func (h *Handler) lostCall(s *sseWriter, sess *sessionv1.Session, req *registryv1.CallToolRequest,
	id json.RawMessage, err error) {
	body := h.callFailure(sess, req, id, err)
	// Detached: the answer is worth logging even if the client just left.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, aerr := h.sessions.AppendEvent(ctx, &sessionv1.AppendEventRequest{
		SessionId: sess.GetId(), Stream: req.GetStream(), MessageJson: string(body), Final: true,
	})
	if aerr != nil {
		h.log.Warn("log lost call", sessionAttr(sess.GetId()), "err", aerr)
	}
	s.event(ev.GetEventId(), body)
}

// callFailure renders a failed streamed call as its JSON-RPC response.
func (h *Handler) callFailure(sess *sessionv1.Session, req *registryv1.CallToolRequest, id json.RawMessage, err error) []byte {
	if rerr := taskRefused(err); rerr != nil {
		return response(id, nil, rerr)
	}
	if msg, ok := toolFailure(err, sess.GetProtocolVersion()); ok {
		h.log.Warn("tool call failed", sessionAttr(sess.GetId()), "tool", req.GetName(), "err", err)
		return response(id, errorResult(msg), nil)
	}
	return response(id, nil, methodError(err))
}
