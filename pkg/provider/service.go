package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// Service returns the provider's gRPC API, for a program that serves it
// on a gRPC server of its own:
//
//	providerv1.RegisterProviderServiceServer(grpcServer, p.Service())
func (p *Provider) Service() providerv1.ProviderServiceServer { return &service{p: p} }

type service struct {
	providerv1.UnimplementedProviderServiceServer
	p *Provider
}

// Describe lists the catalogue.
func (s *service) Describe(context.Context, *providerv1.DescribeRequest) (
	*providerv1.DescribeResponse, error) {
	s.p.mu.RLock()
	defer s.p.mu.RUnlock()
	resp := &providerv1.DescribeResponse{}
	for _, t := range sortedValues(s.p.tools) {
		resp.Tools = append(resp.Tools, toolProto(t.def))
	}
	for _, r := range sortedValues(s.p.resources) {
		resp.Resources = append(resp.Resources, r.proto)
	}
	for _, t := range sortedValues(s.p.templates) {
		resp.ResourceTemplates = append(resp.ResourceTemplates, t.proto)
	}
	for _, pr := range sortedValues(s.p.prompts) {
		resp.Prompts = append(resp.Prompts, pr.proto)
	}
	return resp, nil
}

func toolProto(t Tool) *providerv1.Tool {
	pt := &providerv1.Tool{
		Name:             t.Name,
		Title:            t.Title,
		Description:      t.Description,
		InputSchemaJson:  compact(t.InputSchema),
		OutputSchemaJson: compact(t.OutputSchema),
		MetaJson:         compact(t.Meta),
		IconsJson:        compact(t.Icons),
		ExecutionJson:    compact(t.Execution),
	}
	if t.Annotations != nil {
		b, _ := json.Marshal(t.Annotations)
		pt.AnnotationsJson = string(b)
	}
	return pt
}

// compact returns JSON that AddTool has checked without insignificant
// space; numbers keep their digits.
func compact(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// CallTool runs one call: a CallToolStart in, then interim messages both
// ways while the handler runs, then exactly one result out.
func (s *service) CallTool(stream callStream) error {
	msg, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "stream closed before CallToolStart")
	}
	if err != nil {
		return err
	}
	start := msg.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "first message must be a CallToolStart")
	}
	x := newExchange(stream, s.p.log)
	go x.receive()
	res, err := s.p.call(stream.Context(), start, x)
	if err != nil {
		x.finish(nil)
		return err
	}
	return x.finish(res)
}

// call runs a tool and maps the outcome to a result or a gRPC status;
// it is the one place where handler errors meet gRPC codes.
func (p *Provider) call(ctx context.Context, start *providerv1.CallToolStart, x *exchange) (
	*providerv1.ToolResult, error) {
	t, ok := p.lookup(start.GetName())
	if !ok {
		p.log.Info("call refused", "tool", start.GetName(), "reason", "unknown tool")
		return nil, status.Errorf(codes.NotFound, "unknown tool %q", start.GetName())
	}
	req, err := t.request(start)
	if err == nil {
		req.x = x
		var res *Result
		if res, err = p.invoke(ctx, t, req); err == nil {
			return p.resultProto(t, res), nil
		}
	}
	var protocolErr *mcperr.Error
	switch {
	case errors.As(err, &protocolErr):
		// The tool ends the request with a JSON-RPC error of its choosing
		// instead of a result; the client gets that code and message.
		p.log.Info("call ended with a protocol error", "tool", t.def.Name, "code", protocolErr.Code)
		return nil, protocolErr.Status(codes.Internal).Err()
	case errors.Is(err, ErrInvalidArguments):
		p.log.Info("call refused", "tool", t.def.Name, "reason", err)
		return nil, status.Errorf(codes.InvalidArgument, "tool %q: %v", t.def.Name, err)
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	default:
		p.log.Info("tool failed", "tool", t.def.Name, "err", err)
		return p.resultProto(t, Errorf("%v", err)), nil
	}
}

// invoke runs the handler, turning a panic into a failed result so that
// one broken tool cannot take the provider down.
func (p *Provider) invoke(ctx context.Context, t *tool, req *Request) (res *Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("tool panicked", "tool", t.def.Name, "panic", v, "stack", string(debug.Stack()))
			res, err = Errorf("tool %q failed with an internal error", t.def.Name), nil
		}
	}()
	return t.handler(context.WithValue(ctx, requestKey{}, req), req)
}

// resultProto encodes a result, replacing one the handler built from
// malformed JSON by a failed result.
func (p *Provider) resultProto(t *tool, r *Result) *providerv1.ToolResult {
	if r == nil {
		r = &Result{}
	}
	content := "[]"
	if len(r.Content) > 0 {
		b, err := marshal(r.Content)
		if err == nil {
			err = checkBlocks(r.Content)
		}
		if err != nil {
			return p.badResult(t, "content", err)
		}
		content = string(b)
	}
	structured, err := jsonObject(r.StructuredContent)
	if err != nil {
		return p.badResult(t, "structured content", err)
	}
	meta, err := jsonObject(r.Meta)
	if err != nil {
		return p.badResult(t, "meta", err)
	}
	return &providerv1.ToolResult{
		ContentJson:           content,
		StructuredContentJson: structured,
		IsError:               r.IsError,
		MetaJson:              meta,
	}
}

func (p *Provider) badResult(t *tool, field string, err error) *providerv1.ToolResult {
	p.log.Error("tool returned an invalid result", "tool", t.def.Name, "field", field, "err", err)
	msg := fmt.Sprintf("tool %q returned an invalid result", t.def.Name)
	return &providerv1.ToolResult{
		ContentJson: "[" + string(TextBlock(msg)) + "]",
		IsError:     true,
	}
}

// checkBlocks checks that every content block is a JSON object, as a
// nil block (a helper's sign of bad input) is not.
func checkBlocks(blocks []json.RawMessage) error {
	for i, b := range blocks {
		if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
			return fmt.Errorf("content block %d is not a JSON object", i)
		}
	}
	return nil
}

// jsonObject compacts raw, which must be empty or one JSON object.
func jsonObject(raw json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	if buf.Bytes()[0] != '{' {
		return "", errors.New("not a JSON object")
	}
	return buf.String(), nil
}

// request checks a call's arguments and builds the handler's Request.
func (t *tool) request(start *providerv1.CallToolStart) (*Request, error) {
	args := json.RawMessage(start.GetArgumentsJson())
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	if err := t.checkArgs(args); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArguments, err)
	}
	req := &Request{
		Name:            t.def.Name,
		Arguments:       args,
		SessionID:       start.GetSessionId(),
		ProtocolVersion: start.GetProtocolVersion(),
	}
	var err error
	if req.Meta, err = optionalObject("_meta", start.GetMetaJson()); err != nil {
		return nil, err
	}
	caps := start.GetClientCapabilitiesJson()
	if req.ClientCapabilities, err = optionalObject("client capabilities", caps); err != nil {
		return nil, err
	}
	return req, nil
}

// optionalObject checks a JSON field that may be empty, refusing
// malformed JSON as the caller's fault.
func optionalObject(field, raw string) (json.RawMessage, error) {
	if raw == "" {
		return nil, nil
	}
	if !json.Valid([]byte(raw)) {
		return nil, fmt.Errorf("%w: %s is not valid JSON", ErrInvalidArguments, field)
	}
	return json.RawMessage(raw), nil
}

// checkArgs checks that args is one JSON object that satisfies the input
// schema.
func (t *tool) checkArgs(args json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("not valid JSON: data after the arguments object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errors.New("not a JSON object")
	}
	if t.input == nil {
		return nil
	}
	return t.input.Validate(exactNumbers(obj))
}

// exactNumbers replaces the json.Numbers in v by int64, uint64 or float64
// values, since the validator compares Go numbers. Integers that fit 64
// bits stay exact, so bounds on int64 fields are checked to the digit.
func exactNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = exactNumbers(e)
		}
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n
		}
		if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil || math.IsInf(f, 0) {
			return f
		}
	}
	return v
}

// ReadResource reads a listed resource or one matching a template.
func (s *service) ReadResource(ctx context.Context, req *providerv1.ReadResourceRequest) (
	*providerv1.ReadResourceResponse, error) {
	res, err := s.p.read(ctx, req)
	if err != nil {
		return nil, s.p.status(ctx, "resource", req.GetUri(), err)
	}
	return &providerv1.ReadResourceResponse{ResultJson: res}, nil
}

// GetPrompt renders a prompt.
func (s *service) GetPrompt(ctx context.Context, req *providerv1.GetPromptRequest) (
	*providerv1.GetPromptResponse, error) {
	res, err := s.p.getPrompt(ctx, req)
	if err != nil {
		return nil, s.p.status(ctx, "prompt", req.GetName(), err)
	}
	return &providerv1.GetPromptResponse{ResultJson: res}, nil
}

// Complete suggests values for a prompt argument or template variable.
func (s *service) Complete(ctx context.Context, req *providerv1.CompleteRequest) (
	*providerv1.CompleteResponse, error) {
	res, err := s.p.complete(ctx, req)
	if err != nil {
		return nil, s.p.status(ctx, "completion", req.GetRefJson(), err)
	}
	return &providerv1.CompleteResponse{ResultJson: res}, nil
}

// status maps an error from a resource, prompt or completion handler to
// a gRPC status; it is the one place where those errors meet gRPC codes.
func (p *Provider) status(ctx context.Context, kind, name string, err error) error {
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrInvalidArguments):
		p.log.Info("request refused", "kind", kind, "name", name, "reason", err)
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errNoInputRequired):
		p.log.Warn("handler asked for input the client cannot give", "kind", kind,
			"name", name, "err", err)
		return status.Error(codes.FailedPrecondition, err.Error())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	default:
		p.log.Info("handler failed", "kind", kind, "name", name, "err", err)
		return status.Errorf(codes.Internal, "%s %q: %v", kind, name, err)
	}
}

// guard runs a resource, prompt or completion handler, turning a panic
// into an error so that one broken handler cannot take the provider down.
func guard[T any](p *Provider, kind, name string, f func() (T, error)) (res T, err error) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("handler panicked", "kind", kind, "name", name,
				"panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s %q failed with an internal error", kind, name)
		}
	}()
	return f()
}

// encodeResult encodes what a handler returned, reporting JSON it built
// badly (such as a malformed _meta) as an internal error.
func encodeResult(p *Provider, kind, name string, v any) (string, error) {
	b, err := marshal(v)
	if err != nil {
		return "", p.invalidResult(kind, name, err)
	}
	return string(b), nil
}

func (p *Provider) invalidResult(kind, name string, err error) error {
	p.log.Error("handler returned an invalid result", "kind", kind, "name", name, "err", err)
	return status.Errorf(codes.Internal, "%s %q returned an invalid result", kind, name)
}

// marshal encodes v as compact JSON. Unlike json.Marshal it leaves '<',
// '>' and '&' alone, so text reaches the client as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
