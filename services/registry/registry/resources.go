package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// ListResources returns one page of the merged resources, by URI.
func (s *Server) ListResources(ctx context.Context, req *registryv1.ListResourcesRequest) (
	*registryv1.ListResourcesResponse, error) {
	list, next, err := page(s, req.GetPageSize(), req.GetPageToken(),
		func(after string, n int) ([]*registryv1.CatalogResource, error) {
			return s.store.Resources(ctx, after, n)
		}, (*registryv1.CatalogResource).GetResource, (*providerv1.Resource).GetUri)
	if err != nil {
		return nil, s.toStatus("ListResources", err)
	}
	return &registryv1.ListResourcesResponse{Resources: list, NextPageToken: next}, nil
}

// ListResourceTemplates returns one page of the merged resource
// templates, by URI template.
func (s *Server) ListResourceTemplates(ctx context.Context,
	req *registryv1.ListResourceTemplatesRequest) (
	*registryv1.ListResourceTemplatesResponse, error) {
	list, next, err := page(s, req.GetPageSize(), req.GetPageToken(),
		func(after string, n int) ([]*registryv1.CatalogResourceTemplate, error) {
			return s.store.Templates(ctx, after, n)
		}, (*registryv1.CatalogResourceTemplate).GetTemplate,
		(*providerv1.ResourceTemplate).GetUriTemplate)
	if err != nil {
		return nil, s.toStatus("ListResourceTemplates", err)
	}
	return &registryv1.ListResourceTemplatesResponse{ResourceTemplates: list,
		NextPageToken: next}, nil
}

// ListPrompts returns one page of the merged prompts, by exposed name.
func (s *Server) ListPrompts(ctx context.Context, req *registryv1.ListPromptsRequest) (
	*registryv1.ListPromptsResponse, error) {
	list, next, err := page(s, req.GetPageSize(), req.GetPageToken(),
		func(after string, n int) ([]*registryv1.CatalogPrompt, error) {
			return s.store.Prompts(ctx, after, n)
		}, (*registryv1.CatalogPrompt).GetPrompt, (*providerv1.Prompt).GetName)
	if err != nil {
		return nil, s.toStatus("ListPrompts", err)
	}
	return &registryv1.ListPromptsResponse{Prompts: list, NextPageToken: next}, nil
}

// page reads one page of a catalogue list; the key of an entry E is
// key(inner(E)), which the next page token resumes after.
func page[E, I any](s *Server, pageSize int32, token string,
	list func(after string, n int) ([]E, error), inner func(E) I, key func(I) string) (
	[]E, string, error) {
	size, err := s.pageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(token)
	if err != nil {
		return nil, "", err
	}
	// One entry more than the page tells whether another page follows.
	entries, err := list(after, size+1)
	if err != nil || len(entries) <= size {
		return entries, "", err
	}
	return entries[:size], encodeCursor(key(inner(entries[size-1]))), nil
}

// ReadResource routes a read to the provider that lists the URI, or else
// to the provider of the first template (in template order) it matches.
func (s *Server) ReadResource(ctx context.Context, req *registryv1.ReadResourceRequest) (
	*registryv1.ReadResourceResponse, error) {
	resp, err := s.readResource(ctx, req)
	return resp, s.toStatus("ReadResource", err)
}

func (s *Server) readResource(ctx context.Context, req *registryv1.ReadResourceRequest) (
	*registryv1.ReadResourceResponse, error) {
	if req.GetUri() == "" {
		return nil, errorf(ErrInvalid, "uri: required")
	}
	if m := req.GetMetaJson(); m != "" && !isJSONObject(m) {
		return nil, errorf(ErrInvalid, "meta_json: want a JSON object")
	}
	provider, addr, err := s.resolveURI(ctx, req.GetUri())
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("read of resource %q", req.GetUri())
	res, err := unary(ctx, s, provider, addr, what,
		func(ctx context.Context, c providerv1.ProviderServiceClient) (string, error) {
			resp, err := c.ReadResource(ctx, &providerv1.ReadResourceRequest{
				Uri: req.GetUri(), MetaJson: req.GetMetaJson(), SessionId: req.GetSessionId(),
				ClientCapabilitiesJson: req.GetClientCapabilitiesJson(),
				ProtocolVersion:        req.GetProtocolVersion(),
				InputResponsesJson:     req.GetInputResponsesJson(),
				RequestState:           req.GetRequestState()})
			return resp.GetResultJson(), err
		})
	return &registryv1.ReadResourceResponse{ResultJson: res}, err
}

// resolveURI finds the provider that serves a resource URI.
func (s *Server) resolveURI(ctx context.Context, uri string) (provider, addr string,
	err error) {
	r, addr, err := s.store.Resource(ctx, uri)
	if err == nil {
		return r.GetProvider(), addr, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	for after := ""; ; {
		list, err := s.store.Templates(ctx, after, templateBatch)
		if err != nil {
			return "", "", err
		}
		for _, t := range list {
			if !s.matcher.match(t.GetTemplate().GetUriTemplate(), uri) {
				continue
			}
			t, addr, err := s.store.Template(ctx, t.GetTemplate().GetUriTemplate())
			if err != nil {
				return "", "", err
			}
			return t.GetProvider(), addr, nil
		}
		if len(list) < templateBatch {
			return "", "", errorf(ErrNotFound, "unknown resource %q", uri)
		}
		after = list[len(list)-1].GetTemplate().GetUriTemplate()
	}
}

// templateBatch is how many templates one read of the store returns while
// a URI is matched against them.
const templateBatch = 500

// GetPrompt routes a prompt to its provider under the provider's name.
func (s *Server) GetPrompt(ctx context.Context, req *registryv1.GetPromptRequest) (
	*registryv1.GetPromptResponse, error) {
	resp, err := s.getPrompt(ctx, req)
	return resp, s.toStatus("GetPrompt", err)
}

func (s *Server) getPrompt(ctx context.Context, req *registryv1.GetPromptRequest) (
	*registryv1.GetPromptResponse, error) {
	if req.GetName() == "" {
		return nil, errorf(ErrInvalid, "name: required")
	}
	if a := req.GetArgumentsJson(); a != "" && !isJSONObject(a) {
		return nil, errorf(ErrInvalid, "arguments_json: want a JSON object")
	}
	if m := req.GetMetaJson(); m != "" && !isJSONObject(m) {
		return nil, errorf(ErrInvalid, "meta_json: want a JSON object")
	}
	p, addr, err := s.store.Prompt(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("prompt %q", req.GetName())
	res, err := unary(ctx, s, p.GetProvider(), addr, what,
		func(ctx context.Context, c providerv1.ProviderServiceClient) (string, error) {
			resp, err := c.GetPrompt(ctx, &providerv1.GetPromptRequest{
				Name: p.GetProviderPromptName(), ArgumentsJson: req.GetArgumentsJson(),
				MetaJson: req.GetMetaJson(), SessionId: req.GetSessionId(),
				ClientCapabilitiesJson: req.GetClientCapabilitiesJson(),
				ProtocolVersion:        req.GetProtocolVersion(),
				InputResponsesJson:     req.GetInputResponsesJson(),
				RequestState:           req.GetRequestState()})
			return resp.GetResultJson(), err
		})
	return &registryv1.GetPromptResponse{ResultJson: res}, err
}

// Complete routes a completion by its reference: a prompt by exposed
// name, which the provider gets as its own name, or a resource template.
func (s *Server) Complete(ctx context.Context, req *registryv1.CompleteRequest) (
	*registryv1.CompleteResponse, error) {
	resp, err := s.complete(ctx, req)
	return resp, s.toStatus("Complete", err)
}

func (s *Server) complete(ctx context.Context, req *registryv1.CompleteRequest) (
	*registryv1.CompleteResponse, error) {
	if !isJSONObject(req.GetArgumentJson()) {
		return nil, errorf(ErrInvalid, "argument_json: want a JSON object")
	}
	if c := req.GetContextJson(); c != "" && !isJSONObject(c) {
		return nil, errorf(ErrInvalid, "context_json: want a JSON object")
	}
	provider, addr, ref, err := s.resolveRef(ctx, req.GetRefJson())
	if err != nil {
		return nil, err
	}
	res, err := unary(ctx, s, provider, addr, "completion",
		func(ctx context.Context, c providerv1.ProviderServiceClient) (string, error) {
			resp, err := c.Complete(ctx, &providerv1.CompleteRequest{RefJson: ref,
				ArgumentJson: req.GetArgumentJson(), ContextJson: req.GetContextJson(),
				SessionId: req.GetSessionId()})
			return resp.GetResultJson(), err
		})
	return &registryv1.CompleteResponse{ResultJson: res}, err
}

// resolveRef finds the provider of a completion reference and returns
// the reference as the provider must see it.
func (s *Server) resolveRef(ctx context.Context, refJSON string) (provider, addr, ref string,
	err error) {
	var r struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if !isJSONObject(refJSON) || json.Unmarshal([]byte(refJSON), &r) != nil {
		return "", "", "", errorf(ErrInvalid, "ref_json: want a JSON object")
	}
	switch r.Type {
	case "ref/prompt":
		p, addr, err := s.store.Prompt(ctx, r.Name)
		if err != nil {
			return "", "", "", err
		}
		ref, err := setMember(refJSON, "name", jsonString(p.GetProviderPromptName()))
		return p.GetProvider(), addr, ref, err
	case "ref/resource":
		t, addr, err := s.store.Template(ctx, r.URI)
		if err != nil {
			return "", "", "", err
		}
		return t.GetProvider(), addr, refJSON, nil
	}
	return "", "", "", errorf(ErrInvalid,
		"ref_json: type %q: want ref/prompt or ref/resource", r.Type)
}

// unary runs one unary provider RPC under the call timeout and checks
// that it answered with a JSON object.
func unary(ctx context.Context, s *Server, provider, addr, what string,
	rpc func(context.Context, providerv1.ProviderServiceClient) (string, error)) (
	string, error) {
	client, release, err := s.pool.acquire(addr)
	if err != nil {
		return "", err
	}
	defer release()
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.CallTimeout, errCallTimeout)
	defer cancel()
	res, err := rpc(ctx, client)
	if err != nil {
		return "", s.providerErr(ctx, provider, addr, what, err)
	}
	if !isJSONObject(res) {
		return "", errorf(ErrProvider, "provider %q answered the %s with no JSON object",
			provider, what)
	}
	return res, nil
}

// uriMatcher matches URIs against resource templates, caching each
// template's compiled pattern.
type uriMatcher struct {
	mu       sync.Mutex
	patterns map[string]*regexp.Regexp
}

// maxPatterns bounds the cache; it is emptied when full.
const maxPatterns = 10000

// match tells whether uri is an expansion of the URI template tpl.
func (m *uriMatcher) match(tpl, uri string) bool {
	m.mu.Lock()
	re, ok := m.patterns[tpl]
	m.mu.Unlock()
	if !ok {
		re = templatePattern(tpl)
		m.mu.Lock()
		if m.patterns == nil || len(m.patterns) >= maxPatterns {
			m.patterns = make(map[string]*regexp.Regexp)
		}
		m.patterns[tpl] = re
		m.mu.Unlock()
	}
	return re != nil && re.MatchString(uri)
}

// templatePattern compiles an RFC 6570 URI template into a pattern that
// matches its expansions, or returns nil for a malformed template. A
// level-1 expression {var} matches one or more characters other than
// '/', '?' and '#', as simple expansion would percent-encode those.
// Reserved and fragment expansions ({+var}, {#var}) match any run of
// characters; the other operators of levels 3 and 4 are matched
// leniently, by any run including an empty one.
func templatePattern(tpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for tpl != "" {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(tpl))
			break
		}
		j := strings.IndexByte(tpl[i:], '}')
		if j < 2 {
			return nil
		}
		b.WriteString(regexp.QuoteMeta(tpl[:i]))
		switch tpl[i+1] {
		case '+', '#':
			b.WriteString(".+")
		case '.', '/', ';', '?', '&':
			b.WriteString(".*")
		default:
			b.WriteString("[^/?#]+")
		}
		tpl = tpl[i+j+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil
	}
	return re
}
