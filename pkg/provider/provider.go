// Package provider lets a Go program expose Go functions as MCP tools,
// resources and prompts to Switchboard. A Provider holds a catalogue and
// implements the switchboard.provider.v1.ProviderService gRPC API; Run
// serves that API and keeps the provider registered with the registry,
// which routes the gateway's requests to it.
//
// Usage:
//
//	type AddIn struct {
//		A int64 `json:"a" jsonschema:"first addend"`
//		B int64 `json:"b" jsonschema:"second addend"`
//	}
//	type AddOut struct {
//		Sum int64 `json:"sum"`
//	}
//
//	p := provider.New("calc", &provider.Options{Logger: log})
//	provider.AddFunc(p, "add", "Adds two integers.",
//		func(ctx context.Context, in AddIn) (AddOut, error) {
//			return AddOut{Sum: in.A + in.B}, nil
//		})
//	p.AddTool(provider.Tool{Name: "count", Description: "Counts to three."},
//		func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
//			for i := range 3 {
//				req.Progress(ctx, float64(i+1), 3, "counting")
//			}
//			return provider.Text("done"), nil
//		})
//	p.AddResource(provider.Resource{URI: "calc://help", Name: "help", MIMEType: "text/plain"},
//		func(ctx context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
//			return provider.TextResource(req.URI, "text/plain", "Try add."), nil
//		})
//	p.AddPrompt(provider.Prompt{Name: "explain", Arguments: []provider.PromptArgument{
//		{Name: "topic", Required: true},
//	}}, func(ctx context.Context, req *provider.PromptRequest) (*provider.PromptResult, error) {
//		return provider.UserPrompt("Explain " + req.Arguments["topic"] + "."), nil
//	})
//	err := p.Run(ctx, provider.RunOptions{
//		ListenAddr:   "127.0.0.1:7300",
//		RegistryAddr: "127.0.0.1:7200",
//	})
//
// AddFunc infers the input and output schemas from the Go types, checks
// the arguments against the input schema, decodes them into the input
// type and returns the output both as structuredContent and as a text
// block holding the same JSON.
//
// Tool calls follow MCP's split between protocol errors and tool errors:
// arguments that fail the input schema or do not decode are rejected with
// gRPC INVALID_ARGUMENT, an unknown tool with NOT_FOUND, while an error
// returned by a handler (or a panic in it) becomes a result with isError
// set, so that the model can read what went wrong.
//
// While a tool runs, its Request talks to the client through the call's
// stream: Progress and Log send notifications, CreateMessage, Elicit,
// ListRoots and Request ask the client and wait for its answer, and
// CloseStream lets the client's SSE stream be cut and resumed. Handlers of
// typed tools reach the same Request with RequestFromContext. For a client
// of the stateless generation (2026-07-28) the gateway gathers the
// requests pending at a moment into an input_required result; ElicitAs,
// CreateMessageAs, ListRootsAs and RequestWith name a request there, so
// that a client can answer it under a name it knows.
//
// Resources are read by exact URI or through a ResourceTemplate whose
// RFC 6570 level-1 template ("file:///{dir}/{name}") matches; prompts are
// rendered from string arguments; both may offer completions for their
// arguments and template variables. NotifyResourceUpdated tells the
// registry, and so the subscribed clients, that a resource changed. A
// prompt or resource handler answers a stateless client with an
// *InputRequired to ask it for input first; the client's retry brings the
// answers and the signed state in the handler's Caller.
//
// The catalogue may change while the provider is registered: AddTool,
// RemoveTool and their kin make Run register again, so that the registry
// reads the new catalogue and tells clients that their lists changed;
// Sync waits until it has.
//
// A program with a gRPC server of its own embeds the API with Service and
// keeps the registration alive with Announce instead of calling Run.
package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// Provider is a catalogue of tools, resources and prompts served over
// gRPC. Its methods are safe for concurrent use. Entries may be added and
// removed while it serves: Announce (and so Run) then registers the
// provider again, so that the registry reads the new catalogue and tells
// the clients that their lists changed; Sync waits for that.
type Provider struct {
	name     string
	log      *slog.Logger
	stateKey []byte

	mu        sync.RWMutex
	tools     map[string]*tool
	resources map[string]*resource
	templates map[string]*template
	prompts   map[string]*prompt
	// version counts the catalogue's changes; changed wakes Announce
	// after one.
	version uint64
	changed chan struct{}

	// leaseMu guards lease, the registration that Announce currently
	// holds, which NotifyResourceUpdated presents to the registry;
	// announced, the catalogue version the registry last read; and
	// leaseMoved, closed and replaced whenever either changes.
	leaseMu    sync.Mutex
	lease      *heldLease
	announced  uint64
	leaseMoved chan struct{}
	// announcing is set while Announce runs, so that Sync waits for the
	// first registration rather than fail before it.
	announcing bool
}

// Options configures a Provider. A nil *Options means the defaults.
type Options struct {
	// Logger receives the provider's logs. Nil discards them.
	Logger *slog.Logger
	// StateKey signs the State of every InputRequired the provider
	// issues. Replicas of a provider behind one registration need the
	// same key, since a client's retry may reach any of them; empty
	// means a random key, which suits a single process.
	StateKey []byte
}

// New returns an empty provider. The name identifies it in the registry:
// letters, digits, '_' and '-', 1 to 64 characters (checked when it
// registers).
func New(name string, opts *Options) *Provider {
	if opts == nil {
		opts = &Options{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		name:       name,
		log:        log.With("provider", name),
		stateKey:   newStateKey(opts.StateKey),
		tools:      make(map[string]*tool),
		resources:  make(map[string]*resource),
		templates:  make(map[string]*template),
		prompts:    make(map[string]*prompt),
		changed:    make(chan struct{}, 1),
		leaseMoved: make(chan struct{}),
	}
}

// touch records a change of the catalogue and wakes Announce. The caller
// holds p.mu.
func (p *Provider) touch() {
	p.version++
	select {
	case p.changed <- struct{}{}:
	default:
		// A wake-up is pending already; it will see this change too.
	}
}

// catalogueVersion returns the number of changes made so far.
func (p *Provider) catalogueVersion() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.version
}

// RemoveTool removes the named tool and reports whether there was one.
// Calls already running finish; new ones are refused with NOT_FOUND.
func (p *Provider) RemoveTool(name string) bool { return remove(p, p.tools, name) }

// RemovePrompt removes the named prompt and reports whether there was
// one.
func (p *Provider) RemovePrompt(name string) bool { return remove(p, p.prompts, name) }

// RemoveResource removes the resource with the given URI and reports
// whether there was one.
func (p *Provider) RemoveResource(uri string) bool { return remove(p, p.resources, uri) }

// RemoveResourceTemplate removes the template with the given URI
// template and reports whether there was one.
func (p *Provider) RemoveResourceTemplate(uriTemplate string) bool {
	return remove(p, p.templates, uriTemplate)
}

func remove[V any](p *Provider, entries map[string]V, key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := entries[key]; !ok {
		return false
	}
	delete(entries, key)
	p.touch()
	return true
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// Tool describes a tool as MCP defines it. JSON fields are published
// verbatim (compacted), so large integers in them keep every digit.
type Tool struct {
	// Name of the tool inside the provider: 1 to 128 letters, digits,
	// '_', '-' or '.'. Required and unique.
	Name string
	// Title is a human-readable name. Optional.
	Title string
	// Description tells the model what the tool does. Optional.
	Description string
	// InputSchema is a JSON Schema object with "type": "object". Nil
	// means {"type":"object"} (any arguments); AddFunc infers it.
	InputSchema json.RawMessage
	// OutputSchema is a JSON Schema object for structuredContent. Nil
	// means none; AddFunc infers it for struct and map outputs.
	OutputSchema json.RawMessage
	// Annotations are hints about the tool's behaviour. Optional.
	Annotations *Annotations
	// Meta is the tool's MCP _meta object. Optional.
	Meta json.RawMessage
	// Icons is the tool's MCP icons array. Optional.
	Icons json.RawMessage
	// Execution is the tool's MCP execution object. Optional.
	Execution json.RawMessage
}

// Annotations are MCP ToolAnnotations: untrusted hints for clients. Nil
// pointers leave a hint unset, so that MCP's defaults apply.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// Handler runs one tool call. Its context is the call's: it ends when
// the caller cancels. A returned error becomes a result with isError set,
// except that an error wrapping ErrInvalidArguments is refused with gRPC
// INVALID_ARGUMENT, and an *mcperr.Error (package switchboard.dev/pkg/mcperr)
// ends the request with that JSON-RPC error instead of a result: for
// failures that are not the tool's to report, such as an outcome that is
// unknown.
type Handler func(ctx context.Context, req *Request) (*Result, error)

// tool is a registered tool with its handler and compiled input schema.
type tool struct {
	def     Tool
	input   *jsonschema.Resolved // nil when the schema constrains nothing
	handler Handler
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// AddTool adds a tool. Calls are checked against t.InputSchema before h
// runs. AddTool panics when the name is invalid or taken, or a schema is
// not a JSON Schema for objects that resolves without fetching anything,
// since those are programming errors found at start-up.
func (p *Provider) AddTool(t Tool, h Handler) {
	if err := p.addTool(t, h); err != nil {
		panic(fmt.Sprintf("provider: add tool %q: %v", t.Name, err))
	}
}

func (p *Provider) addTool(t Tool, h Handler) error {
	if !toolName.MatchString(t.Name) {
		return fmt.Errorf("name must be 1 to 128 letters, digits, '_', '-' or '.'")
	}
	if h == nil {
		return fmt.Errorf("nil handler")
	}
	input, err := compileInput(t.InputSchema)
	if err != nil {
		return fmt.Errorf("input schema: %w", err)
	}
	if err := checkObjectSchema(t.OutputSchema); err != nil {
		return fmt.Errorf("output schema: %w", err)
	}
	for field, raw := range map[string]json.RawMessage{
		"meta": t.Meta, "icons": t.Icons, "execution": t.Execution,
	} {
		if raw != nil && !json.Valid(raw) {
			return fmt.Errorf("%s: invalid JSON", field)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.tools[t.Name]; ok {
		return fmt.Errorf("duplicate tool name")
	}
	p.tools[t.Name] = &tool{def: t, input: input, handler: h}
	p.touch()
	return nil
}

// compileInput resolves an input schema for validation. A nil schema
// means any object.
func compileInput(raw json.RawMessage) (*jsonschema.Resolved, error) {
	if raw == nil {
		return nil, nil
	}
	if err := checkObjectSchema(raw); err != nil {
		return nil, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return s.Resolve(nil)
}

// checkObjectSchema checks that raw, when set, is a schema for JSON
// objects, as MCP requires of both input and output schemas.
func checkObjectSchema(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if string(s.Type) != `"object"` {
		return fmt.Errorf(`type must be "object", got %s`, s.Type)
	}
	return nil
}

// Tools returns the tools ordered by name.
func (p *Provider) Tools() []Tool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Tool, 0, len(p.tools))
	for _, t := range sortedValues(p.tools) {
		out = append(out, t.def)
	}
	return out
}

// sortedValues returns m's values ordered by key, so that listings are
// stable.
func sortedValues[V any](m map[string]V) []V {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func (p *Provider) lookup(name string) (*tool, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	t, ok := p.tools[name]
	return t, ok
}
