package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// Describe answers the catalogue the bridge registered (or is
// registering): the upstream's, filtered, as last listed.
func (b *bridge) Describe(context.Context, *providerv1.DescribeRequest) (
	*providerv1.DescribeResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cat == nil {
		return nil, status.Errorf(codes.Unavailable, "upstream %q is not connected", b.spec.Name)
	}
	return b.cat, nil
}

// CallTool forwards one tool call on the client session's upstream
// session and relays what the upstream sends meanwhile. Cancelling the
// stream cancels the upstream request (the SDK sends
// notifications/cancelled).
func (b *bridge) CallTool(stream providerv1.ProviderService_CallToolServer) error {
	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	start := msg.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, errNoStart.Error())
	}
	if !b.exposes(start.GetName()) {
		return status.Errorf(codes.NotFound, "unknown tool %q", start.GetName())
	}
	params, token, err := toolParams(start)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithTimeout(stream.Context(), b.callTimeout())
	defer cancel()
	c := &call{ctx: ctx, stream: stream, token: token, tokenKey: tokenKey(token)}
	go c.readAnswers()

	var raw json.RawMessage
	err = b.pool.with(ctx, start.GetSessionId(), start.GetClientCapabilitiesJson(),
		func(cc *clientConn) error {
			cc.addCall(c)
			defer cc.removeCall(c)
			var err error
			raw, err = callRounds(ctx, cc, c, params)
			return err
		})
	if err != nil {
		return b.status(ctx, "tool "+start.GetName(), err)
	}
	result, err := toolResult(raw)
	if err != nil {
		return b.status(ctx, "tool "+start.GetName(), err)
	}
	return c.send(&providerv1.CallToolResponse{
		Message: &providerv1.CallToolResponse_Result{Result: result}})
}

// maxInputRounds bounds the input_required rounds of one tool call.
const maxInputRounds = 10

// callRounds calls the tool and, while an upstream on 2026-07-28 answers
// input_required, puts its input requests to the client (each under the
// upstream's own key, all at once) and retries with the answers and the
// upstream's requestState (SEP-2322). It returns the final result as it
// came.
func callRounds(ctx context.Context, cc *clientConn, c *call, params *mcp.CallToolParams) (
	json.RawMessage, error) {
	var extra map[string]json.RawMessage
	for round := 1; ; round++ {
		ex := &exchange{call: c, extra: extra}
		raw, err := roundTrip(ctx, ex, func(ctx context.Context) (any, error) {
			return cc.cs.CallTool(ctx, params)
		})
		if err != nil {
			return nil, err
		}
		ir, ok := inputRequired(raw)
		if !ok {
			return raw, nil
		}
		if round >= maxInputRounds {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
				"the upstream still asked for input after %d rounds", maxInputRounds)}
		}
		answers, err := c.answerAll(ctx, ir.InputRequests)
		if err != nil {
			return nil, err
		}
		extra = map[string]json.RawMessage{"inputResponses": answers}
		if len(ir.RequestState) > 0 {
			extra["requestState"] = ir.RequestState
		}
	}
}

// inputRequest is one member of an input_required result's
// inputRequests: a request for the client, kept as JSON text.
type inputRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// inputRequiredResult is what the bridge reads of an input_required
// result; requestState is kept as it came.
type inputRequiredResult struct {
	ResultType    string                  `json:"resultType"`
	InputRequests map[string]inputRequest `json:"inputRequests"`
	RequestState  json.RawMessage         `json:"requestState"`
}

// inputRequired decodes raw when it is an input_required result.
func inputRequired(raw json.RawMessage) (*inputRequiredResult, bool) {
	var r inputRequiredResult
	if json.Unmarshal(raw, &r) != nil || r.ResultType != "input_required" {
		return nil, false
	}
	return &r, true
}

// answerAll puts every input request to the client at once and returns
// the answers as an inputResponses object. A request the client fails
// fails the call with the client's error.
func (c *call) answerAll(ctx context.Context, reqs map[string]inputRequest) (
	json.RawMessage, error) {
	var (
		mu      sync.Mutex
		answers = make(map[string]json.RawMessage, len(reqs))
		first   *jsonrpc.Error
		wg      sync.WaitGroup
	)
	for key, r := range reqs {
		wg.Go(func() {
			res, rpcErr := c.request(ctx, r.Method, key, r.Params)
			mu.Lock()
			defer mu.Unlock()
			if rpcErr != nil && first == nil {
				first = rpcErr
			}
			answers[key] = res
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return json.Marshal(answers)
}

// toolParams builds the upstream call from the registry's: arguments
// and _meta (traceparent, progressToken and the rest) as sent.
func toolParams(start *providerv1.CallToolStart) (*mcp.CallToolParams, json.RawMessage,
	error) {
	args := json.RawMessage(start.GetArgumentsJson())
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if !json.Valid(args) {
		return nil, nil, fmt.Errorf("arguments_json: not valid JSON")
	}
	p := &mcp.CallToolParams{Name: start.GetName(), Arguments: args}
	meta, err := rawMeta(start.GetMetaJson())
	if err != nil {
		return nil, nil, err
	}
	p.Meta = metaMap(meta)
	return p, metaToken(meta), nil
}

// rawMeta decodes a _meta object into its members as JSON text, without
// the per-request protocol fields of the stateless generation: they
// describe the client's hop to the gateway (its revision, identity and
// capabilities), while the bridge's own session with the upstream has its
// own, which the SDK adds when that session is stateless too. A
// session-based upstream refuses a request that carries them.
func rawMeta(text string) (map[string]json.RawMessage, error) {
	if text == "" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("meta_json: want a JSON object: %w", err)
	}
	for _, k := range hopMetaKeys {
		delete(m, k)
	}
	return m, nil
}

// hopMetaKeys are the _meta members that belong to one hop of a request.
var hopMetaKeys = []string{
	"io.modelcontextprotocol/protocolVersion",
	"io.modelcontextprotocol/clientInfo",
	"io.modelcontextprotocol/clientCapabilities",
	"io.modelcontextprotocol/logLevel",
}

// metaMap keeps each member as JSON text, so that it is sent on exactly
// as it came: numbers keep every digit.
func metaMap(m map[string]json.RawMessage) mcp.Meta {
	if len(m) == 0 {
		return nil
	}
	out := make(mcp.Meta, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// toolResult encodes an upstream's result for the registry, each member
// as the upstream wrote it.
//
// Known shortcoming: ToolResult carries content, structuredContent,
// isError and _meta only; other members of a CallToolResult are dropped.
func toolResult(raw json.RawMessage) (*providerv1.ToolResult, error) {
	var r struct {
		Content           json.RawMessage `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
		Meta              json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	out := &providerv1.ToolResult{ContentJson: "[]", IsError: r.IsError}
	if given(r.Content) {
		out.ContentJson = string(r.Content)
	}
	if given(r.StructuredContent) {
		out.StructuredContentJson = string(r.StructuredContent)
	}
	if given(r.Meta) && string(r.Meta) != "{}" {
		out.MetaJson = string(r.Meta)
	}
	return out, nil
}

// given tells whether a member was present and not null.
func given(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

// ReadResource reads a resource on the client session's upstream session.
func (b *bridge) ReadResource(ctx context.Context, req *providerv1.ReadResourceRequest) (
	*providerv1.ReadResourceResponse, error) {
	meta, err := rawMeta(req.GetMetaJson())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	extra, err := retryParams(req.GetInputResponsesJson(), req.GetRequestState())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	params := &mcp.ReadResourceParams{URI: req.GetUri(), Meta: metaMap(meta)}
	res, err := forward(ctx, b, req.GetSessionId(), "resource "+req.GetUri(), extra,
		func(ctx context.Context, cs *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
			return cs.ReadResource(ctx, params)
		})
	if err != nil {
		return nil, err
	}
	return &providerv1.ReadResourceResponse{ResultJson: res}, nil
}

// GetPrompt renders a prompt on the client session's upstream session.
func (b *bridge) GetPrompt(ctx context.Context, req *providerv1.GetPromptRequest) (
	*providerv1.GetPromptResponse, error) {
	meta, err := rawMeta(req.GetMetaJson())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	params := &mcp.GetPromptParams{Name: req.GetName(), Meta: metaMap(meta)}
	if a := req.GetArgumentsJson(); a != "" {
		if err := json.Unmarshal([]byte(a), &params.Arguments); err != nil {
			return nil, status.Errorf(codes.InvalidArgument,
				"arguments_json: want an object of strings: %v", err)
		}
	}
	extra, err := retryParams(req.GetInputResponsesJson(), req.GetRequestState())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	res, err := forward(ctx, b, req.GetSessionId(), "prompt "+req.GetName(), extra,
		func(ctx context.Context, cs *mcp.ClientSession) (*mcp.GetPromptResult, error) {
			return cs.GetPrompt(ctx, params)
		})
	if err != nil {
		return nil, err
	}
	return &providerv1.GetPromptResponse{ResultJson: res}, nil
}

// Complete asks the upstream for completions on the client session's
// upstream session.
func (b *bridge) Complete(ctx context.Context, req *providerv1.CompleteRequest) (
	*providerv1.CompleteResponse, error) {
	params := &mcp.CompleteParams{}
	parts := []struct {
		name, text string
		into       any
	}{{"ref_json", req.GetRefJson(), &params.Ref},
		{"argument_json", req.GetArgumentJson(), &params.Argument},
		{"context_json", req.GetContextJson(), &params.Context}}
	for _, p := range parts {
		if p.text == "" {
			continue
		}
		if err := json.Unmarshal([]byte(p.text), p.into); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%s: %v", p.name, err)
		}
	}
	res, err := forward(ctx, b, req.GetSessionId(), "completion", nil,
		func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CompleteResult, error) {
			return cs.Complete(ctx, params)
		})
	if err != nil {
		return nil, err
	}
	return &providerv1.CompleteResponse{ResultJson: res}, nil
}

// retryParams returns the params members of a retried request
// (2026-07-28): the client's inputResponses and requestState, as sent.
// An input_required result of the upstream's reaches the client as it
// came, so the retry goes to the upstream unchanged too.
func retryParams(inputResponses, requestState string) (map[string]json.RawMessage, error) {
	extra := map[string]json.RawMessage{}
	if inputResponses != "" {
		if !json.Valid([]byte(inputResponses)) {
			return nil, fmt.Errorf("input_responses_json: not valid JSON")
		}
		extra["inputResponses"] = json.RawMessage(inputResponses)
	}
	if requestState != "" {
		state, err := json.Marshal(requestState)
		if err != nil {
			return nil, fmt.Errorf("request_state: %w", err)
		}
		extra["requestState"] = state
	}
	return extra, nil
}

// forward runs one request on the client session's upstream session,
// with extra params members set on the wire, and returns its result as
// the upstream wrote it, or a gRPC status.
func forward[R any](ctx context.Context, b *bridge, sessionID, what string,
	extra map[string]json.RawMessage,
	f func(context.Context, *mcp.ClientSession) (*R, error)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.callTimeout())
	defer cancel()
	var res json.RawMessage
	err := b.pool.with(ctx, sessionID, "", func(cc *clientConn) error {
		var err error
		res, err = roundTrip(ctx, &exchange{extra: extra},
			func(ctx context.Context) (any, error) { return f(ctx, cc.cs) })
		return err
	})
	if err != nil {
		return "", b.status(ctx, what, err)
	}
	return string(res), nil
}
