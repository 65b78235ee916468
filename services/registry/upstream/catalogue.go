package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// maxSubscriptions bounds the resources the catalogue session subscribes
// to, so that a huge catalogue does not turn into as many requests.
//
// Known shortcoming: only listed resources (the first maxSubscriptions)
// are subscribed to upstream, so updates of resources reached through a
// template are not forwarded.
const maxSubscriptions = 1000

// connectCatalogue opens the catalogue session. It advertises no client
// capabilities, and its list_changed handlers signal changed.
func (b *bridge) connectCatalogue(ctx context.Context, changed chan<- struct{}) (
	*mcp.ClientSession, error) {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// The catalogue is one for every client, and some servers list tools
	// only to clients that can serve them (elicitation, sampling, roots):
	// this session declares all three, so that the catalogue lists every
	// tool, and a client without the capability learns so when it calls.
	client := mcp.NewClient(implementation, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapabilities{},
			Elicitation: &mcp.ElicitationCapabilities{}, RootsV2: &mcp.RootCapabilities{}},
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { signal() },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { signal() },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { signal() },
		ResourceUpdatedHandler:     b.onResourceUpdated,
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			b.log.Debug("upstream log", "level", r.Params.Level, "logger", r.Params.Logger)
		},
		KeepAlive:      b.opts.PingInterval,
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
	})
	return client.Connect(ctx, b.transport(newTap(b.log, nil)), nil)
}

// onResourceUpdated passes an upstream's notifications/resources/updated
// on to the registry, which tells the subscribed client sessions.
func (b *bridge) onResourceUpdated(ctx context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
	b.mu.Lock()
	lease := b.lease
	b.mu.Unlock()
	if lease == "" || r.Params == nil || r.Params.URI == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registryTimeout)
	defer cancel()
	_, err := b.opts.Registry.NotifyResourceUpdated(ctx, &registryv1.NotifyResourceUpdatedRequest{
		Name: b.spec.Name, LeaseId: lease, Uri: r.Params.URI})
	if err != nil {
		b.log.Warn("resource update not forwarded", "uri", r.Params.URI, "err", err)
	}
}

// list reads the upstream's whole catalogue, every page of each kind the
// upstream declares, and applies the tool filter. Entries are kept as
// the upstream wrote them. When the upstream supports subscriptions it
// subscribes to the resources not in subs yet, so that their updates
// reach the registry.
func (b *bridge) list(ctx context.Context, cs *mcp.ClientSession, subs map[string]bool) (
	*providerv1.DescribeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, b.callTimeout())
	defer cancel()
	caps := &mcp.ServerCapabilities{}
	if init := cs.InitializeResult(); init != nil && init.Capabilities != nil {
		caps = init.Capabilities
	}
	out := &providerv1.DescribeResponse{}
	var err error
	if caps.Tools != nil {
		out.Tools, err = collect(ctx, "tools", b.toolEntry,
			func(ctx context.Context, cursor string) (any, error) {
				return cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
			})
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
	}
	if caps.Resources != nil {
		out.Resources, err = collect(ctx, "resources", resourceEntry,
			func(ctx context.Context, cursor string) (any, error) {
				return cs.ListResources(ctx, &mcp.ListResourcesParams{Cursor: cursor})
			})
		if err != nil {
			return nil, fmt.Errorf("resources/list: %w", err)
		}
		out.ResourceTemplates, err = collect(ctx, "resourceTemplates", templateEntry,
			func(ctx context.Context, cursor string) (any, error) {
				return cs.ListResourceTemplates(ctx,
					&mcp.ListResourceTemplatesParams{Cursor: cursor})
			})
		if err != nil {
			return nil, fmt.Errorf("resources/templates/list: %w", err)
		}
		if caps.Resources.Subscribe {
			b.subscribe(ctx, cs, out.Resources, subs)
		}
	}
	if caps.Prompts != nil {
		out.Prompts, err = collect(ctx, "prompts", promptEntry,
			func(ctx context.Context, cursor string) (any, error) {
				return cs.ListPrompts(ctx, &mcp.ListPromptsParams{Cursor: cursor})
			})
		if err != nil {
			return nil, fmt.Errorf("prompts/list: %w", err)
		}
	}
	return out, nil
}

func (b *bridge) subscribe(ctx context.Context, cs *mcp.ClientSession,
	list []*providerv1.Resource, subs map[string]bool) {
	for _, r := range list {
		if subs[r.GetUri()] || len(subs) >= maxSubscriptions {
			continue
		}
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: r.GetUri()}); err != nil {
			b.log.Debug("resource subscription refused", "uri", r.GetUri(), "err", err)
			continue
		}
		subs[r.GetUri()] = true
	}
}

// maxPages bounds the pages of one list, against an upstream whose
// cursors never end.
const maxPages = 10000

// collect walks a paginated list (page sends one page's request), and
// converts each item of its member; convert drops an item by returning
// nil.
func collect[E any](ctx context.Context, member string,
	convert func(json.RawMessage) (*E, error),
	page func(context.Context, string) (any, error)) ([]*E, error) {
	out := []*E{}
	cursor := ""
	for range maxPages {
		raw, err := roundTrip(ctx, &exchange{},
			func(ctx context.Context) (any, error) { return page(ctx, cursor) })
		if err != nil {
			return nil, err
		}
		var p map[string]json.RawMessage
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("decode page: %w", err)
		}
		var items []json.RawMessage
		if given(p[member]) {
			if err := json.Unmarshal(p[member], &items); err != nil {
				return nil, fmt.Errorf("decode %s: %w", member, err)
			}
		}
		for _, item := range items {
			e, err := convert(item)
			if err != nil {
				return nil, err
			}
			if e != nil {
				out = append(out, e)
			}
		}
		var next string
		if given(p["nextCursor"]) {
			if err := json.Unmarshal(p["nextCursor"], &next); err != nil {
				return nil, fmt.Errorf("decode nextCursor: %w", err)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
	return nil, fmt.Errorf("more than %d pages", maxPages)
}

// exposes tells whether the tool filter lets a tool through.
func (b *bridge) exposes(name string) bool {
	f := b.spec.Tools
	if len(f.Include) > 0 && !slices.Contains(f.Include, name) {
		return false
	}
	return !slices.Contains(f.Exclude, name)
}

// entry is what the bridge reads of a catalogue entry: the members it
// indexes by, and every member as JSON text.
type entry struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	URI         string `json:"uri"`
	URITemplate string `json:"uriTemplate"`
	members     map[string]string
}

func decodeEntry(raw json.RawMessage) (*entry, error) {
	e := &entry{}
	if err := json.Unmarshal(raw, e); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, err
	}
	e.members = make(map[string]string, len(members))
	for k, m := range members {
		if given(m) {
			e.members[k] = string(m)
		}
	}
	return e, nil
}

// toolEntry converts an upstream tool, copying its JSON members as the
// upstream wrote them; a filtered tool is dropped.
//
// Known shortcoming: providerv1.Tool has a field per known member, so a
// tool's members beyond those are dropped (resources, templates and
// prompts keep every member).
func (b *bridge) toolEntry(raw json.RawMessage) (*providerv1.Tool, error) {
	t, err := decodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("tool: %w", err)
	}
	if !b.exposes(t.Name) {
		return nil, nil
	}
	return &providerv1.Tool{
		Name: t.Name, Title: t.Title, Description: t.Description,
		InputSchemaJson:  t.members["inputSchema"],
		OutputSchemaJson: t.members["outputSchema"],
		AnnotationsJson:  t.members["annotations"],
		MetaJson:         t.members["_meta"],
		IconsJson:        t.members["icons"],
		ExecutionJson:    t.members["execution"],
	}, nil
}

func resourceEntry(raw json.RawMessage) (*providerv1.Resource, error) {
	r, err := decodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return &providerv1.Resource{Uri: r.URI, Name: r.Name, DefinitionJson: string(raw)}, nil
}

func templateEntry(raw json.RawMessage) (*providerv1.ResourceTemplate, error) {
	t, err := decodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("resource template: %w", err)
	}
	return &providerv1.ResourceTemplate{UriTemplate: t.URITemplate, Name: t.Name,
		DefinitionJson: string(raw)}, nil
}

func promptEntry(raw json.RawMessage) (*providerv1.Prompt, error) {
	p, err := decodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	return &providerv1.Prompt{Name: p.Name, DefinitionJson: string(raw)}, nil
}
