package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"switchboard.dev/pkg/mcpheader"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// The stateless generation of MCP (2026-07-28 and later) has no
// initialize and no sessions: every request carries its protocol version,
// client capabilities and client identity in _meta, and mirrors its method
// and target in HTTP headers. The gateway serves it on the same endpoint
// as the session-based revisions and tells the two apart per request.

// statelessVersions lists the stateless revisions the gateway speaks.
var statelessVersions = []string{"2026-07-28"}

// allVersions is what server/discover and version errors advertise:
// stateless revisions per request, the others through initialize.
var allVersions = append(slices.Clone(statelessVersions), supportedVersions...)

// Error codes of the stateless generation (2026-07-28, Error Codes).
const (
	codeHeaderMismatch     = -32020
	codeMissingCapability  = -32021
	codeUnsupportedVersion = -32022
)

// Reserved _meta keys (2026-07-28, General fields).
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaLogLevel           = "io.modelcontextprotocol/logLevel"
	metaServerInfo         = "io.modelcontextprotocol/serverInfo"
	metaSubscriptionID     = "io.modelcontextprotocol/subscriptionId"
)

// Request headers of the stateless generation (2026-07-28, Streamable
// HTTP, Request Metadata).
const (
	headerMethod      = "Mcp-Method"
	headerName        = "Mcp-Name"
	headerParamPrefix = "Mcp-Param-"
)

// logLevelNone asks the registry for no log messages: a stateless request
// that names no log level must get none (2026-07-28, Logging).
const logLevelNone = "none"

// Caching hints (2026-07-28, Caching). The catalogue is the same for
// every client, so lists may be shared; it changes whenever a provider
// comes or goes, which listeners learn through subscriptions/listen, so
// lists are stale at once rather than cached for a guessed time. A
// resource's content may depend on who reads it (an upstream server may
// answer per session), so reads are private.
const (
	listCacheScope = "public"
	readCacheScope = "private"
)

// statelessVersion tells whether v names a stateless revision.
func statelessVersion(v string) bool { return slices.Contains(statelessVersions, v) }

// isStateless tells whether a POST belongs to the stateless generation: it
// has no session, is not a session-era initialize, and either names a
// revision the session-based transport does not know in its header or
// carries a protocol version in _meta.
func isStateless(r *http.Request, m *message) bool {
	hv := strings.TrimSpace(r.Header.Get(headerProtocolVersion))
	// A stateless revision in the header wins: that generation ignores
	// Mcp-Session-Id (2026-07-28, Streamable HTTP, Backward Compatibility).
	if statelessVersion(hv) {
		return true
	}
	if r.Header.Get(headerSessionID) != "" || (m.Method != nil && *m.Method == "initialize") {
		return false
	}
	if hv != "" && !versionSupported(hv) {
		return true
	}
	_, ok := metaMember(m.Params, metaProtocolVersion)
	return ok
}

// requestMeta is the per-request protocol information of a stateless
// request.
type requestMeta struct {
	ProtocolVersion    string
	ClientInfo         json.RawMessage
	ClientCapabilities json.RawMessage
	LogLevel           string
}

// parseMeta reads and checks the reserved members of params._meta. A
// request without them is malformed: -32602 (2026-07-28, Per-request
// protocol fields).
func parseMeta(params json.RawMessage) (requestMeta, *rpcError) {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	var rm requestMeta
	if len(params) == 0 || params[0] != '{' || json.Unmarshal(params, &p) != nil {
		return rm, newRPCError(codeInvalidParams, "invalid params: params must be an object carrying _meta")
	}
	if p.Meta == nil {
		return rm, newRPCError(codeInvalidParams, "invalid params: _meta is required")
	}
	v, ok := p.Meta[metaProtocolVersion]
	if !ok || json.Unmarshal(v, &rm.ProtocolVersion) != nil || rm.ProtocolVersion == "" {
		return rm, newRPCError(codeInvalidParams,
			"invalid params: _meta."+metaProtocolVersion+" must be a non-empty string")
	}
	rm.ClientCapabilities = p.Meta[metaClientCapabilities]
	if len(rm.ClientCapabilities) == 0 || rm.ClientCapabilities[0] != '{' {
		return rm, newRPCError(codeInvalidParams,
			"invalid params: _meta."+metaClientCapabilities+" must be an object")
	}
	if info, ok := p.Meta[metaClientInfo]; ok {
		if len(info) == 0 || info[0] != '{' {
			return rm, newRPCError(codeInvalidParams,
				"invalid params: _meta."+metaClientInfo+" must be an object")
		}
		rm.ClientInfo = info
	}
	rm.LogLevel = logLevelNone
	if lv, ok := p.Meta[metaLogLevel]; ok {
		if json.Unmarshal(lv, &rm.LogLevel) != nil || !validLogLevel(rm.LogLevel) {
			return rm, newRPCError(codeInvalidParams,
				"invalid params: _meta."+metaLogLevel+" must be a logging level")
		}
	}
	return rm, nil
}

// metaMember returns one member of params._meta, if present.
func metaMember(params json.RawMessage, key string) (json.RawMessage, bool) {
	if len(params) == 0 || params[0] != '{' {
		return nil, false
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil, false
	}
	v, ok := p.Meta[key]
	return v, ok
}

// checkHeaders compares the mirrored headers with the body (2026-07-28,
// Streamable HTTP, Server Validation). Values are compared after the
// optional whitespace around them is dropped (RFC 9110, 5.5) and, for
// Mcp-Name, after Base64 sentinel decoding.
func checkHeaders(r *http.Request, m *message, rm requestMeta) *rpcError {
	hv, herr := requiredHeader(r, headerProtocolVersion)
	switch {
	case herr != nil:
		return herr
	case hv != rm.ProtocolVersion:
		return headerMismatch("MCP-Protocol-Version header " + quote(clip(hv)) +
			" does not match _meta protocol version " + quote(clip(rm.ProtocolVersion)))
	}
	method, herr := requiredHeader(r, headerMethod)
	switch {
	case herr != nil:
		return herr
	case method != *m.Method:
		return headerMismatch("Mcp-Method header " + quote(clip(method)) +
			" does not match body method " + quote(clip(*m.Method)))
	}
	member := nameMember[*m.Method]
	if member == "" {
		return nil
	}
	want, ok := stringMember(m.Params, member)
	if !ok {
		return newRPCError(codeInvalidParams, "invalid params: "+member+" must be a string")
	}
	raw, herr := requiredHeader(r, headerName)
	if herr != nil {
		return herr
	}
	name, err := mcpheader.Decode(raw)
	if err != nil {
		return headerMismatch("Mcp-Name header: " + err.Error())
	}
	if name != want {
		return headerMismatch("Mcp-Name header " + quote(clip(name)) +
			" does not match body " + member + " " + quote(clip(want)))
	}
	return nil
}

// requiredHeader returns a mirrored header's one value without
// surrounding whitespace (RFC 9110, 5.5), or the HeaderMismatch for a
// header that is missing or given more than once (either copy could be
// the one an intermediary acted on).
func requiredHeader(r *http.Request, name string) (string, *rpcError) {
	switch vs := r.Header.Values(name); len(vs) {
	case 0:
		return "", headerMismatch("the " + name + " header is required")
	case 1:
		return strings.Trim(vs[0], " \t"), nil
	default:
		return "", headerMismatch("the " + name + " header is given more than once")
	}
}

// nameMember names the params member that Mcp-Name mirrors, per method.
var nameMember = map[string]string{
	"tools/call":     "name",
	"prompts/get":    "name",
	"resources/read": "uri",
	// The tasks extension routes on the task (SEP-2663, Streamable HTTP:
	// Routing Headers).
	"tasks/get":    "taskId",
	"tasks/update": "taskId",
	"tasks/cancel": "taskId",
}

func headerMismatch(msg string) *rpcError {
	return newRPCError(codeHeaderMismatch, "header mismatch: "+msg)
}

// stringMember returns a string member of params.
func stringMember(params json.RawMessage, key string) (string, bool) {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(p[key], &s) != nil {
		return "", false
	}
	return s, true
}

// statelessSession stands in for a session while a stateless request
// runs: the methods shared with the session-based revisions read the
// client's revision, capabilities and log level from it. It is never
// stored and has no id.
func statelessSession(rm requestMeta) *sessionv1.Session {
	return &sessionv1.Session{
		ProtocolVersion:        rm.ProtocolVersion,
		ClientInfoJson:         string(rm.ClientInfo),
		ClientCapabilitiesJson: string(rm.ClientCapabilities),
		LogLevel:               rm.LogLevel,
		Initialized:            true,
	}
}

// statelessMethods are the methods of the stateless generation that run
// like their session-based namesakes. tools/call, server/discover and
// subscriptions/listen have handlers of their own (see postStateless).
var statelessMethods = map[string]methodFunc{
	"tools/list":               (*Handler).listTools,
	"resources/list":           (*Handler).listResources,
	"resources/templates/list": (*Handler).listTemplates,
	"resources/read":           (*Handler).readResource,
	"prompts/list":             (*Handler).listPrompts,
	"prompts/get":              (*Handler).getPrompt,
	"completion/complete":      (*Handler).complete,
	// The tasks extension (tasks2026.go).
	"tasks/get":    (*Handler).getTaskExt,
	"tasks/update": (*Handler).updateTaskExt,
	"tasks/cancel": (*Handler).cancelTaskExt,
}

// cacheScopes gives the caching hint of each cacheable method's result.
var cacheScopes = map[string]string{
	"server/discover":          listCacheScope,
	"tools/list":               listCacheScope,
	"resources/list":           listCacheScope,
	"resources/templates/list": listCacheScope,
	"prompts/list":             listCacheScope,
	"resources/read":           readCacheScope,
}

// postStateless serves one POST of the stateless generation.
func (h *Handler) postStateless(w http.ResponseWriter, r *http.Request, m *message, wantJSON, wantSSE bool) {
	out := statelessReply{w: w, sseOnly: !wantJSON}
	switch m.kind {
	case kindNotification:
		// The revision defines no client notifications over HTTP; closing
		// a response stream is what cancels a request.
		w.WriteHeader(http.StatusAccepted)
		return
	case kindResponse:
		out.refuse(m.ID, newRPCError(codeInvalidRequest,
			"invalid request: clients answer input requests by retrying the request with inputResponses"))
		return
	}
	method := *m.Method
	f, known := statelessMethods[method]
	if !known && method != "tools/call" && method != "server/discover" && method != "subscriptions/listen" {
		out.refuse(m.ID, newRPCError(codeMethodNotFound, "method not found: "+quote(clip(method))))
		return
	}
	rm, rerr := parseMeta(m.Params)
	if rerr == nil {
		rerr = checkHeaders(r, m, rm)
	}
	if rerr == nil && !statelessVersion(rm.ProtocolVersion) {
		rerr = unsupportedVersion(rm.ProtocolVersion)
	}
	if rerr != nil {
		out.refuse(m.ID, rerr)
		return
	}
	ctx := r.Context()
	sess := statelessSession(rm)
	switch method {
	case "server/discover":
		out.result(m.ID, method, discoverResult())
	case "tools/call":
		h.callStateless(w, r, m, rm, wantJSON, wantSSE) // mrtr.go
	case "subscriptions/listen":
		h.listen(w, r, m, rm, wantSSE) // listen.go
	default:
		result, err := f(h, ctx, sess, m.Params)
		if err != nil {
			out.fail(m.ID, methodError(err))
			return
		}
		out.result(m.ID, method, result)
	}
}

// unsupportedVersion is UnsupportedProtocolVersionError for a request
// that names its revision in _meta: only the stateless revisions work
// that way; the others take an initialize, as server/discover tells.
func unsupportedVersion(v string) *rpcError {
	e := newRPCError(codeUnsupportedVersion, "unsupported protocol version "+quote(clip(v))+
		" for a request without a session; supported: "+strings.Join(statelessVersions, ", ")+
		" (earlier revisions: send initialize)")
	e.Data, _ = json.Marshal(struct {
		Supported []string `json:"supported"`
		Requested string   `json:"requested"`
	}{statelessVersions, v})
	return e
}

// discoverResult answers server/discover.
func discoverResult() map[string]any {
	return map[string]any{
		"supportedVersions": allVersions,
		"capabilities":      statelessCapabilities,
	}
}

// statelessCapabilities are serverCapabilities as the stateless
// generation words them: subscriptions replace resources/subscribe and
// logging/setLevel, so only list_changed and the sub-features that remain
// are declared.
var statelessCapabilities = map[string]any{
	"tools":       map[string]any{"listChanged": true},
	"resources":   map[string]any{"subscribe": true, "listChanged": true},
	"prompts":     map[string]any{"listChanged": true},
	"completions": map[string]any{},
	"logging":     map[string]any{},
	"extensions":  tasksCapability,
}

// statelessReply writes the answer to one stateless request.
type statelessReply struct {
	w http.ResponseWriter
	// sseOnly is set when the client's Accept admits only an SSE stream.
	sseOnly bool
}

// result sends a complete result of method, with the fields every
// stateless result carries.
func (o statelessReply) result(id json.RawMessage, method string, result any) {
	body, err := completeResult(result, method)
	if err != nil {
		o.fail(id, newRPCError(codeInternalError, "internal error: encoding the result failed"))
		return
	}
	o.ok(response(id, body, nil))
}

// ok sends a response with status 200: as JSON, or as a one-event SSE
// stream to a client that accepts only that.
func (o statelessReply) ok(body []byte) {
	if o.sseOnly {
		if s, err := startSSE(o.w); err == nil {
			s.event("", body)
		}
		return
	}
	o.w.Header().Set("Content-Type", "application/json")
	o.w.WriteHeader(http.StatusOK)
	o.w.Write(body)
}

// fail sends a method's error with the HTTP status the revision gives
// its code.
func (o statelessReply) fail(id json.RawMessage, e *rpcError) {
	o.send(id, e, statelessStatus(e.Code))
}

// refuse sends an error found before the method ran: the request itself
// is malformed, so invalid params and invalid request are 400 too
// (2026-07-28, Per-request protocol fields).
func (o statelessReply) refuse(id json.RawMessage, e *rpcError) {
	st := statelessStatus(e.Code)
	if e.Code == codeInvalidParams || e.Code == codeInvalidRequest {
		st = http.StatusBadRequest
	}
	o.send(id, e, st)
}

func (o statelessReply) send(id json.RawMessage, e *rpcError, status int) {
	if status == http.StatusOK {
		o.ok(response(id, nil, e))
		return
	}
	o.w.Header().Set("Content-Type", "application/json")
	o.w.WriteHeader(status)
	o.w.Write(response(id, nil, e))
}

// statelessStatus maps an error code to its HTTP status (2026-07-28,
// Streamable HTTP): unknown methods are 404; header mismatches, missing
// capabilities and unsupported versions 400; other method errors travel
// in a 200 like results.
func statelessStatus(code int) int {
	switch code {
	case codeMethodNotFound:
		return http.StatusNotFound
	case codeHeaderMismatch, codeMissingCapability, codeUnsupportedVersion:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// completeResult encodes result as a complete result of method: with
// resultType, the caching hints of cacheable methods, and the server's
// identity in _meta (2026-07-28, Per-response protocol fields). Members
// the result already has win, so an input_required result stays one.
func completeResult(result any, method string) (json.RawMessage, error) {
	b, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	if _, ok := fields["resultType"]; !ok {
		fields["resultType"] = json.RawMessage(`"complete"`)
	}
	if scope, ok := cacheScopes[method]; ok && bytes.Equal(fields["resultType"], []byte(`"complete"`)) {
		fields["ttlMs"] = json.RawMessage(`0`)
		fields["cacheScope"], _ = json.Marshal(scope)
	}
	meta := map[string]json.RawMessage{}
	if m, ok := fields["_meta"]; ok {
		json.Unmarshal(m, &meta)
	}
	if _, ok := meta[metaServerInfo]; !ok {
		meta[metaServerInfo] = serverInfoJSON
	}
	fields["_meta"], _ = json.Marshal(meta)
	return json.Marshal(fields)
}

// serverInfoJSON is the gateway's Implementation object.
var serverInfoJSON, _ = json.Marshal(implementation{Name: serverName, Title: serverTitle, Version: serverVersion})

// validLogLevel tells whether s is an MCP logging level.
func validLogLevel(s string) bool {
	switch s {
	case "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency":
		return true
	}
	return false
}
