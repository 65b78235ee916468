package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// A stateless tools/call runs like a streamed one of the session-based
// revisions: the registry runs it detached and logs every message to an
// event log. Since the client has no session, the gateway opens a hidden
// one for the call. When the tool asks the client something (sampling,
// elicitation, roots), the gateway answers the HTTP request with an
// input_required result (2026-07-28, Multi Round-Trip Requests) whose
// requestState names the hidden session and where its log was read up
// to; the call keeps waiting. The client's retry, on any replica, hands
// the answers to the waiting call and reads on from there. So a provider,
// or an upstream server of the session-based generation, asks the client
// the way it always does, and a stateless client answers the way its
// revision wants.

// Known shortcoming: every stateless tools/call creates and deletes a
// hidden session and logs its result, even when the tool never asks the
// client anything, so it costs about what a resumable streamed call of
// the other generation costs; and a call whose client never retries after
// input_required keeps waiting for its answer until the registry's
// -call-timeout, though its hidden session and log go after
// -stateless-call-ttl.
// Running such calls bound to the request until they first ask would save
// both, but needs the registry to detach a running call on demand.

// errStateEnded answers a retry whose call is over: its answer was
// given, or it was cancelled or expired. Retrying the whole call would run
// the tool again, so the client is told, not asked to retry.
var errStateEnded = newRPCError(codeInvalidParams, "invalid params: the call of this requestState has ended")

// stateCallID is the JSON-RPC id the registry sees for every stateless
// call: each has a session of its own, and the gateway puts the client's
// id of the current round on the final response.
const stateCallID = `"call"`

// inputWindow is how long the gateway waits, after a request to the
// client, for more requests before answering input_required, so that
// questions a tool asks at once arrive in one round.
const inputWindow = 50 * time.Millisecond

// callState is what requestState carries from one round to the next.
type callState struct {
	// Session and Stream locate the call's log.
	Session string `json:"s"`
	Stream  string `json:"t"`
	// After is the id of the last log event the client needs no more.
	After string `json:"a"`
	// Tool is the tool called; a retry must name the same.
	Tool string `json:"n"`
	// Answered lists the requests (by the registry's ids) the client
	// answered in earlier rounds.
	Answered []string `json:"d,omitempty"`
	// Keys maps the names the client saw in the last round's
	// inputRequests to the registry's ids of those requests.
	Keys map[string]string `json:"k,omitempty"`
	// Task is the registry's id of the task the call runs as, when the
	// rounds are the opening questions of a task (tasks2026_call.go).
	Task string `json:"task,omitempty"`
}

// statelessCallParams are the members of tools/call this file reads.
type statelessCallParams struct {
	Name           *string                    `json:"name"`
	InputResponses map[string]json.RawMessage `json:"inputResponses"`
	RequestState   *string                    `json:"requestState"`
}

// callStateless serves tools/call of the stateless generation.
func (h *Handler) callStateless(w http.ResponseWriter, r *http.Request, m *message, rm requestMeta,
	wantJSON, wantSSE bool) {
	out := &callReply{h: h, w: w, id: m.ID, sse: wantSSE, sseOnly: !wantJSON}
	var p statelessCallParams
	if err := decodeParams(m.Params, &p); err != nil {
		out.fail(methodError(err))
		return
	}
	if p.RequestState != nil {
		h.resumeCall(r.Context(), out, rm, p)
		return
	}
	sess := statelessSession(rm)
	req, err := callRequest(sess, m.Params)
	if err != nil {
		out.fail(methodError(err))
		return
	}
	if req.ParamHeaders, err = paramHeaders(r); err != nil {
		out.fail(methodError(err))
		return
	}
	req.CheckParamHeaders = true
	created, err := h.sessions.CreateSession(r.Context(), &sessionv1.CreateSessionRequest{
		ProtocolVersion:        rm.ProtocolVersion,
		ClientInfoJson:         string(rm.ClientInfo),
		ClientCapabilitiesJson: string(rm.ClientCapabilities),
		Ttl:                    h.callSessionTTL(string(rm.ClientCapabilities)),
	})
	if err != nil {
		h.log.Error("create call session", "err", err)
		out.unavailable()
		return
	}
	st := callState{Session: created.GetSession().GetId(), Stream: newStreamName(), Tool: req.GetName()}
	st.After = primingID(st.Stream)
	req.SessionId, req.Stream, req.RequestIdJson = st.Session, st.Stream, stateCallID
	if tasksDeclared(sess.GetClientCapabilitiesJson()) && h.callAsTask(r.Context(), out, sess, req, st) {
		return // tasks2026_call.go
	}

	// Detached until the registry confirms the call runs, as for streamed
	// calls of the other generation (callstream.go).
	rpcCtx, cancelRPC := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancelRPC()
	calls, err := h.registry.CallTool(rpcCtx, req)
	if err == nil {
		_, err = calls.Header()
	}
	if err != nil {
		h.dropSession(st.Session)
		if e := statelessRefusal(err); e != nil {
			out.fail(e)
			return
		}
		out.write(h.callFailure(sess, req, m.ID, err))
		return
	}
	// A call refused before it ran ends its stream with the reason, since
	// the registry's headers do not always arrive first.
	failed := func(err error) {
		if e := statelessRefusal(err); e != nil {
			out.fail(e)
			return
		}
		out.write(h.callFailure(sess, req, m.ID, err))
	}
	// A first call may already carry answers (a client that knows the
	// questions, or one that retries without the state): they answer the
	// questions of the same names as they come.
	h.drive(r.Context(), out, st, nil, p.InputResponses, failed, func() (*sessionv1.Event, error) {
		resp, err := calls.Recv()
		if err != nil {
			return nil, err
		}
		if res := resp.GetResult(); res != nil {
			body := response(json.RawMessage(stateCallID), resultFromProto(res), nil)
			return &sessionv1.Event{MessageJson: string(body), Final: true}, nil
		}
		return resp.GetEvent(), nil
	})
}

// resumeCall serves a retry that carries requestState: it hands the
// answers to the waiting call and reads its log on from where the last
// round ended.
func (h *Handler) resumeCall(ctx context.Context, out *callReply, rm requestMeta, p statelessCallParams) {
	st, ok := h.openState(*p.RequestState)
	if !ok {
		out.fail(newRPCError(codeInvalidParams, "invalid params: requestState is invalid or was altered"))
		return
	}
	if p.Name == nil || *p.Name != st.Tool {
		out.fail(newRPCError(codeInvalidParams, "invalid params: requestState belongs to a call of another tool"))
		return
	}
	// Each request declares its capabilities anew: a round that would end
	// in a task needs the tasks extension in this one too.
	if st.Task != "" && !tasksDeclared(string(rm.ClientCapabilities)) {
		out.fail(missingTasks("this call runs as a task, which"))
		return
	}
	answered := slices.Clone(st.Answered)
	keys := make([]string, 0, len(p.InputResponses))
	for k := range p.InputResponses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		// Answers to questions the round did not ask are ignored, as the
		// revision asks of unknown members.
		id := st.Keys[key]
		if id == "" || slices.Contains(answered, id) {
			continue
		}
		if rerr := h.answer(ctx, st.Session, id, p.InputResponses[key]); rerr != nil {
			out.fail(rerr)
			return
		}
		answered = append(answered, id)
	}
	if st.Task != "" {
		h.openingRound(ctx, out, st, answered) // tasks2026_call.go
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := h.watchCall(wctx, st)
	if err != nil {
		if c := status.Code(err); c == codes.NotFound || c == codes.InvalidArgument {
			out.fail(errStateEnded)
			return
		}
		out.fail(methodError(err))
		return
	}
	lost := func(err error) {
		// The session service reports a call that ended (its session is
		// gone) on the first read, not when the watch opens.
		if c := status.Code(err); c == codes.NotFound || c == codes.InvalidArgument {
			out.fail(errStateEnded)
			return
		}
		h.log.Warn("stateless tool call log unreadable", "err", err)
		out.fail(newRPCError(codeInternalError,
			"internal error: the tool call's progress could not be read; send this round again"))
	}
	h.drive(ctx, out, st, answered, nil, lost, func() (*sessionv1.Event, error) {
		resp, err := events.Recv()
		return resp.GetEvent(), err
	})
}

// drive reads a stateless call's log until the call ends or asks the
// client something, and answers the round accordingly. answered lists the
// client's requests answered so far, which the log replays and which are
// skipped; pre answers questions by name as they come. failed answers a
// log that ends without a final event.
func (h *Handler) drive(ctx context.Context, out *callReply, st callState, answered []string,
	pre map[string]json.RawMessage, failed func(error), next func() (*sessionv1.Event, error)) {
	recv, done := relay(ctx, func() (item, error) {
		ev, err := next()
		return item{event: ev}, err
	})
	// While the client waits on this round, its call's session lives; once
	// the round ends, the session has -stateless-call-ttl for the retry.
	kctx, stopKeeping := context.WithCancel(ctx)
	defer stopKeeping()
	go h.keepSession(kctx, &sessionv1.Session{Id: st.Session, ExpireTime: timestamppb.Now()})
	var (
		asked   []inputRequest
		prev    = st.After
		after   string
		timeout <-chan time.Time
	)
	for {
		select {
		case it := <-recv:
			ev := it.event
			var msg message
			if json.Unmarshal([]byte(ev.GetMessageJson()), &msg) != nil || ev.GetMessageJson() == "" {
				if ev.GetFinal() {
					out.fail(newRPCError(codeInternalError, "internal error: the tool call was cancelled"))
					h.dropSession(st.Session)
					return
				}
				prev = ev.GetId()
				continue
			}
			switch {
			case ev.GetFinal() || msg.Method == nil:
				out.write([]byte(ev.GetMessageJson()))
				h.dropSession(st.Session)
				return
			case len(msg.ID) > 0:
				id := requestKey(msg.ID)
				key := inputKey(id)
				if v, ok := pre[key]; ok && !slices.Contains(answered, id) {
					if rerr := h.answer(ctx, st.Session, id, v); rerr != nil {
						out.fail(rerr)
						h.cancelStateless(st)
						return
					}
					answered = append(answered, id)
				}
				if !slices.Contains(answered, id) {
					if len(asked) == 0 {
						after = prev
						timeout = time.After(inputWindow)
					}
					asked = append(asked, inputRequest{key: key, id: id, Method: *msg.Method, Params: msg.Params})
				}
			case *msg.Method != "notifications/cancelled":
				out.notify([]byte(ev.GetMessageJson()))
			}
			prev = ev.GetId()
		case <-timeout:
			h.endRound(out, st, after, answered, asked)
			return
		case err := <-done:
			// The relay broke, not necessarily the call, which runs
			// detached: its session stays, to its short TTL, for a retry.
			if ctx.Err() == nil {
				failed(err)
			}
			return
		case <-ctx.Done():
			// The client closed its stream: that cancels the request
			// (2026-07-28, Cancellation).
			h.cancelStateless(st)
			return
		case <-h.closing:
			// This replica is going away but the call is not: hand the
			// client a state to read on from, on another replica. An
			// input_required result may carry the state alone (2026-07-28,
			// InputRequiredResult), and clients retry with it.
			if len(asked) == 0 {
				after = prev
			}
			h.endRound(out, st, after, answered, asked)
			return
		}
	}
}

// callSessionTTL is the lifetime of a stateless call's hidden session
// between rounds: a client that never retries after input_required lets
// it and the call's log go after -stateless-call-ttl rather than the
// session service's own TTL. Calls that may become tasks keep the
// service's TTL, since a task outlives its rounds.
func (h *Handler) callSessionTTL(caps string) *durationpb.Duration {
	if tasksDeclared(caps) {
		return nil
	}
	return durationpb.New(h.cfg.StatelessCallTTL)
}

// watchCall reads a stateless call's log from where st left it; the
// watch is live once it returns.
func (h *Handler) watchCall(ctx context.Context, st callState) (
	grpc.ServerStreamingClient[sessionv1.WatchEventsResponse], error) {
	events, err := h.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{
		SessionId: st.Session, Stream: st.Stream, AfterEventId: st.After,
	})
	if err == nil {
		_, err = events.Header()
	}
	return events, err
}

// endRound answers a round with input_required: the questions asked, if
// any, and the state the retry reads the log on from (after the event
// after, with the requests answered so far skipped).
func (h *Handler) endRound(out *callReply, st callState, after string, answered []string,
	asked []inputRequest) {
	st.After, st.Answered = after, answered
	st.Keys = make(map[string]string, len(asked))
	for _, a := range asked {
		st.Keys[a.key] = a.id
	}
	out.inputRequired(asked, h.sealState(st))
}

// inputRequest is one request to the client in an input_required result.
type inputRequest struct {
	// key names it among the inputRequests; id is the registry's id.
	key, id string
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// inputKey is the name a request to the client gets among inputRequests:
// the provider's own name for it, which the registry puts after the
// fourth slash of its id ("sb/<instance>/<call>/<n>/<key>"), else the id.
func inputKey(id string) string {
	parts := strings.SplitN(id, "/", 5)
	if len(parts) == 5 && parts[0] == "sb" && parts[4] != "" {
		return parts[4]
	}
	return id
}

// answer hands the client's answer to request id to the waiting call.
func (h *Handler) answer(ctx context.Context, session, id string, result json.RawMessage) *rpcError {
	idJSON, _ := json.Marshal(id)
	msg := `{"jsonrpc":"2.0","id":` + string(idJSON) + `,"result":` + string(result) + `}`
	if len(result) == 0 || result[0] != '{' || !json.Valid([]byte(msg)) {
		return newRPCError(codeInvalidParams, "invalid params: the answer to "+quote(clip(inputKey(id)))+" is not a result object")
	}
	_, err := h.registry.DeliverResponse(ctx, &registryv1.DeliverResponseRequest{
		SessionId: session, MessageJson: msg,
	})
	if status.Code(err) == codes.NotFound {
		return errStateEnded
	}
	if err != nil {
		return methodError(err)
	}
	return nil
}

// cancelStateless cancels a call whose client left, and drops its session.
func (h *Handler) cancelStateless(st callState) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.registry.CancelCall(ctx, &registryv1.CancelCallRequest{
		SessionId: st.Session, RequestIdJson: stateCallID, Reason: "the client closed the request",
	})
	if err != nil && status.Code(err) != codes.NotFound {
		h.log.Warn("cancel stateless call", "err", err)
	}
	h.dropSession(st.Session)
}

// dropSession deletes a stateless call's hidden session once the call is
// over, in the background: the client's answer does not wait for it.
func (h *Handler) dropSession(id string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := h.sessions.DeleteSession(ctx, &sessionv1.DeleteSessionRequest{Id: id})
		if err != nil && status.Code(err) != codes.NotFound {
			h.log.Warn("delete call session", "err", err)
		}
	}()
}

// sealState encodes st as requestState: the JSON, then an HMAC over it, so
// that an altered state is refused. The key joins the gateway's
// -request-state-key with the hidden session's id; the id is the state's
// real capability (it is unguessable and only this client has it), and
// the configured key keeps a client from forging states of its own calls.
func (h *Handler) sealState(st callState) string {
	body, _ := json.Marshal(st)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(h.stateMAC(st.Session, body))
}

// openState checks and decodes a requestState made by sealState.
func (h *Handler) openState(s string) (callState, bool) {
	var st callState
	enc := base64.RawURLEncoding
	b64, m64, ok := strings.Cut(s, ".")
	if !ok {
		return st, false
	}
	body, err1 := enc.DecodeString(b64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || json.Unmarshal(body, &st) != nil || st.Session == "" {
		return st, false
	}
	if !hmac.Equal(mac, h.stateMAC(st.Session, body)) {
		return st, false
	}
	if _, ok := streamOf(st.After); !ok || !strings.HasPrefix(st.After, st.Stream+":") {
		return st, false
	}
	return st, true
}

func (h *Handler) stateMAC(session string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(h.cfg.RequestStateKey+"\x00"+session))
	m.Write(body)
	return m.Sum(nil)
}

// callReply writes one round of a stateless call: JSON by default, turned
// into an SSE stream by the first notification when the client accepts
// one, so that progress reaches it while the call runs.
type callReply struct {
	h       *Handler
	w       http.ResponseWriter
	id      json.RawMessage
	sse     bool
	sseOnly bool // the client's Accept admits only SSE
	stream  *sseWriter
}

// notify passes a notification of the request on, if the client takes a
// stream; a client that accepts only JSON gets none.
func (o *callReply) notify(body []byte) {
	if !o.sse {
		return
	}
	if o.stream == nil {
		s, err := startSSE(o.w)
		if err != nil {
			return
		}
		o.stream = s
	}
	o.stream.event("", body)
}

// inputRequired ends the round asking the client for input.
func (o *callReply) inputRequired(asked []inputRequest, state string) {
	// inputRequests is there even when empty: clients read an empty set
	// with a state as "retry with this state" (the SDKs' load shedding).
	reqs := make(map[string]inputRequest, len(asked))
	for _, a := range asked {
		reqs[a.key] = a
	}
	body, err := completeResult(map[string]any{
		"resultType": "input_required", "inputRequests": reqs, "requestState": state,
	}, "tools/call")
	if err != nil {
		o.fail(newRPCError(codeInternalError, "internal error: encoding input requests failed"))
		return
	}
	o.write(response(o.id, body, nil))
}

func (o *callReply) fail(e *rpcError) {
	if o.stream != nil {
		o.stream.event("", response(o.id, nil, e))
		return
	}
	statelessReply{w: o.w, sseOnly: o.sseOnly}.fail(o.id, e)
}

// unavailable answers when the session store cannot be reached.
func (o *callReply) unavailable() {
	o.w.Header().Set("Content-Type", "application/json")
	o.w.WriteHeader(errBackend.status)
	o.w.Write(response(o.id, nil, errBackend.rpc))
}

// write sends an encoded response, replacing the registry's id with the
// one of this round's request.
func (o *callReply) write(body []byte) {
	var msg message
	if json.Unmarshal(body, &msg) == nil {
		if msg.Error != nil {
			var e rpcError
			if json.Unmarshal(msg.Error, &e) == nil {
				o.fail(&e)
				return
			}
		}
		if msg.Result != nil {
			if b, err := completeResult(msg.Result, "tools/call"); err == nil {
				msg.Result = b
			}
		}
		body = response(o.id, msg.Result, nil)
	}
	if o.stream != nil {
		o.stream.event("", body)
		return
	}
	statelessReply{w: o.w, sseOnly: o.sseOnly}.ok(body)
}

// paramHeaders collects the Mcp-Param-{Name} headers of a request, keyed
// by the lower-cased name, for the registry to check against the tool's
// x-mcp-header marks.
func paramHeaders(r *http.Request) (map[string]string, error) {
	var out map[string]string
	for k, vs := range r.Header {
		if len(k) <= len(headerParamPrefix) || !strings.EqualFold(k[:len(headerParamPrefix)], headerParamPrefix) {
			continue
		}
		name := strings.ToLower(k[len(headerParamPrefix):])
		if out == nil {
			out = make(map[string]string)
		}
		// A header given twice cannot be trusted to say one thing: its
		// copies are joined with a NUL, which no header value holds, so
		// that it matches no argument. It matters only if the tool marks
		// the argument; others are forwarded and ignored.
		out[name] = strings.Trim(strings.Join(vs, "\x00"), " \t")
	}
	return out, nil
}
