package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// methodFunc runs one MCP request inside a session. It returns a value to
// encode as the result, or an error for methodError to map.
type methodFunc func(h *Handler, ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error)

var methods = map[string]methodFunc{
	"ping":                     (*Handler).ping,
	"tools/list":               (*Handler).listTools,
	"tools/call":               (*Handler).callTool,
	"resources/list":           (*Handler).listResources,
	"resources/templates/list": (*Handler).listTemplates,
	"resources/read":           (*Handler).readResource,
	"resources/subscribe":      (*Handler).subscribe,
	"resources/unsubscribe":    (*Handler).unsubscribe,
	"prompts/list":             (*Handler).listPrompts,
	"prompts/get":              (*Handler).getPrompt,
	"completion/complete":      (*Handler).complete,
	"logging/setLevel":         (*Handler).setLevel,
	"tasks/get":                (*Handler).getTask,
	"tasks/result":             (*Handler).taskResult,
	"tasks/list":               (*Handler).listTasks,
	"tasks/cancel":             (*Handler).cancelTask,
}

func (h *Handler) dispatch(ctx context.Context, s *sessionv1.Session, m *message) (any, error) {
	f, ok := methods[*m.Method]
	if !ok {
		return nil, newRPCError(codeMethodNotFound, "method not found: "+quote(*m.Method))
	}
	return f(h, ctx, s, m.Params)
}

// notify handles a client notification. Notifications get no answer, so
// failures are only logged.
func (h *Handler) notify(ctx context.Context, s *sessionv1.Session, m *message) {
	switch *m.Method {
	case "notifications/initialized":
		if s.GetInitialized() {
			return
		}
		initialized := true
		_, err := h.sessions.UpdateSession(ctx, &sessionv1.UpdateSessionRequest{
			Id: s.GetId(), Initialized: &initialized,
		})
		if err != nil {
			h.log.Warn("mark session initialized", sessionAttr(s.GetId()), "err", err)
		}
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
			Reason    string          `json:"reason"`
		}
		if decodeParams(m.Params, &p) != nil || len(p.RequestID) == 0 {
			return
		}
		_, err := h.registry.CancelCall(ctx, &registryv1.CancelCallRequest{
			SessionId: s.GetId(), RequestIdJson: string(p.RequestID), Reason: p.Reason,
		})
		if err != nil {
			h.log.Warn("cancel call", sessionAttr(s.GetId()), "err", err)
		}
	}
}

// deliver hands the client's answer to a server-to-client request to the
// call waiting for it, wherever it runs.
func (h *Handler) deliver(ctx context.Context, s *sessionv1.Session, body []byte) {
	_, err := h.registry.DeliverResponse(ctx, &registryv1.DeliverResponseRequest{
		SessionId: s.GetId(), MessageJson: string(body),
	})
	if err != nil {
		h.log.Warn("deliver response", sessionAttr(s.GetId()), "err", err)
	}
}

type initializeParams struct {
	ProtocolVersion string          `json:"protocolVersion"`
	Capabilities    json.RawMessage `json:"capabilities"`
	ClientInfo      json.RawMessage `json:"clientInfo"`
}

type initializeResult struct {
	ProtocolVersion string         `json:"protocolVersion"`
	Capabilities    map[string]any `json:"capabilities"`
	ServerInfo      implementation `json:"serverInfo"`
}

type implementation struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"`
	Version string `json:"version"`
}

// initialize negotiates the protocol revision and creates the session
// (2025-11-25, Lifecycle, Initialization). The session id travels in the
// Mcp-Session-Id header of the answer.
func (h *Handler) initialize(ctx context.Context, out replier, m *message) {
	p, err := checkInitialize(m)
	if err != nil {
		out.reply(m.ID, nil, err)
		return
	}
	version := negotiate(p.ProtocolVersion)
	resp, err := h.sessions.CreateSession(ctx, &sessionv1.CreateSessionRequest{
		ProtocolVersion:        version,
		ClientInfoJson:         string(p.ClientInfo),
		ClientCapabilitiesJson: string(p.Capabilities),
	})
	if err != nil {
		h.log.Error("create session", "err", err)
		// Like every request that finds the session store unreachable:
		// 503, so that clients and load balancers retry elsewhere.
		if status.Code(err) == codes.InvalidArgument {
			out.reply(m.ID, nil, err)
			return
		}
		out.w.Header().Set("Content-Type", "application/json")
		out.w.WriteHeader(errBackend.status)
		out.w.Write(response(m.ID, nil, errBackend.rpc))
		return
	}
	id := resp.GetSession().GetId()
	h.log.Info("session created", sessionAttr(id), "protocol_version", version)
	out.sessionID = id
	out.reply(m.ID, initialized(version), nil)
}

// checkInitialize validates the params of initialize.
func checkInitialize(m *message) (initializeParams, error) {
	var p initializeParams
	if err := decodeParams(m.Params, &p); err != nil {
		return p, err
	}
	if p.ProtocolVersion == "" {
		return p, newRPCError(codeInvalidParams, "invalid params: protocolVersion is required")
	}
	if err := requireObject("clientInfo", p.ClientInfo); err != nil {
		return p, err
	}
	return p, requireObject("capabilities", p.Capabilities)
}

// initialized is the result of initialize for the negotiated version.
func initialized(version string) initializeResult {
	return initializeResult{
		ProtocolVersion: version,
		Capabilities:    serverCapabilities,
		ServerInfo:      implementation{Name: serverName, Title: serverTitle, Version: serverVersion},
	}
}

// serverCapabilities are what the gateway offers every client, whatever
// its providers serve: the catalogue changes as providers come and go.
var serverCapabilities = map[string]any{
	"tools":       map[string]any{"listChanged": true},
	"resources":   map[string]any{"subscribe": true, "listChanged": true},
	"prompts":     map[string]any{"listChanged": true},
	"completions": map[string]any{},
	"logging":     map[string]any{},
	"tasks":       taskCapabilities,
}

// requireObject checks that an optional params member, when present, is a
// JSON object.
func requireObject(name string, raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] == '{' {
		return nil
	}
	return newRPCError(codeInvalidParams, "invalid params: "+name+" must be an object")
}

func (h *Handler) ping(context.Context, *sessionv1.Session, json.RawMessage) (any, error) {
	return struct{}{}, nil
}

type listParams struct {
	Cursor *string `json:"cursor"`
}

// tool is an MCP Tool as the gateway emits it. Raw members are copied
// verbatim from the provider's declaration.
type tool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
	Icons        json.RawMessage `json:"icons,omitempty"`
	Execution    json.RawMessage `json:"execution,omitempty"`
	Meta         json.RawMessage `json:"_meta,omitempty"`
}

type listToolsResult struct {
	Tools      []tool `json:"tools"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func (h *Handler) listTools(ctx context.Context, _ *sessionv1.Session, params json.RawMessage) (any, error) {
	var p listParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	req := &registryv1.ListToolsRequest{}
	if p.Cursor != nil {
		if *p.Cursor == "" {
			return nil, newRPCError(codeInvalidParams, "invalid params: invalid cursor")
		}
		req.PageToken = *p.Cursor
	}
	resp, err := h.registry.ListTools(ctx, req)
	if err != nil {
		return nil, err
	}
	out := listToolsResult{Tools: make([]tool, 0, len(resp.GetTools())), NextCursor: resp.GetNextPageToken()}
	for _, ct := range resp.GetTools() {
		out.Tools = append(out.Tools, toolFromProto(ct.GetTool()))
	}
	return out, nil
}

func toolFromProto(t *providerv1.Tool) tool {
	schema := raw(t.GetInputSchemaJson())
	if schema == nil {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	return tool{
		Name:         t.GetName(),
		Title:        t.GetTitle(),
		Description:  t.GetDescription(),
		InputSchema:  schema,
		OutputSchema: raw(t.GetOutputSchemaJson()),
		Annotations:  raw(t.GetAnnotationsJson()),
		Icons:        raw(t.GetIconsJson()),
		Execution:    raw(t.GetExecutionJson()),
		Meta:         raw(t.GetMetaJson()),
	}
}

// raw turns a JSON text field into a RawMessage, nil when empty.
func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

type callParams struct {
	Name      *string         `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Meta      json.RawMessage `json:"_meta"`
}

// callResult is an MCP CallToolResult.
type callResult struct {
	Content           json.RawMessage `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError,omitempty"`
	Meta              json.RawMessage `json:"_meta,omitempty"`
}

// callRequest validates tools/call params and builds the registry call.
func callRequest(s *sessionv1.Session, params json.RawMessage) (*registryv1.CallToolRequest, error) {
	var p callParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Name == nil || *p.Name == "" {
		return nil, newRPCError(codeInvalidParams, "invalid params: name is required")
	}
	if len(p.Arguments) > 0 && string(p.Arguments) != "null" && p.Arguments[0] != '{' {
		return nil, newRPCError(codeInvalidParams, "invalid params: arguments must be an object")
	}
	if err := requireObject("_meta", p.Meta); err != nil {
		return nil, err
	}
	return &registryv1.CallToolRequest{
		Name:                   *p.Name,
		ArgumentsJson:          string(nullToEmpty(p.Arguments)),
		MetaJson:               string(p.Meta),
		SessionId:              s.GetId(),
		ClientCapabilitiesJson: s.GetClientCapabilitiesJson(),
		LogLevel:               s.GetLogLevel(),
		ProtocolVersion:        s.GetProtocolVersion(),
	}, nil
}

// callTool runs a tool call bound to this request and answers with its
// result; interim messages have nowhere to go and are dropped.
func (h *Handler) callTool(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	if task, ok := requestedTask(params); ok {
		return h.createTask(ctx, s, params, task)
	}
	req, err := callRequest(s, params)
	if err != nil {
		return nil, err
	}
	res, err := h.runTool(ctx, req)
	if err != nil {
		if rerr := taskRefused(err); rerr != nil {
			return nil, rerr
		}
		if msg, ok := toolFailure(err, s.GetProtocolVersion()); ok {
			h.log.Warn("tool call failed", sessionAttr(s.GetId()), "tool", req.GetName(), "err", err)
			return errorResult(msg), nil
		}
		return nil, err
	}
	return resultFromProto(res), nil
}

// runTool calls the tool through the registry and waits for its result.
func (h *Handler) runTool(ctx context.Context, req *registryv1.CallToolRequest) (*providerv1.ToolResult, error) {
	stream, err := h.registry.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, newRPCError(codeInternalError, "internal error: tool call ended without a result")
		}
		if err != nil {
			return nil, err
		}
		if res := msg.GetResult(); res != nil {
			return res, nil
		}
	}
}

func nullToEmpty(b json.RawMessage) json.RawMessage {
	if string(b) == "null" {
		return nil
	}
	return b
}

func resultFromProto(r *providerv1.ToolResult) callResult {
	content := raw(r.GetContentJson())
	if content == nil {
		content = json.RawMessage("[]")
	}
	return callResult{
		Content:           content,
		StructuredContent: raw(r.GetStructuredContentJson()),
		IsError:           r.GetIsError(),
		Meta:              raw(r.GetMetaJson()),
	}
}

// errorResult reports a tool execution failure to the model.
func errorResult(msg string) callResult {
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	content, _ := json.Marshal([]text{{Type: "text", Text: msg}})
	return callResult{Content: content, IsError: true}
}
