package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// Paths of the HTTP+SSE transport of protocol revision 2024-11-05.
const (
	LegacySSEPath      = "/sse"
	LegacyMessagesPath = "/messages"
)

// legacyVersion is the revision a legacy session starts with, before its
// initialize negotiates one.
const legacyVersion = "2024-11-05"

// Legacy serves the HTTP+SSE transport of 2024-11-05 (Transports, HTTP
// with SSE) for clients that predate Streamable HTTP. GET /sse creates a
// session at once and streams the session's standalone stream, preceded
// by an endpoint event naming /messages?sessionId=<id>; the client POSTs
// its messages there, to any replica, and every answer is appended to
// the standalone stream. Messages run through the same code as on /mcp.
//
// A legacy client cannot resume: when its GET ends, it has no way to name
// its session again, and the session lives on until it expires.
type Legacy struct {
	h *Handler
	// work bounds messages still running after their POST was answered.
	work     context.Context
	inflight sync.WaitGroup
}

// NewLegacy returns the legacy transport over h. Messages run after their
// POST is answered, under work: cancelling it abandons them.
func NewLegacy(h *Handler, work context.Context) *Legacy {
	return &Legacy{h: h, work: work}
}

// Wait blocks until every accepted message has been handled.
func (l *Legacy) Wait() { l.inflight.Wait() }

// ServeHTTP implements http.Handler for both legacy paths.
func (l *Legacy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h
	if herr := h.checkPeer(r); herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	switch {
	case r.URL.Path == LegacySSEPath && r.Method == http.MethodGet:
		l.open(w, r)
	case r.URL.Path == LegacyMessagesPath && r.Method == http.MethodPost:
		l.post(w, r)
	case r.URL.Path == LegacySSEPath:
		h.refuse(w, r, errLegacyMethod(http.MethodGet), nil)
	default:
		h.refuse(w, r, errLegacyMethod(http.MethodPost), nil)
	}
}

// endpointURI is the data of the endpoint event: a relative URI, so that
// the client resolves it against the address it connected to.
func endpointURI(sessionID string) string {
	return LegacyMessagesPath + "?sessionId=" + url.QueryEscape(sessionID)
}

// open creates a session and streams its standalone stream, endpoint
// event first.
func (l *Legacy) open(w http.ResponseWriter, r *http.Request) {
	h := l.h
	if _, sse := accepts(r.Header.Values("Accept")); !sse {
		h.refuse(w, r, errNotAcceptableSSE, nil)
		return
	}
	if h.isClosing() {
		h.refuse(w, r, errShuttingDown, nil)
		return
	}
	resp, err := h.sessions.CreateSession(r.Context(),
		&sessionv1.CreateSessionRequest{ProtocolVersion: legacyVersion})
	if err != nil {
		h.log.Error("create session", "err", err)
		h.refuse(w, r, errBackend, nil)
		return
	}
	sess := resp.GetSession()
	h.log.Info("session created", sessionAttr(sess.GetId()), "transport", "sse")
	l.stream(w, r, sess)
}

// stream relays the session's standalone stream until the client leaves,
// the session ends or the gateway shuts down.
func (l *Legacy) stream(w http.ResponseWriter, r *http.Request, sess *sessionv1.Session) {
	h := l.h
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// From the start of the stream: the client may POST, and get answers
	// logged, as soon as it has the endpoint, before this watch is set up
	// in the session service.
	events, err := h.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{
		SessionId: sess.GetId(), Stream: standaloneStream,
		AfterEventId: primingID(standaloneStream),
	})
	if err != nil {
		h.refuse(w, r, sessionError(err), nil)
		return
	}
	s, err := startSSE(w)
	if err != nil || writeEndpoint(s, endpointURI(sess.GetId())) != nil {
		return
	}
	go h.keepSession(ctx, sess)
	recv, done := relay(ctx, func() (item, error) {
		resp, err := events.Recv()
		// Without the id: a legacy client that reconnects cannot resume,
		// and an id would only make it send Last-Event-ID in vain.
		return item{event: &sessionv1.Event{MessageJson: resp.GetEvent().GetMessageJson()}}, err
	})
	err = h.pump(ctx, s, recv, done)
	h.log.Debug("sse stream closed", sessionAttr(sess.GetId()), "reason", err)
}

// post accepts one message for a session. It answers 202 at once and
// handles the message afterwards, so that a client that sends its
// messages one after another (the answer to a server request, a
// cancellation) is never stuck behind a long tool call.
func (l *Legacy) post(w http.ResponseWriter, r *http.Request) {
	h := l.h
	id := r.URL.Query().Get("sessionId")
	if id == "" {
		h.refuse(w, r, errMissingSessionParam, nil)
		return
	}
	if !isJSONContent(r) {
		h.refuse(w, r, errUnsupportedMedia, nil)
		return
	}
	body, herr := h.readBody(w, r)
	if herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	msg, err := parseMessage(body)
	if err != nil {
		h.refuse(w, r, fromRPC(err.(*rpcError)), idOf(msg))
		return
	}
	sess, herr := h.renew(r.Context(), id)
	if herr != nil {
		h.refuse(w, r, herr, msg.ID)
		return
	}
	l.inflight.Add(1)
	go func() {
		defer l.inflight.Done()
		l.handle(sess, msg, body)
	}()
	w.WriteHeader(http.StatusAccepted)
}

// handle runs an accepted message and appends the answer, if any, to the
// session's standalone stream.
//
// Known shortcoming: tool calls over this transport run bound to this
// replica (the registry logs streamed calls only to request streams), so
// their progress, log messages and requests to the client are dropped,
// and notifications/cancelled cannot reach them.
func (l *Legacy) handle(sess *sessionv1.Session, msg *message, body []byte) {
	var answer []byte
	if msg.kind == kindRequest && *msg.Method == "initialize" {
		answer = l.initialize(l.work, sess, msg)
	} else {
		answer = l.h.handle(l.work, sess, msg, body)
	}
	if answer == nil {
		return
	}
	_, err := l.h.sessions.AppendEvent(l.work, &sessionv1.AppendEventRequest{
		SessionId: sess.GetId(), Stream: standaloneStream, MessageJson: string(answer),
	})
	if err != nil {
		l.h.log.Warn("append answer", sessionAttr(sess.GetId()), "err", err)
	}
}

// initialize negotiates the revision of a session that GET /sse created
// and records what the client sent (2024-11-05, Lifecycle).
func (l *Legacy) initialize(ctx context.Context, sess *sessionv1.Session, m *message) []byte {
	p, err := checkInitialize(m)
	if err != nil {
		return answer(m.ID, nil, err)
	}
	version := negotiate(p.ProtocolVersion)
	info, caps := string(p.ClientInfo), string(p.Capabilities)
	_, err = l.h.sessions.UpdateSession(ctx, &sessionv1.UpdateSessionRequest{
		Id: sess.GetId(), ProtocolVersion: &version,
		ClientInfoJson: &info, ClientCapabilitiesJson: &caps,
	})
	if err != nil {
		l.h.log.Error("initialize session", sessionAttr(sess.GetId()), "err", err)
		return answer(m.ID, nil, err)
	}
	l.h.log.Info("session initialized", sessionAttr(sess.GetId()), "protocol_version", version)
	return answer(m.ID, initialized(version), nil)
}

// writeEndpoint sends the endpoint event, which the transport requires
// first on the stream: the URI to POST messages to.
func writeEndpoint(s *sseWriter, uri string) error {
	if _, err := s.w.Write([]byte("event: endpoint\ndata: " + uri + "\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// idOf returns the id of a message that failed to parse, when known.
func idOf(m *message) json.RawMessage {
	if m == nil {
		return nil
	}
	return m.ID
}

// errMissingSessionParam answers a POST whose endpoint URI lost its
// session.
var errMissingSessionParam = newHTTPError(http.StatusBadRequest, codeTransport,
	"bad request: sessionId query parameter is required")

// errLegacyMethod answers a legacy path asked with the wrong method.
func errLegacyMethod(allow string) *httpError {
	e := newHTTPError(http.StatusMethodNotAllowed, codeTransport,
		"method not allowed: use "+allow)
	e.allow = allow
	return e
}
