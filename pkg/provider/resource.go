package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// ErrNotFound marks a handler error as "no such resource" (or prompt):
// a resource handler that returns an error wrapping it is answered with
// gRPC NOT_FOUND, which the client sees as an unknown resource.
var ErrNotFound = errors.New("not found")

// Resource describes a resource as MCP lists it. JSON fields are
// published verbatim (compacted).
type Resource struct {
	// URI identifies the resource: an absolute URI, unique in the
	// provider (and, for the registry, across providers). Required.
	URI string
	// Name is the resource's programmatic name. Required.
	Name string
	// Title is a human-readable name. Optional.
	Title string
	// Description says what the resource holds. Optional.
	Description string
	// MIMEType is the type of the resource's contents. Optional.
	MIMEType string
	// Size is the size of the raw contents in bytes; zero means unknown.
	Size int64
	// Annotations are hints for clients. Optional.
	Annotations *ResourceAnnotations
	// Meta is the resource's MCP _meta object. Optional.
	Meta json.RawMessage
	// Icons is the resource's MCP icons array. Optional.
	Icons json.RawMessage
}

// ResourceAnnotations are MCP Annotations for resources and templates.
type ResourceAnnotations struct {
	// Audience lists who the resource is for: "user", "assistant".
	Audience []string `json:"audience,omitempty"`
	// Priority runs from 0 (optional) to 1 (required). Nil means unset.
	Priority *float64 `json:"priority,omitempty"`
	// LastModified is an ISO 8601 timestamp, or empty.
	LastModified string `json:"lastModified,omitempty"`
}

// ResourceTemplate describes a family of resources whose URIs follow an
// RFC 6570 level-1 URI template, such as "file:///{dir}/{name}".
type ResourceTemplate struct {
	// URITemplate is the template: literal text and {name} variables,
	// each matching a non-empty run of characters other than '/', '?'
	// and '#'. Required and unique.
	URITemplate string
	// Name is the template's programmatic name. Required.
	Name string
	// Title is a human-readable name. Optional.
	Title string
	// Description says what the resources hold. Optional.
	Description string
	// MIMEType is the type of the resources' contents, when they share
	// one. Optional.
	MIMEType string
	// Annotations are hints for clients. Optional.
	Annotations *ResourceAnnotations
	// Meta is the template's MCP _meta object. Optional.
	Meta json.RawMessage
	// Icons is the template's MCP icons array. Optional.
	Icons json.RawMessage
	// Complete suggests values for the template's variables, keyed by
	// variable name. Optional.
	Complete map[string]CompletionHandler
}

// ResourceHandler reads a resource. A returned error wrapping ErrNotFound
// is answered with NOT_FOUND, one wrapping ErrInvalidArguments with
// INVALID_ARGUMENT, a gRPC status error with its own code, and any other
// error with INTERNAL; an *InputRequired asks the client for input first.
type ResourceHandler func(ctx context.Context, req *ResourceRequest) (*ReadResult, error)

// ResourceRequest is one read.
type ResourceRequest struct {
	// URI is the URI being read.
	URI string
	// Vars holds the template variables, percent-decoded, when the URI
	// matched a template; nil for a listed resource.
	Vars map[string]string
	// Meta is the request's _meta object, or nil.
	Meta json.RawMessage
	// SessionID identifies the client session, or is empty.
	SessionID string
	// Caller describes the client and, for a retried request of the
	// stateless generation, its answers to an earlier InputRequired.
	Caller
}

// ReadResult is an MCP ReadResourceResult.
type ReadResult struct {
	// Contents holds the resource's contents; usually one entry.
	Contents []ResourceContents
	// Meta is the result's _meta object. Nil means none.
	Meta json.RawMessage
}

// ResourceContents is one MCP TextResourceContents or
// BlobResourceContents.
type ResourceContents struct {
	// URI is the contents' URI; empty means the URI that was read.
	URI string
	// MIMEType is the contents' type. Optional.
	MIMEType string
	// Text holds textual contents; ignored when Blob is set.
	Text string
	// Blob holds binary contents, sent base64-encoded. Non-nil makes the
	// contents binary.
	Blob []byte
	// Meta is the contents' _meta object. Optional.
	Meta json.RawMessage
}

// MarshalJSON encodes the contents as MCP's text or blob form.
func (c ResourceContents) MarshalJSON() ([]byte, error) {
	w := struct {
		URI      string          `json:"uri"`
		MIMEType string          `json:"mimeType,omitempty"`
		Text     *string         `json:"text,omitempty"`
		Blob     *string         `json:"blob,omitempty"`
		Meta     json.RawMessage `json:"_meta,omitempty"`
	}{URI: c.URI, MIMEType: c.MIMEType, Meta: c.Meta}
	if c.Blob != nil {
		b := base64.StdEncoding.EncodeToString(c.Blob)
		w.Blob = &b
	} else {
		w.Text = &c.Text
	}
	return marshal(w)
}

// TextResource returns a result holding one text contents entry.
func TextResource(uri, mimeType, text string) *ReadResult {
	return &ReadResult{Contents: []ResourceContents{{URI: uri, MIMEType: mimeType, Text: text}}}
}

// BlobResource returns a result holding one binary contents entry.
func BlobResource(uri, mimeType string, data []byte) *ReadResult {
	if data == nil {
		data = []byte{}
	}
	return &ReadResult{Contents: []ResourceContents{{URI: uri, MIMEType: mimeType, Blob: data}}}
}

type resource struct {
	proto   *providerv1.Resource
	handler ResourceHandler
}

type template struct {
	def     ResourceTemplate
	proto   *providerv1.ResourceTemplate
	pattern *uriTemplate
	handler ResourceHandler
}

// AddResource adds a resource read by h. It panics when the URI or name
// is missing or invalid, the URI is taken, or a JSON field is malformed,
// since those are programming errors found at start-up.
func (p *Provider) AddResource(r Resource, h ResourceHandler) {
	if err := p.addResource(r, h); err != nil {
		panic(fmt.Sprintf("provider: add resource %q: %v", r.URI, err))
	}
}

func (p *Provider) addResource(r Resource, h ResourceHandler) error {
	if u, err := url.Parse(r.URI); err != nil || u.Scheme == "" {
		return errors.New("URI must be an absolute URI")
	}
	if r.Name == "" || h == nil {
		return errors.New("name and handler are required")
	}
	def, err := marshal(struct {
		URI         string               `json:"uri"`
		Name        string               `json:"name"`
		Title       string               `json:"title,omitempty"`
		Description string               `json:"description,omitempty"`
		MIMEType    string               `json:"mimeType,omitempty"`
		Size        int64                `json:"size,omitempty"`
		Annotations *ResourceAnnotations `json:"annotations,omitempty"`
		Icons       json.RawMessage      `json:"icons,omitempty"`
		Meta        json.RawMessage      `json:"_meta,omitempty"`
	}{r.URI, r.Name, r.Title, r.Description, r.MIMEType, max(r.Size, 0),
		r.Annotations, r.Icons, r.Meta})
	if err != nil {
		return fmt.Errorf("encode definition: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.resources[r.URI]; ok {
		return errors.New("duplicate resource URI")
	}
	p.resources[r.URI] = &resource{
		proto:   &providerv1.Resource{Uri: r.URI, Name: r.Name, DefinitionJson: string(def)},
		handler: h,
	}
	p.touch()
	return nil
}

// AddResourceTemplate adds a template whose matching URIs h reads. A URI
// that is a listed resource is read by that resource's handler; one that
// matches several templates by the first of them in byte order of the
// templates. AddResourceTemplate panics when the template is missing, not
// level 1, or taken, the name or handler is missing, Complete names a
// variable the template lacks, or a JSON field is malformed.
func (p *Provider) AddResourceTemplate(t ResourceTemplate, h ResourceHandler) {
	if err := p.addTemplate(t, h); err != nil {
		panic(fmt.Sprintf("provider: add resource template %q: %v", t.URITemplate, err))
	}
}

func (p *Provider) addTemplate(t ResourceTemplate, h ResourceHandler) error {
	if t.URITemplate == "" || t.Name == "" || h == nil {
		return errors.New("template, name and handler are required")
	}
	pattern, err := parseTemplate(t.URITemplate)
	if err != nil {
		return err
	}
	for v := range t.Complete {
		if !slices.Contains(pattern.vars, v) {
			return fmt.Errorf("completion for unknown variable %q", v)
		}
	}
	def, err := marshal(struct {
		URITemplate string               `json:"uriTemplate"`
		Name        string               `json:"name"`
		Title       string               `json:"title,omitempty"`
		Description string               `json:"description,omitempty"`
		MIMEType    string               `json:"mimeType,omitempty"`
		Annotations *ResourceAnnotations `json:"annotations,omitempty"`
		Icons       json.RawMessage      `json:"icons,omitempty"`
		Meta        json.RawMessage      `json:"_meta,omitempty"`
	}{t.URITemplate, t.Name, t.Title, t.Description, t.MIMEType, t.Annotations, t.Icons, t.Meta})
	if err != nil {
		return fmt.Errorf("encode definition: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.templates[t.URITemplate]; ok {
		return errors.New("duplicate URI template")
	}
	// Copied, so that the caller's map may change without a race.
	t.Complete = maps.Clone(t.Complete)
	p.templates[t.URITemplate] = &template{
		def: t,
		proto: &providerv1.ResourceTemplate{
			UriTemplate: t.URITemplate, Name: t.Name, DefinitionJson: string(def),
		},
		pattern: pattern,
		handler: h,
	}
	p.touch()
	return nil
}

// route finds the handler for a URI: a listed resource first, else the
// first template, in template order, that matches.
func (p *Provider) route(uri string) (ResourceHandler, map[string]string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if r, ok := p.resources[uri]; ok {
		return r.handler, nil, true
	}
	for _, t := range sortedValues(p.templates) {
		if vars, ok := t.pattern.match(uri); ok {
			return t.handler, vars, true
		}
	}
	return nil, nil, false
}

// read serves ReadResource and returns the result as JSON.
func (p *Provider) read(ctx context.Context, in *providerv1.ReadResourceRequest) (string, error) {
	uri := in.GetUri()
	h, vars, ok := p.route(uri)
	if !ok {
		return "", fmt.Errorf("resource %q: %w", uri, ErrNotFound)
	}
	meta, err := optionalObject("_meta", in.GetMetaJson())
	if err != nil {
		return "", err
	}
	caller, err := p.caller("resource", uri, in.GetClientCapabilitiesJson(),
		in.GetProtocolVersion(), in.GetInputResponsesJson(), in.GetRequestState())
	if err != nil {
		return "", err
	}
	req := &ResourceRequest{URI: uri, Vars: vars, Meta: meta, SessionID: in.GetSessionId(),
		Caller: caller}
	res, err := guard(p, "resource", uri, func() (*ReadResult, error) { return h(ctx, req) })
	if ir, ok := errors.AsType[*InputRequired](err); ok {
		return p.inputRequired("resource", uri, &req.Caller, ir)
	}
	if err != nil {
		return "", err
	}
	if res == nil {
		res = &ReadResult{}
	}
	contents := make([]ResourceContents, len(res.Contents))
	for i, c := range res.Contents {
		if c.URI == "" {
			c.URI = uri
		}
		contents[i] = c
	}
	return encodeResult(p, "resource", uri, struct {
		Contents []ResourceContents `json:"contents"`
		Meta     json.RawMessage    `json:"_meta,omitempty"`
	}{contents, res.Meta})
}
