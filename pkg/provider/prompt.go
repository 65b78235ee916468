package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// Prompt describes a prompt template as MCP lists it.
type Prompt struct {
	// Name of the prompt inside the provider: 1 to 128 letters, digits,
	// '_', '-' or '.'. Required and unique.
	Name string
	// Title is a human-readable name. Optional.
	Title string
	// Description says what the prompt is for. Optional.
	Description string
	// Arguments lists the arguments the prompt takes, in order.
	Arguments []PromptArgument
	// Meta is the prompt's MCP _meta object. Optional.
	Meta json.RawMessage
	// Icons is the prompt's MCP icons array. Optional.
	Icons json.RawMessage
}

// PromptArgument describes one argument of a prompt. Argument values are
// strings.
type PromptArgument struct {
	// Name of the argument, unique in the prompt. Required.
	Name string `json:"name"`
	// Title is a human-readable name. Optional.
	Title string `json:"title,omitempty"`
	// Description says what to pass. Optional.
	Description string `json:"description,omitempty"`
	// Required makes a prompts/get without the argument fail with
	// INVALID_ARGUMENT before the handler runs.
	Required bool `json:"required,omitempty"`
	// Complete suggests values for the argument. Optional.
	Complete CompletionHandler `json:"-"`
}

// PromptHandler renders a prompt. Errors map to gRPC codes as for a
// ResourceHandler; ErrInvalidArguments suits arguments the handler
// rejects. Returning an *InputRequired asks the client for input first.
type PromptHandler func(ctx context.Context, req *PromptRequest) (*PromptResult, error)

// PromptRequest is one prompts/get.
type PromptRequest struct {
	// Name is the prompt's name inside the provider.
	Name string
	// Arguments holds the argument values; never nil, and holding every
	// required argument.
	Arguments map[string]string
	// Meta is the request's _meta object, or nil.
	Meta json.RawMessage
	// SessionID identifies the client session, or is empty.
	SessionID string
	// Caller describes the client and, for a retried request of the
	// stateless generation, its answers to an earlier InputRequired.
	Caller
}

// PromptResult is an MCP GetPromptResult.
type PromptResult struct {
	// Description describes the rendered prompt. Optional.
	Description string
	// Messages is the rendered conversation.
	Messages []PromptMessage
	// Meta is the result's _meta object. Nil means none.
	Meta json.RawMessage
}

// PromptMessage is one message of a rendered prompt.
type PromptMessage struct {
	// Role is "user" or "assistant".
	Role string `json:"role"`
	// Content is one MCP content block, such as TextBlock returns.
	Content json.RawMessage `json:"content"`
}

// UserMessage returns a user message holding one content block.
func UserMessage(content json.RawMessage) PromptMessage {
	return PromptMessage{Role: "user", Content: content}
}

// AssistantMessage returns an assistant message holding one content
// block.
func AssistantMessage(content json.RawMessage) PromptMessage {
	return PromptMessage{Role: "assistant", Content: content}
}

// UserPrompt returns a result holding one user message with one text
// block.
func UserPrompt(text string) *PromptResult {
	return &PromptResult{Messages: []PromptMessage{UserMessage(TextBlock(text))}}
}

type prompt struct {
	def     Prompt
	proto   *providerv1.Prompt
	handler PromptHandler
}

// AddPrompt adds a prompt rendered by h. It panics when the name is
// invalid or taken, an argument has no name or appears twice, the handler
// is nil, or a JSON field is malformed.
func (p *Provider) AddPrompt(pr Prompt, h PromptHandler) {
	if err := p.addPrompt(pr, h); err != nil {
		panic(fmt.Sprintf("provider: add prompt %q: %v", pr.Name, err))
	}
}

func (p *Provider) addPrompt(pr Prompt, h PromptHandler) error {
	if !toolName.MatchString(pr.Name) {
		return errors.New("name must be 1 to 128 letters, digits, '_', '-' or '.'")
	}
	if h == nil {
		return errors.New("nil handler")
	}
	seen := make(map[string]bool)
	for _, a := range pr.Arguments {
		if a.Name == "" || seen[a.Name] {
			return fmt.Errorf("argument name %q is empty or repeated", a.Name)
		}
		seen[a.Name] = true
	}
	def, err := marshal(struct {
		Name        string           `json:"name"`
		Title       string           `json:"title,omitempty"`
		Description string           `json:"description,omitempty"`
		Arguments   []PromptArgument `json:"arguments,omitempty"`
		Icons       json.RawMessage  `json:"icons,omitempty"`
		Meta        json.RawMessage  `json:"_meta,omitempty"`
	}{pr.Name, pr.Title, pr.Description, pr.Arguments, pr.Icons, pr.Meta})
	if err != nil {
		return fmt.Errorf("encode definition: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.prompts[pr.Name]; ok {
		return errors.New("duplicate prompt name")
	}
	// Copied, so that the caller's slice may change without a race.
	pr.Arguments = slices.Clone(pr.Arguments)
	p.prompts[pr.Name] = &prompt{
		def:     pr,
		proto:   &providerv1.Prompt{Name: pr.Name, DefinitionJson: string(def)},
		handler: h,
	}
	p.touch()
	return nil
}

func (p *Provider) lookupPrompt(name string) (*prompt, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pr, ok := p.prompts[name]
	return pr, ok
}

// getPrompt serves GetPrompt and returns the result as JSON.
func (p *Provider) getPrompt(ctx context.Context, in *providerv1.GetPromptRequest) (string, error) {
	pr, ok := p.lookupPrompt(in.GetName())
	if !ok {
		return "", fmt.Errorf("prompt %q: %w", in.GetName(), ErrNotFound)
	}
	args, err := pr.arguments(in.GetArgumentsJson())
	if err != nil {
		return "", err
	}
	meta, err := optionalObject("_meta", in.GetMetaJson())
	if err != nil {
		return "", err
	}
	caller, err := p.caller("prompt", pr.def.Name, in.GetClientCapabilitiesJson(),
		in.GetProtocolVersion(), in.GetInputResponsesJson(), in.GetRequestState())
	if err != nil {
		return "", err
	}
	req := &PromptRequest{
		Name: pr.def.Name, Arguments: args, Meta: meta, SessionID: in.GetSessionId(),
		Caller: caller,
	}
	res, err := guard(p, "prompt", pr.def.Name, func() (*PromptResult, error) {
		return pr.handler(ctx, req)
	})
	if ir, ok := errors.AsType[*InputRequired](err); ok {
		return p.inputRequired("prompt", pr.def.Name, &req.Caller, ir)
	}
	if err != nil {
		return "", err
	}
	if res == nil {
		res = &PromptResult{}
	}
	if err := checkMessages(res.Messages); err != nil {
		return "", p.invalidResult("prompt", pr.def.Name, err)
	}
	return encodeResult(p, "prompt", pr.def.Name, struct {
		Description string          `json:"description,omitempty"`
		Messages    []PromptMessage `json:"messages"`
		Meta        json.RawMessage `json:"_meta,omitempty"`
	}{res.Description, append([]PromptMessage{}, res.Messages...), res.Meta})
}

// arguments decodes the argument values and checks the required ones.
func (pr *prompt) arguments(raw string) (map[string]string, error) {
	var args map[string]string
	if t := bytes.TrimSpace([]byte(raw)); len(t) > 0 && json.Unmarshal(t, &args) != nil {
		return nil, fmt.Errorf("%w: arguments must be an object of strings", ErrInvalidArguments)
	}
	if args == nil {
		// Absent or null arguments mean none.
		args = make(map[string]string)
	}
	for _, a := range pr.def.Arguments {
		if _, ok := args[a.Name]; a.Required && !ok {
			return nil, fmt.Errorf("%w: missing required argument %q", ErrInvalidArguments, a.Name)
		}
	}
	return args, nil
}

// checkMessages checks what a handler rendered against MCP's shape.
func checkMessages(msgs []PromptMessage) error {
	for i, m := range msgs {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Errorf("message %d: role %q is not user or assistant", i, m.Role)
		}
		if c := bytes.TrimSpace(m.Content); len(c) == 0 || c[0] != '{' || !json.Valid(c) {
			return fmt.Errorf("message %d: content is not a JSON object", i)
		}
	}
	return nil
}
