package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"switchboard.dev/pkg/redisx"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// idPrefix starts the id of every request the registry sends a client:
// "sb/<instance>/<call>/<provider's request id>", followed by "/<key>"
// when the provider named the request for stateless clients (see
// requestID).
const idPrefix = "sb"

// requestID builds the id of a request to the client. The provider's key,
// if any, rides at the end, so that the gateway can name the request in an
// input_required result with it and still route the answer here.
func requestID(instance, call string, n int64, key string) string {
	id := fmt.Sprintf("%s/%s/%s/%d", idPrefix, instance, call, n)
	if key != "" {
		id += "/" + key
	}
	return id
}

// Client answers and cancellations reach the replica that runs the call
// through Redis pub/sub: each replica subscribes at start to its own
// inbox channel and to the cancel channel that all replicas share.

// inboxChannel is the channel of the replica with the given instance id.
func (s *Server) inboxChannel(instance string) string {
	return redisx.Tag(s.store.ns, "registry") + ":inbox:" + instance
}

// cancelChannel is the channel every replica hears cancellations on.
func (s *Server) cancelChannel() string {
	return redisx.Tag(s.store.ns, "registry") + ":cancel"
}

// cancellation is a client's notifications/cancelled as published.
type cancellation struct {
	Session string `json:"session"`
	// Request is the canonical request id (see requestKey).
	Request string `json:"request"`
	Reason  string `json:"reason,omitempty"`
}

// Listen subscribes this replica to its inbox and to the cancel channel,
// and handles their messages until stop is called. It returns once
// Redis confirmed the subscription, so that no answer sent afterwards is
// missed.
func (s *Server) Listen(ctx context.Context) (stop func(), err error) {
	ps := s.store.rdb.Subscribe(ctx, s.inboxChannel(s.instance), s.cancelChannel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("subscribe to registry channels: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			s.onMessage(m)
		}
	}()
	return func() { ps.Close(); <-done }, nil
}

// onMessage handles one pub/sub message.
func (s *Server) onMessage(m *redis.Message) {
	if m.Channel == s.cancelChannel() {
		var c cancellation
		if err := json.Unmarshal([]byte(m.Payload), &c); err != nil {
			s.log.Warn("malformed cancellation dropped", "err", err)
			return
		}
		s.cancelLocal(c)
		return
	}
	var a answer
	if err := json.Unmarshal([]byte(m.Payload), &a); err != nil {
		s.log.Warn("malformed answer dropped", "err", err)
		return
	}
	s.deliverLocal(a)
}

// DeliverResponse hands a client's answer to the call that asked, on
// whichever replica it runs. Answers to unknown, foreign or finished
// requests are dropped without telling the client, which must not be
// able to probe for other sessions' requests.
func (s *Server) DeliverResponse(ctx context.Context, req *registryv1.DeliverResponseRequest) (
	*registryv1.DeliverResponseResponse, error) {
	a, instance, err := parseAnswer(req)
	if err != nil {
		return nil, s.toStatus("DeliverResponse", err)
	}
	switch {
	case instance == "":
		s.log.Debug("answer to an unknown request dropped", "session_id", req.GetSessionId())
	case instance == s.instance:
		s.deliverLocal(a)
	default:
		if err := s.publish(ctx, s.inboxChannel(instance), a); err != nil {
			return nil, s.toStatus("DeliverResponse", err)
		}
	}
	return &registryv1.DeliverResponseResponse{}, nil
}

// parseAnswer reads a client's JSON-RPC response. An id the registry did
// not issue yields an empty instance.
func parseAnswer(req *registryv1.DeliverResponseRequest) (answer, string, error) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	a := answer{Session: req.GetSessionId()}
	if req.GetSessionId() == "" {
		return a, "", errorf(ErrInvalid, "session_id: required")
	}
	if !isJSONObject(req.GetMessageJson()) ||
		json.Unmarshal([]byte(req.GetMessageJson()), &m) != nil {
		return a, "", errorf(ErrInvalid, "message_json: want a JSON-RPC response object")
	}
	if (m.Result == nil) == (m.Error == nil) {
		return a, "", errorf(ErrInvalid, "message_json: want exactly one of result and error")
	}
	a.Result, a.Error = m.Result, m.Error
	var id string
	if json.Unmarshal(m.ID, &id) != nil {
		return a, "", nil
	}
	parts := strings.SplitN(id, "/", 5)
	if len(parts) < 4 || parts[0] != idPrefix || parts[1] == "" || parts[2] == "" {
		return a, "", nil
	}
	n, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return a, "", nil
	}
	a.Call, a.Request = parts[2], n
	return a, parts[1], nil
}

// deliverLocal queues an answer for a call of this replica, if the call
// still runs and belongs to the answering session.
func (s *Server) deliverLocal(a answer) {
	c := s.calls.byCallID(a.Call)
	if c == nil || c.session != a.Session {
		s.log.Debug("answer to an unknown request dropped", "call", a.Call)
		return
	}
	c.inbox.put(a)
}

// CancelCall cancels a call on behalf of the client, on whichever
// replica runs it. Cancelling an unknown or finished call is not an
// error: the client's notification may cross the call's end.
func (s *Server) CancelCall(ctx context.Context, req *registryv1.CancelCallRequest) (
	*registryv1.CancelCallResponse, error) {
	if req.GetSessionId() == "" {
		return nil, s.toStatus("CancelCall", errorf(ErrInvalid, "session_id: required"))
	}
	key, err := requestKey(req.GetRequestIdJson())
	if err != nil {
		return nil, s.toStatus("CancelCall", err)
	}
	c := cancellation{Session: req.GetSessionId(), Request: key, Reason: req.GetReason()}
	if s.cancelLocal(c) {
		return &registryv1.CancelCallResponse{}, nil
	}
	if err := s.publish(ctx, s.cancelChannel(), c); err != nil {
		return nil, s.toStatus("CancelCall", err)
	}
	return &registryv1.CancelCallResponse{}, nil
}

// cancelLocal cancels the named call if it runs here.
func (s *Server) cancelLocal(c cancellation) bool {
	call := s.calls.byRequest(c.Session, c.Request)
	if call == nil {
		return false
	}
	s.log.Debug("cancelling call", "session_id", c.Session, "call", call.id, "reason", c.Reason)
	call.cancel(errCancelled)
	return true
}

// publish sends v as JSON on a channel. Values are written without HTML
// escaping, so that the client's JSON reaches the call as it was.
func (s *Server) publish(ctx context.Context, channel string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if err := s.store.rdb.Publish(ctx, channel, buf.String()).Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}
