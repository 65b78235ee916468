package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// maxCompletions is the most values MCP lets one completion carry.
const maxCompletions = 100

// CompletionHandler suggests values for a prompt argument or a template
// variable (MCP completion/complete). Errors map to gRPC codes as for a
// ResourceHandler.
type CompletionHandler func(ctx context.Context, req *CompletionRequest) (*Completion, error)

// CompletionRequest asks for suggestions for one argument.
type CompletionRequest struct {
	// Prompt names the prompt whose argument is completed, or is empty.
	Prompt string
	// URITemplate is the template whose variable is completed, or is
	// empty.
	URITemplate string
	// Argument names the argument or variable.
	Argument string
	// Value is what the user has typed so far; may be empty.
	Value string
	// Context holds the values of arguments already resolved, or is nil.
	Context map[string]string
	// SessionID identifies the client session, or is empty.
	SessionID string
}

// Completion is the suggestions for one argument.
type Completion struct {
	// Values are the suggestions, best first. Only the first 100 are
	// sent; HasMore is then set.
	Values []string
	// Total is the number of suggestions there are in all, if known;
	// zero means unknown.
	Total int
	// HasMore reports suggestions beyond Values.
	HasMore bool
}

// completeRef is the reference of a completion request.
type completeRef struct {
	Type string `json:"type"`
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// complete serves Complete and returns the result as JSON.
func (p *Provider) complete(ctx context.Context, in *providerv1.CompleteRequest) (string, error) {
	req, err := completionRequest(in)
	if err != nil {
		return "", err
	}
	h, err := p.completer(req)
	if err != nil {
		return "", err
	}
	var c *Completion
	if h != nil {
		what := req.Prompt + req.URITemplate + " " + req.Argument
		c, err = guard(p, "completion", what, func() (*Completion, error) { return h(ctx, req) })
		if err != nil {
			return "", err
		}
	}
	if c == nil {
		c = &Completion{}
	}
	return encodeResult(p, "completion", req.Argument, completionResult(c))
}

// completionRequest decodes the request's JSON fields.
func completionRequest(in *providerv1.CompleteRequest) (*CompletionRequest, error) {
	var ref completeRef
	var arg struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var cctx struct {
		Arguments map[string]string `json:"arguments"`
	}
	if json.Unmarshal([]byte(in.GetRefJson()), &ref) != nil ||
		json.Unmarshal([]byte(in.GetArgumentJson()), &arg) != nil {
		return nil, fmt.Errorf("%w: malformed ref or argument", ErrInvalidArguments)
	}
	if c := in.GetContextJson(); c != "" && json.Unmarshal([]byte(c), &cctx) != nil {
		return nil, fmt.Errorf("%w: malformed context", ErrInvalidArguments)
	}
	req := &CompletionRequest{
		Argument:  arg.Name,
		Value:     arg.Value,
		Context:   cctx.Arguments,
		SessionID: in.GetSessionId(),
	}
	switch ref.Type {
	case "ref/prompt":
		req.Prompt = ref.Name
	case "ref/resource":
		req.URITemplate = ref.URI
	default:
		return nil, fmt.Errorf("%w: unknown reference type %q", ErrInvalidArguments, ref.Type)
	}
	return req, nil
}

// completer finds the handler for a request's argument. A known argument
// without a handler has no suggestions (nil handler, nil error).
func (p *Provider) completer(req *CompletionRequest) (CompletionHandler, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if req.Prompt != "" || req.URITemplate == "" {
		pr, ok := p.prompts[req.Prompt]
		if !ok {
			return nil, fmt.Errorf("prompt %q: %w", req.Prompt, ErrNotFound)
		}
		i := slices.IndexFunc(pr.def.Arguments, func(a PromptArgument) bool {
			return a.Name == req.Argument
		})
		if i < 0 {
			return nil, fmt.Errorf("%w: prompt %q has no argument %q",
				ErrInvalidArguments, req.Prompt, req.Argument)
		}
		return pr.def.Arguments[i].Complete, nil
	}
	t, ok := p.templates[req.URITemplate]
	if !ok {
		return nil, fmt.Errorf("resource template %q: %w", req.URITemplate, ErrNotFound)
	}
	if !slices.Contains(t.pattern.vars, req.Argument) {
		return nil, fmt.Errorf("%w: template %q has no variable %q",
			ErrInvalidArguments, req.URITemplate, req.Argument)
	}
	return t.def.Complete[req.Argument], nil
}

// completionResult shapes a completion as MCP's CompleteResult, within
// MCP's limit on values.
func completionResult(c *Completion) any {
	values, more := c.Values, c.HasMore
	total := max(c.Total, 0)
	if len(values) > maxCompletions {
		values, more = values[:maxCompletions], true
		if total == 0 {
			total = len(c.Values)
		}
	}
	if values == nil {
		values = []string{}
	}
	type completion struct {
		Values  []string `json:"values"`
		Total   int      `json:"total,omitempty"`
		HasMore bool     `json:"hasMore,omitempty"`
	}
	return struct {
		Completion completion `json:"completion"`
	}{completion{values, total, more}}
}
