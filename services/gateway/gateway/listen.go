package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// subscriptionFilter is the notifications member of subscriptions/listen
// (2026-07-28, Subscriptions).
type subscriptionFilter struct {
	ToolsListChanged      bool     `json:"toolsListChanged,omitempty"`
	PromptsListChanged    bool     `json:"promptsListChanged,omitempty"`
	ResourcesListChanged  bool     `json:"resourcesListChanged,omitempty"`
	ResourceSubscriptions []string `json:"resourceSubscriptions,omitempty"`
}

// wants tells whether the filter opted in to a notification.
func (f subscriptionFilter) wants(method string, params json.RawMessage) bool {
	switch method {
	case "notifications/tools/list_changed":
		return f.ToolsListChanged
	case "notifications/prompts/list_changed":
		return f.PromptsListChanged
	case "notifications/resources/list_changed":
		return f.ResourcesListChanged
	case "notifications/resources/updated":
		uri, _ := stringMember(params, "uri")
		return slices.Contains(f.ResourceSubscriptions, uri)
	}
	return false
}

// listen serves subscriptions/listen. The stream is backed by a hidden
// session, the same machinery that feeds the standalone GET stream of the
// session-based revisions: catalogue changes are broadcast to every such
// stream, and resource updates reach the sessions subscribed to the URI,
// whichever replica the provider told. The session lives as long as the
// stream and is deleted when it ends.
func (h *Handler) listen(w http.ResponseWriter, r *http.Request, m *message, rm requestMeta, wantSSE bool) {
	out := statelessReply{w: w}
	var p struct {
		Notifications *subscriptionFilter `json:"notifications"`
	}
	if err := decodeParams(m.Params, &p); err != nil {
		out.fail(m.ID, methodError(err))
		return
	}
	if p.Notifications == nil {
		out.fail(m.ID, newRPCError(codeInvalidParams, "invalid params: notifications is required"))
		return
	}
	if !wantSSE {
		h.refuse(w, r, errNotAcceptableSSE, m.ID)
		return
	}
	if h.isClosing() {
		h.refuse(w, r, errShuttingDown, m.ID)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	created, err := h.sessions.CreateSession(ctx, &sessionv1.CreateSessionRequest{
		ProtocolVersion:        rm.ProtocolVersion,
		ClientInfoJson:         string(rm.ClientInfo),
		ClientCapabilitiesJson: string(rm.ClientCapabilities),
		// Renewed while the stream is open; a stream lost with its replica
		// leaves the session for this long only.
		Ttl: durationpb.New(h.cfg.StatelessCallTTL),
	})
	if err != nil {
		h.log.Error("create listen session", "err", err)
		h.refuse(w, r, errBackend, m.ID)
		return
	}
	sess := created.GetSession()
	defer h.dropSession(sess.GetId())
	filter := *p.Notifications
	for _, uri := range filter.ResourceSubscriptions {
		_, err := h.sessions.Subscribe(ctx, &sessionv1.SubscribeRequest{SessionId: sess.GetId(), Uri: uri})
		if err != nil {
			out.fail(m.ID, methodError(err))
			return
		}
	}
	events, err := h.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{
		SessionId: sess.GetId(), Stream: standaloneStream,
	})
	if err == nil {
		// Headers arrive once the watch is live: nothing published after
		// the acknowledgement is missed.
		_, err = events.Header()
	}
	if err != nil {
		h.refuse(w, r, sessionError(err), m.ID)
		return
	}
	s, err := startSSE(w)
	if err != nil {
		return
	}
	subID := m.ID
	ack, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
		"params": map[string]any{
			"_meta":         map[string]json.RawMessage{metaSubscriptionID: subID},
			"notifications": filter,
		},
	})
	if s.event("", ack) != nil {
		return
	}
	go h.keepSession(ctx, sess)
	recv, done := relay(ctx, func() (item, error) {
		resp, err := events.Recv()
		return item{event: resp.GetEvent()}, err
	})
	t := time.NewTicker(h.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case it := <-recv:
			body, ok := tagSubscription(it.event.GetMessageJson(), subID, filter)
			if ok && s.event("", body) != nil {
				return
			}
		case err := <-done:
			if status.Code(err) != codes.Canceled {
				h.log.Debug("listen stream ended", "reason", status.Code(err).String())
			}
			return
		case <-ctx.Done():
			return
		case <-h.closing:
			// A graceful end: the listen request's own response
			// (2026-07-28, Subscriptions, Graceful Closure).
			res, _ := completeResult(map[string]any{
				"_meta": map[string]json.RawMessage{metaSubscriptionID: subID},
			}, "subscriptions/listen")
			s.event("", response(m.ID, res, nil))
			return
		case <-t.C:
			if s.comment("heartbeat") != nil {
				return
			}
		}
	}
}

// tagSubscription keeps a notification the filter opted in to and marks
// it with the subscription's id; anything else is dropped.
func tagSubscription(body string, subID json.RawMessage, f subscriptionFilter) ([]byte, bool) {
	var n struct {
		JSONRPC string                     `json:"jsonrpc"`
		Method  string                     `json:"method"`
		Params  map[string]json.RawMessage `json:"params"`
	}
	if body == "" || json.Unmarshal([]byte(body), &n) != nil || n.Method == "" {
		return nil, false
	}
	raw, _ := json.Marshal(n.Params)
	if !f.wants(n.Method, raw) {
		return nil, false
	}
	if n.Params == nil {
		n.Params = map[string]json.RawMessage{}
	}
	meta := map[string]json.RawMessage{}
	if m, ok := n.Params["_meta"]; ok {
		json.Unmarshal(m, &meta)
	}
	meta[metaSubscriptionID] = subID
	n.Params["_meta"], _ = json.Marshal(meta)
	out, err := json.Marshal(n)
	return out, err == nil
}
