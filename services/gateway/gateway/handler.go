package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"switchboard.dev/pkg/httpguard"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// Header names of the Streamable HTTP transport.
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
)

// Handler serves the MCP Streamable HTTP transport (2025-11-25,
// Transports) on one endpoint. It holds no session state: every request
// reads its session from the session service, so any replica serves any
// request of any session.
type Handler struct {
	cfg      *Config
	log      *slog.Logger
	sessions sessionv1.SessionServiceClient
	registry registryv1.RegistryServiceClient

	// closing is closed at shutdown; open streams end when it is.
	closing   chan struct{}
	closeOnce sync.Once
}

// NewHandler returns a handler that keeps sessions in sessions and routes
// catalogue requests to registry. cfg must have been validated.
func NewHandler(log *slog.Logger, cfg *Config, sessions sessionv1.SessionServiceClient,
	registry registryv1.RegistryServiceClient) *Handler {
	return &Handler{
		cfg: cfg, log: log, sessions: sessions, registry: registry,
		closing: make(chan struct{}),
	}
}

// Close ends every open stream; the gateway calls it at shutdown so that
// clients reconnect to another replica.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if herr := h.checkPeer(r); herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	// The stateless generation has only POST (2026-07-28, Streamable HTTP,
	// Backward Compatibility).
	if r.Method != http.MethodPost && statelessVersion(strings.TrimSpace(r.Header.Get(headerProtocolVersion))) {
		e := newHTTPError(http.StatusMethodNotAllowed, codeTransport,
			"method not allowed: protocol revision "+statelessVersions[0]+" uses POST only")
		e.allow = "POST"
		h.refuse(w, r, e, nil)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodGet:
		h.get(w, r)
	case http.MethodDelete:
		h.delete(w, r)
	default:
		h.refuse(w, r, errMethodNotAllowed(), nil)
	}
}

// checkPeer applies the DNS-rebinding defences to every request.
func (h *Handler) checkPeer(r *http.Request) *httpError {
	// More than one Origin is no browser's doing; judging only the first
	// would let a second one through unchecked.
	if origins := r.Header.Values("Origin"); len(origins) > 1 ||
		!httpguard.OriginAllowed(r.Header.Get("Origin"), h.cfg.AllowedOrigins) {
		return errForbiddenOrigin
	}
	if !httpguard.HostAllowed(r.Host, h.cfg.AllowedHosts) {
		return errForbiddenHost
	}
	return nil
}

// refuse answers a request with an HTTP error and logs why.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, e *httpError, id json.RawMessage) {
	h.log.Info("request refused", "method", r.Method, "status", e.status,
		"reason", e.rpc.Message, sessionAttr(r.Header.Get(headerSessionID)))
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	w.Write(response(id, nil, e.rpc))
}

// sessionAttr logs a session by a short prefix of its id: the id is the
// session's only credential, and logs are often read more widely than the
// sessions they describe. Eight characters are enough to tell sessions
// apart in a log and to find one in Redis by prefix.
func sessionAttr(id string) slog.Attr {
	if len(id) > 8 {
		id = id[:8] + "..."
	}
	return slog.String("session", id)
}

// clip bounds a client-supplied value before it is logged or echoed, so
// that a megabyte of header cannot become a megabyte of log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// checkVersion validates the MCP-Protocol-Version header of a request that
// belongs to a session. A missing header means 2025-03-26.
func checkVersion(r *http.Request) *httpError {
	v := r.Header.Get(headerProtocolVersion)
	if v == "" || versionSupported(v) {
		return nil
	}
	return errBadProtocolVersion(v)
}

// session renews and returns the request's session.
func (h *Handler) session(ctx context.Context, r *http.Request) (*sessionv1.Session, *httpError) {
	id := r.Header.Get(headerSessionID)
	if id == "" {
		return nil, errMissingSession
	}
	return h.renew(ctx, id)
}

// renew renews and returns session id, mapping failures to the transport
// answer.
func (h *Handler) renew(ctx context.Context, id string) (*sessionv1.Session, *httpError) {
	resp, err := h.sessions.RenewSession(ctx, &sessionv1.RenewSessionRequest{Id: id})
	if err != nil {
		herr := sessionError(err)
		if herr == errBackend {
			h.log.Error("renew session", sessionAttr(id), "err", err)
		}
		return nil, herr
	}
	// A stateless call's hidden session belongs to the gateway: its id
	// travels inside requestState and task ids, and must not open the
	// session-based transport (answering the call's questions by hand, say).
	if statelessVersion(resp.GetSession().GetProtocolVersion()) {
		return nil, errUnknownSession
	}
	return resp.GetSession(), nil
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	if r.ContentLength > h.cfg.MaxBodyBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, newHTTPError(http.StatusBadRequest, codeTransport, "bad request: reading body failed")
	}
	return body, nil
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	if !isJSONContent(r) {
		h.refuse(w, r, errUnsupportedMedia, nil)
		return
	}
	wantJSON, wantSSE := accepts(r.Header.Values("Accept"))
	if !wantJSON && !wantSSE {
		h.refuse(w, r, errNotAcceptable, nil)
		return
	}
	body, herr := h.readBody(w, r)
	if herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	msg, err := parseMessage(body)
	if err != nil {
		var id json.RawMessage
		if msg != nil {
			id = msg.ID
		}
		h.refuse(w, r, fromRPC(err.(*rpcError)), id)
		return
	}
	if isStateless(r, msg) {
		h.postStateless(w, r, msg, wantJSON, wantSSE) // modern.go
		return
	}
	out := replier{w: w, json: wantJSON}
	if msg.kind == kindRequest && *msg.Method == "initialize" {
		h.initialize(r.Context(), out, msg)
		return
	}
	if herr := checkVersion(r); herr != nil {
		h.refuse(w, r, herr, msg.ID)
		return
	}
	sess, herr := h.session(r.Context(), r)
	if herr != nil {
		h.refuse(w, r, herr, msg.ID)
		return
	}
	if msg.kind == kindRequest && *msg.Method == "tools/call" && wantSSE && h.cfg.StreamToolCalls {
		h.streamCall(w, r, sess, msg, wantJSON)
		return
	}
	if msg.kind == kindRequest && *msg.Method == "tasks/result" && wantSSE {
		h.streamTaskResult(w, r, sess, msg, wantJSON) // tasks.go
		return
	}
	if answer := h.handle(r.Context(), sess, msg, body); answer != nil {
		out.write(answer)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// handle runs one message of a live session, whichever transport carried
// it, and returns the JSON-RPC response to a request. Notifications and
// responses get none (nil).
func (h *Handler) handle(ctx context.Context, sess *sessionv1.Session, msg *message, body []byte) []byte {
	switch msg.kind {
	case kindNotification:
		h.notify(ctx, sess, msg)
		return nil
	case kindResponse:
		h.deliver(ctx, sess, body)
		return nil
	}
	result, err := h.dispatch(ctx, sess, msg)
	return answer(msg.ID, result, err)
}

// answer encodes the response to request id from a method's outcome.
func answer(id json.RawMessage, result any, err error) []byte {
	var rerr *rpcError
	if err != nil {
		rerr = methodError(err)
	}
	return response(id, result, rerr)
}

// replier writes the answer to one request as JSON or as a one-event SSE
// stream, whichever the client accepts (JSON preferred: it is cheaper).
type replier struct {
	w    http.ResponseWriter
	json bool
	// sessionID, when set, is sent as Mcp-Session-Id.
	sessionID string
}

func (o replier) reply(id json.RawMessage, result any, err error) {
	o.write(answer(id, result, err))
}

// write sends an encoded JSON-RPC response.
func (o replier) write(body []byte) {
	if o.sessionID != "" {
		o.w.Header().Set(headerSessionID, o.sessionID)
	}
	if o.json {
		o.w.Header().Set("Content-Type", "application/json")
		o.w.WriteHeader(http.StatusOK)
		o.w.Write(body)
		return
	}
	if s, err := startSSE(o.w); err == nil {
		s.event("", body)
	}
}

// get opens a server-to-client SSE stream. Without Last-Event-ID it is the
// session's standalone stream; with one it resumes the stream that the id
// names, replaying what the client missed (2025-11-25, Transports,
// Resumability and Redelivery).
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if _, sse := accepts(r.Header.Values("Accept")); !sse {
		h.refuse(w, r, errNotAcceptableSSE, nil)
		return
	}
	if herr := checkVersion(r); herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	sess, herr := h.session(r.Context(), r)
	if herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	// Known shortcoming: a new standalone stream starts with no priming
	// event, since the gateway does not know the id of the log's newest
	// entry; messages logged while a client that has not yet received any
	// event is disconnected are not replayed when it reconnects.
	stream, after := standaloneStream, ""
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		name, ok := streamOf(last)
		if !ok {
			h.refuse(w, r, errBadLastEventID, nil)
			return
		}
		stream, after = name, last
	}
	if h.isClosing() {
		h.refuse(w, r, errShuttingDown, nil)
		return
	}
	h.watch(w, r, sess, stream, after)
}

func (h *Handler) isClosing() bool {
	select {
	case <-h.closing:
		return true
	default:
		return false
	}
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if herr := checkVersion(r); herr != nil {
		h.refuse(w, r, herr, nil)
		return
	}
	id := r.Header.Get(headerSessionID)
	if id == "" {
		h.refuse(w, r, errMissingSession, nil)
		return
	}
	_, err := h.sessions.DeleteSession(r.Context(), &sessionv1.DeleteSessionRequest{Id: id})
	if err != nil {
		h.refuse(w, r, sessionError(err), nil)
		return
	}
	h.log.Info("session deleted", sessionAttr(id))
	w.WriteHeader(http.StatusNoContent)
}
