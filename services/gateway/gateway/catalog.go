package gateway

import (
	"context"
	"encoding/json"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// This file holds the MCP methods beyond tools: resources, prompts,
// completions, logging and subscriptions. Each validates its params, makes
// one backend call and passes the provider's JSON through untouched.

// cursor validates a list cursor. An empty string is not a cursor the
// gateway ever issues, so it is invalid rather than "first page".
func cursor(params json.RawMessage) (string, error) {
	var p listParams
	if err := decodeParams(params, &p); err != nil {
		return "", err
	}
	if p.Cursor == nil {
		return "", nil
	}
	if *p.Cursor == "" {
		return "", newRPCError(codeInvalidParams, "invalid params: invalid cursor")
	}
	return *p.Cursor, nil
}

// page is a list result: the items under their MCP member name plus the
// next cursor.
func page(member string, items []json.RawMessage, next string) map[string]any {
	out := map[string]any{member: items}
	if next != "" {
		out["nextCursor"] = next
	}
	return out
}

func (h *Handler) listResources(ctx context.Context, _ *sessionv1.Session, params json.RawMessage) (any, error) {
	tok, err := cursor(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.ListResources(ctx, &registryv1.ListResourcesRequest{PageToken: tok})
	if err != nil {
		return nil, err
	}
	items := make([]json.RawMessage, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		items = append(items, json.RawMessage(r.GetResource().GetDefinitionJson()))
	}
	return page("resources", items, resp.GetNextPageToken()), nil
}

func (h *Handler) listTemplates(ctx context.Context, _ *sessionv1.Session, params json.RawMessage) (any, error) {
	tok, err := cursor(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.ListResourceTemplates(ctx, &registryv1.ListResourceTemplatesRequest{PageToken: tok})
	if err != nil {
		return nil, err
	}
	items := make([]json.RawMessage, 0, len(resp.GetResourceTemplates()))
	for _, t := range resp.GetResourceTemplates() {
		items = append(items, json.RawMessage(t.GetTemplate().GetDefinitionJson()))
	}
	return page("resourceTemplates", items, resp.GetNextPageToken()), nil
}

func (h *Handler) listPrompts(ctx context.Context, _ *sessionv1.Session, params json.RawMessage) (any, error) {
	tok, err := cursor(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.ListPrompts(ctx, &registryv1.ListPromptsRequest{PageToken: tok})
	if err != nil {
		return nil, err
	}
	items := make([]json.RawMessage, 0, len(resp.GetPrompts()))
	for _, p := range resp.GetPrompts() {
		items = append(items, json.RawMessage(p.GetPrompt().GetDefinitionJson()))
	}
	return page("prompts", items, resp.GetNextPageToken()), nil
}

type uriParams struct {
	URI  *string         `json:"uri"`
	Meta json.RawMessage `json:"_meta"`
	inputRound
}

// inputRound holds what a retried stateless request (2026-07-28) carries
// for a provider that asked for input itself; both go to the provider as
// the client sent them.
type inputRound struct {
	InputResponses json.RawMessage `json:"inputResponses"`
	RequestState   *string         `json:"requestState"`
}

func (r inputRound) state() string {
	if r.RequestState == nil {
		return ""
	}
	return *r.RequestState
}

func requireURI(params json.RawMessage) (uriParams, error) {
	var p uriParams
	if err := decodeParams(params, &p); err != nil {
		return p, err
	}
	if p.URI == nil || *p.URI == "" {
		return p, newRPCError(codeInvalidParams, "invalid params: uri is required")
	}
	if err := requireObject("inputResponses", nullToEmpty(p.InputResponses)); err != nil {
		return p, err
	}
	return p, requireObject("_meta", p.Meta)
}

// codeResourceNotFound is the code the session-based revisions give an
// unknown resource (2025-11-25, Resources, Error Handling); the stateless
// generation uses invalid params instead (2026-07-28, Error Codes).
const codeResourceNotFound = -32002

func (h *Handler) readResource(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	p, err := requireURI(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.ReadResource(ctx, &registryv1.ReadResourceRequest{
		Uri: *p.URI, MetaJson: string(p.Meta), SessionId: s.GetId(),
		ClientCapabilitiesJson: s.GetClientCapabilitiesJson(), ProtocolVersion: s.GetProtocolVersion(),
		InputResponsesJson: string(nullToEmpty(p.InputResponses)), RequestState: p.state(),
	})
	if status.Code(err) == codes.NotFound {
		code := codeResourceNotFound
		if statelessVersion(s.GetProtocolVersion()) {
			code = codeInvalidParams
		}
		e := newRPCError(code, "resource not found: "+quote(*p.URI))
		e.Data, _ = json.Marshal(map[string]string{"uri": *p.URI})
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	return json.RawMessage(resp.GetResultJson()), nil
}

type promptParams struct {
	Name      *string         `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Meta      json.RawMessage `json:"_meta"`
	inputRound
}

func (h *Handler) getPrompt(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	var p promptParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Name == nil || *p.Name == "" {
		return nil, newRPCError(codeInvalidParams, "invalid params: name is required")
	}
	if err := requireObject("arguments", nullToEmpty(p.Arguments)); err != nil {
		return nil, err
	}
	if err := requireObject("_meta", p.Meta); err != nil {
		return nil, err
	}
	if err := requireObject("inputResponses", nullToEmpty(p.InputResponses)); err != nil {
		return nil, err
	}
	resp, err := h.registry.GetPrompt(ctx, &registryv1.GetPromptRequest{
		Name: *p.Name, ArgumentsJson: string(nullToEmpty(p.Arguments)),
		MetaJson: string(p.Meta), SessionId: s.GetId(),
		ClientCapabilitiesJson: s.GetClientCapabilitiesJson(), ProtocolVersion: s.GetProtocolVersion(),
		InputResponsesJson: string(nullToEmpty(p.InputResponses)), RequestState: p.state(),
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(resp.GetResultJson()), nil
}

type completeParams struct {
	Ref      json.RawMessage `json:"ref"`
	Argument json.RawMessage `json:"argument"`
	Context  json.RawMessage `json:"context"`
}

func (h *Handler) complete(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	var p completeParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if len(p.Ref) == 0 || p.Ref[0] != '{' || len(p.Argument) == 0 || p.Argument[0] != '{' {
		return nil, newRPCError(codeInvalidParams, "invalid params: ref and argument objects are required")
	}
	if err := requireObject("context", nullToEmpty(p.Context)); err != nil {
		return nil, err
	}
	resp, err := h.registry.Complete(ctx, &registryv1.CompleteRequest{
		RefJson: string(p.Ref), ArgumentJson: string(p.Argument),
		ContextJson: string(nullToEmpty(p.Context)), SessionId: s.GetId(),
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(resp.GetResultJson()), nil
}

// logLevels are the syslog severities MCP uses, lowest first.
var logLevels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

func (h *Handler) setLevel(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	var p struct {
		Level string `json:"level"`
	}
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if !slices.Contains(logLevels, p.Level) {
		return nil, newRPCError(codeInvalidParams, "invalid params: level must be one of debug, info, "+
			"notice, warning, error, critical, alert, emergency")
	}
	_, err := h.sessions.UpdateSession(ctx, &sessionv1.UpdateSessionRequest{Id: s.GetId(), LogLevel: &p.Level})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) subscribe(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	p, err := requireURI(params)
	if err != nil {
		return nil, err
	}
	if _, err := h.sessions.Subscribe(ctx, &sessionv1.SubscribeRequest{SessionId: s.GetId(), Uri: *p.URI}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) unsubscribe(ctx context.Context, s *sessionv1.Session, params json.RawMessage) (any, error) {
	p, err := requireURI(params)
	if err != nil {
		return nil, err
	}
	if _, err := h.sessions.Unsubscribe(ctx, &sessionv1.UnsubscribeRequest{SessionId: s.GetId(), Uri: *p.URI}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
