package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"switchboard.dev/pkg/provider"
)

// The probes are tools that let a client see, from the outside, what
// reached the provider and what the provider can send back through
// Switchboard: the request's _meta, each content type, progress, log
// messages at every level, requests to the client, cancellation and
// resource updates. The end-to-end tests use them.

// MaxSteps bounds the count tool's steps.
const MaxSteps = 1000

// metaIcon is a 1x1 transparent GIF as a data: URI, so that the icon is
// part of the catalogue and no client fetches anything for it.
const metaIcon = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

// linkSchema is the link tool's input schema.
const linkSchema = `{"type":"object","properties":{"uri":{"type":"string",` +
	`"description":"the URI to link to"}},"required":["uri"],"additionalProperties":false}`

// addProbes adds the probe tools to p, each with the given annotations.
func addProbes(p *provider.Provider, ann *provider.Annotations) {
	p.AddTool(provider.Tool{
		Name: "meta", Title: "Meta", Annotations: ann,
		Description: "Returns the request's _meta object exactly as it arrived, " +
			"as text and as the result's _meta.",
		Icons: json.RawMessage(`[{"src":"` + metaIcon + `","mimeType":"image/gif","sizes":["1x1"]}]`),
	}, meta)
	p.AddTool(provider.Tool{
		Name: "link", Title: "Link", Annotations: ann, InputSchema: json.RawMessage(linkSchema),
		Description: "Returns a resource link to the given URI.",
	}, link)
	provider.AddTypedTool(p, provider.Tool{
		Name: "log", Title: "Log", Annotations: ann,
		Description: "Sends one log message at each MCP logging level, lowest first.",
	}, logAll)
	provider.AddTypedTool(p, provider.Tool{
		Name: "roots", Title: "Roots", Annotations: ann,
		Description: "Asks the client for its roots and returns them.",
	}, roots)
	provider.AddTypedTool(p, provider.Tool{
		Name: "touch", Title: "Touch", Annotations: ann,
		Description: "Reports the resource at the given URI as updated to subscribed clients.",
	}, func(ctx context.Context, in TouchIn) (string, error) {
		if err := p.NotifyResourceUpdated(ctx, in.URI); err != nil {
			return "", err
		}
		return "touched " + in.URI, nil
	})
	c := &cancellations{seen: make(map[string]bool)}
	provider.AddTypedTool(p, provider.Tool{
		Name: "count", Title: "Count", Annotations: ann,
		Description: "Counts to steps, one step every ms milliseconds, reporting progress " +
			"at each; a call cancelled meanwhile is remembered under key.",
	}, c.count)
	provider.AddTypedTool(p, provider.Tool{
		Name: "cancelled", Title: "Cancelled", Annotations: ann,
		Description: "Tells whether a count call with the given key was cancelled.",
	}, c.cancelled)
}

// meta echoes the request's _meta, byte for byte.
func meta(_ context.Context, req *provider.Request) (*provider.Result, error) {
	text := string(req.Meta)
	if text == "" {
		text = "null"
	}
	return &provider.Result{
		Content: []json.RawMessage{provider.TextBlock(text)},
		Meta:    req.Meta,
	}, nil
}

// link returns a resource_link block, which AddFunc cannot produce.
func link(_ context.Context, req *provider.Request) (*provider.Result, error) {
	var in struct {
		URI string `json:"uri"`
	}
	if err := json.Unmarshal(req.Arguments, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", provider.ErrInvalidArguments, err)
	}
	if in.URI == "" {
		return nil, errors.New("uri is empty")
	}
	b, err := json.Marshal(struct {
		Type     string `json:"type"`
		URI      string `json:"uri"`
		Name     string `json:"name"`
		MIMEType string `json:"mimeType"`
	}{"resource_link", in.URI, "linked", "text/plain"})
	if err != nil {
		return nil, err
	}
	return &provider.Result{Content: []json.RawMessage{b}}, nil
}

// LogIn is the log tool's input.
type LogIn struct{}

// levels are the MCP logging levels, lowest first.
var levels = []provider.LogLevel{
	provider.LogDebug, provider.LogInfo, provider.LogNotice, provider.LogWarning,
	provider.LogError, provider.LogCritical, provider.LogAlert, provider.LogEmergency,
}

func logAll(ctx context.Context, _ LogIn) (string, error) {
	req := provider.RequestFromContext(ctx)
	for _, l := range levels {
		if err := req.Log(ctx, l, "demo", map[string]string{"level": string(l)}); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("logged %d messages", len(levels)), nil
}

// RootsIn is the roots tool's input.
type RootsIn struct{}

func roots(ctx context.Context, _ RootsIn) (string, error) {
	rs, err := provider.RequestFromContext(ctx).ListRoots(ctx)
	if err != nil {
		return "", fmt.Errorf("roots/list failed: %w", err)
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// TouchIn is the touch tool's input.
type TouchIn struct {
	URI string `json:"uri" jsonschema:"the URI of the resource that changed"`
}

// cancellations remembers the keys of count calls that were cancelled.
type cancellations struct {
	mu   sync.Mutex
	seen map[string]bool
}

// CountIn is the count tool's input.
type CountIn struct {
	Steps int    `json:"steps" jsonschema:"how many steps to count (1 to 1000)"`
	MS    int64  `json:"ms" jsonschema:"milliseconds between steps (at most 60000)"`
	Key   string `json:"key,omitempty" jsonschema:"remembers a cancellation under this key"`
}

func (c *cancellations) count(ctx context.Context, in CountIn) (string, error) {
	if in.Steps < 1 || in.Steps > MaxSteps || in.MS < 0 || in.MS > MaxSleep.Milliseconds() {
		return "", fmt.Errorf("steps must be 1 to %d and ms 0 to %d", MaxSteps, MaxSleep.Milliseconds())
	}
	req := provider.RequestFromContext(ctx)
	t := time.NewTicker(max(time.Duration(in.MS)*time.Millisecond, time.Nanosecond))
	defer t.Stop()
	for i := 1; i <= in.Steps; i++ {
		select {
		case <-ctx.Done():
			c.remember(in.Key)
			return "", ctx.Err()
		case <-t.C:
		}
		msg := fmt.Sprintf("step %d of %d", i, in.Steps)
		if err := req.Progress(ctx, float64(i), float64(in.Steps), msg); err != nil {
			c.remember(in.Key)
			return "", err
		}
	}
	return fmt.Sprintf("counted %d", in.Steps), nil
}

func (c *cancellations) remember(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[key] = true
}

// CancelledIn is the cancelled tool's input.
type CancelledIn struct {
	Key string `json:"key" jsonschema:"the key given to count"`
}

// CancelledOut is the cancelled tool's output.
type CancelledOut struct {
	Cancelled bool `json:"cancelled" jsonschema:"whether a count call with the key was cancelled"`
}

func (c *cancellations) cancelled(_ context.Context, in CancelledIn) (CancelledOut, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CancelledOut{Cancelled: c.seen[in.Key]}, nil
}
