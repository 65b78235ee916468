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

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	tools := s.p.Tools()
	resp := &providerv1.DescribeResponse{Tools: make([]*providerv1.Tool, 0, len(tools))}
	for _, t := range tools {
		resp.Tools = append(resp.Tools, toolProto(t))
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

type callStream = grpc.BidiStreamingServer[providerv1.CallToolRequest, providerv1.CallToolResponse]

// CallTool runs one call: a CallToolStart in, exactly one result out.
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
	res, err := s.p.call(stream.Context(), start)
	if err != nil {
		return err
	}
	return stream.Send(&providerv1.CallToolResponse{
		Message: &providerv1.CallToolResponse_Result{Result: res},
	})
}

// call runs a tool and maps the outcome to a result or a gRPC status;
// it is the one place where handler errors meet gRPC codes.
func (p *Provider) call(ctx context.Context, start *providerv1.CallToolStart) (
	*providerv1.ToolResult, error) {
	t, ok := p.lookup(start.GetName())
	if !ok {
		p.log.Info("call refused", "tool", start.GetName(), "reason", "unknown tool")
		return nil, status.Errorf(codes.NotFound, "unknown tool %q", start.GetName())
	}
	req, err := t.request(start)
	if err == nil {
		var res *Result
		if res, err = p.invoke(ctx, t, req); err == nil {
			return p.resultProto(t, res), nil
		}
	}
	switch {
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
	return t.handler(ctx, req)
}

// resultProto encodes a result, replacing one the handler built from
// malformed JSON by a failed result.
func (p *Provider) resultProto(t *tool, r *Result) *providerv1.ToolResult {
	if r == nil {
		r = &Result{}
	}
	content := "[]"
	if len(r.Content) > 0 {
		b, err := json.Marshal(r.Content)
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
	req := &Request{Name: t.def.Name, Arguments: args, SessionID: start.GetSessionId()}
	if m := start.GetMetaJson(); m != "" {
		if !json.Valid([]byte(m)) {
			return nil, fmt.Errorf("%w: _meta is not valid JSON", ErrInvalidArguments)
		}
		req.Meta = json.RawMessage(m)
	}
	return req, nil
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
