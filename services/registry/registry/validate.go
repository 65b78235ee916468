package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// maxTools bounds each kind of entry (tools, resources, templates,
// prompts) of one provider's catalogue, so that one registration cannot
// turn into an unbounded Redis script.
const maxTools = 10000

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)
)

// spec is a registration request after validation and defaults.
type spec struct {
	name, address, prefix string
	ttl                   time.Duration
}

// validateRegister checks a registration request and fills in the
// defaults. Errors name the offending field.
func (s *Server) validateRegister(req *registryv1.RegisterProviderRequest) (spec, error) {
	sp := spec{name: req.GetName(), address: req.GetAddress(), prefix: req.GetName()}
	if !nameRE.MatchString(sp.name) {
		return sp, errorf(ErrInvalid,
			"name %q: want 1 to 64 letters, digits, '_' or '-'", sp.name)
	}
	if sp.address == "" || strings.ContainsFunc(sp.address, unicode.IsSpace) {
		return sp, errorf(ErrInvalid, "address %q: want a gRPC target such as host:port",
			sp.address)
	}
	if req.Prefix != nil {
		sp.prefix = req.GetPrefix()
		if !prefixRE.MatchString(sp.prefix) {
			return sp, errorf(ErrInvalid,
				"prefix %q: want up to 64 letters, digits, '_' or '-'", sp.prefix)
		}
	}
	ttl, err := s.leaseTTL(req)
	sp.ttl = ttl
	return sp, err
}

// leaseTTL returns the lease length asked for, or the default when the
// request names none (or zero). Leases longer than the maximum are
// refused rather than shortened, so that a provider never renews too late.
func (s *Server) leaseTTL(req *registryv1.RegisterProviderRequest) (time.Duration, error) {
	if req.LeaseTtl == nil {
		return s.cfg.DefaultLeaseTTL, nil
	}
	if err := req.GetLeaseTtl().CheckValid(); err != nil {
		return 0, errorf(ErrInvalid, "lease_ttl: %v", err)
	}
	ttl := req.GetLeaseTtl().AsDuration().Truncate(time.Millisecond)
	switch {
	case req.GetLeaseTtl().AsDuration() == 0:
		return s.cfg.DefaultLeaseTTL, nil
	case ttl <= 0:
		return 0, errorf(ErrInvalid, "lease_ttl %s: want at least 1ms",
			req.GetLeaseTtl().AsDuration())
	case ttl > s.cfg.MaxLeaseTTL:
		return 0, errorf(ErrInvalid, "lease_ttl %s: exceeds the maximum %s",
			ttl, s.cfg.MaxLeaseTTL)
	}
	return ttl, nil
}

// Exposed names keep to the character set and length that the MCP
// specification gives tool names (2025-11-25, Server Features, Tools,
// Tool Names: 1 to 128 of A-Z, a-z, 0-9, '_', '-' and '.'), and within
// maxExposedLen, which clients that put a server's name before the tool's
// need; prompts follow the same rule.
const (
	maxExposedLen = 64
	// hashHexLen hex digits of SHA-256 end a shortened name.
	hashHexLen = 8
)

// exposedName is the name a provider's tool or prompt has in the merged
// catalogue: "<prefix>__<name>", or the name alone with no prefix. A name
// that is longer than maxExposedLen, or holds a character outside the
// allowed set, keeps a readable head (with '_' for each such character)
// and ends in '_' and a hash of the whole name, so that two names never
// map to one by shortening or replacing. Calls are routed by the
// provider's own name, which the catalogue keeps beside the exposed one.
func exposedName(prefix, name string) string {
	full := name
	if prefix != "" {
		full = prefix + "__" + name
	}
	clean, replaced := cleanName(full)
	if !replaced && len(clean) <= maxExposedLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	head := clean[:min(len(clean), maxExposedLen-hashHexLen-1)]
	return head + "_" + hex.EncodeToString(sum[:])[:hashHexLen]
}

// cleanName replaces every character outside the tool-name set with '_'
// and reports whether it replaced any.
func cleanName(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	replaced := false
	for _, r := range s {
		if r < utf8.RuneSelf && toolNameChar[r] {
			b.WriteRune(r)
			continue
		}
		b.WriteByte('_')
		replaced = true
	}
	return b.String(), replaced
}

// toolNameChar marks the ASCII characters allowed in exposed names.
var toolNameChar = func() (set [utf8.RuneSelf]bool) {
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-." {
		set[r] = true
	}
	return set
}()

// catalogue checks a provider's catalogue and returns its entries as the
// merged catalogue exposes them: tools and prompts under the prefix,
// resources and templates under their own URIs. JSON is copied verbatim,
// except that a prompt's name member becomes its exposed name.
func catalogue(sp spec, d *providerv1.DescribeResponse) (Entry, error) {
	e := Entry{Name: sp.name, Address: sp.address, Prefix: sp.prefix, TTL: sp.ttl}
	counts := []struct {
		noun string
		n    int
	}{{"tools", len(d.GetTools())}, {"resources", len(d.GetResources())},
		{"resource templates", len(d.GetResourceTemplates())}, {"prompts", len(d.GetPrompts())}}
	for _, c := range counts {
		if c.n > maxTools {
			return e, errorf(ErrInvalid, "provider %q serves %d %s; at most %d are allowed",
				sp.name, c.n, c.noun, maxTools)
		}
	}
	var err error
	if e.Tools, err = catalogueTools(sp, d.GetTools()); err != nil {
		return e, err
	}
	if e.Resources, err = catalogueResources(sp, d.GetResources()); err != nil {
		return e, err
	}
	if e.Templates, err = catalogueTemplates(sp, d.GetResourceTemplates()); err != nil {
		return e, err
	}
	e.Prompts, err = cataloguePrompts(sp, d.GetPrompts())
	return e, err
}

// catalogueTools checks a provider's tools and names them as exposed.
func catalogueTools(sp spec, tools []*providerv1.Tool) ([]*registryv1.CatalogTool, error) {
	out := make([]*registryv1.CatalogTool, 0, len(tools))
	seen := make(map[string]string, len(tools))
	for i, t := range tools {
		if err := validateTool(t); err != nil {
			return nil, errorf(ErrInvalid, "provider %q: tool %d %q: %w",
				sp.name, i, t.GetName(), err)
		}
		exposed := exposedName(sp.prefix, t.GetName())
		if err := checkUnique(seen, sp.name, "tool", exposed, t.GetName()); err != nil {
			return nil, err
		}
		ct := &registryv1.CatalogTool{
			Tool:             proto.CloneOf(t),
			Provider:         sp.name,
			ProviderToolName: t.GetName(),
		}
		ct.Tool.Name = exposed
		out = append(out, ct)
	}
	return out, nil
}

// checkUnique records that the provider's entry named own is exposed as
// exposed, and refuses a second entry exposed under that name.
func checkUnique(seen map[string]string, provider, noun, exposed, own string) error {
	first, dup := seen[exposed]
	switch {
	case dup && first == own:
		return errorf(ErrInvalid, "provider %q: %s name %q appears twice",
			provider, noun, exposed)
	case dup:
		return errorf(ErrInvalid, "provider %q: %ss %q and %q are both exposed as %q",
			provider, noun, first, own, exposed)
	}
	seen[exposed] = own
	return nil
}

// catalogueResources checks a provider's resources.
func catalogueResources(sp spec, list []*providerv1.Resource) (
	[]*registryv1.CatalogResource, error) {
	out := make([]*registryv1.CatalogResource, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, r := range list {
		if err := validateEntry("uri", r.GetUri(), r.GetName(), r.GetDefinitionJson()); err != nil {
			return nil, errorf(ErrInvalid, "provider %q: resource %d %q: %w",
				sp.name, i, r.GetUri(), err)
		}
		if seen[r.GetUri()] {
			return nil, errorf(ErrInvalid, "provider %q: resource URI %q appears twice",
				sp.name, r.GetUri())
		}
		seen[r.GetUri()] = true
		out = append(out, &registryv1.CatalogResource{Resource: proto.CloneOf(r),
			Provider: sp.name})
	}
	return out, nil
}

// catalogueTemplates checks a provider's resource templates.
func catalogueTemplates(sp spec, list []*providerv1.ResourceTemplate) (
	[]*registryv1.CatalogResourceTemplate, error) {
	out := make([]*registryv1.CatalogResourceTemplate, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, t := range list {
		err := validateEntry("uri_template", t.GetUriTemplate(), t.GetName(),
			t.GetDefinitionJson())
		if err != nil {
			return nil, errorf(ErrInvalid, "provider %q: resource template %d %q: %w",
				sp.name, i, t.GetUriTemplate(), err)
		}
		if seen[t.GetUriTemplate()] {
			return nil, errorf(ErrInvalid, "provider %q: resource template %q appears twice",
				sp.name, t.GetUriTemplate())
		}
		seen[t.GetUriTemplate()] = true
		out = append(out, &registryv1.CatalogResourceTemplate{Template: proto.CloneOf(t),
			Provider: sp.name})
	}
	return out, nil
}

// cataloguePrompts checks a provider's prompts and names them as exposed,
// in the message and in the definition's name member.
func cataloguePrompts(sp spec, list []*providerv1.Prompt) ([]*registryv1.CatalogPrompt, error) {
	out := make([]*registryv1.CatalogPrompt, 0, len(list))
	seen := make(map[string]string, len(list))
	for i, p := range list {
		err := validateEntry("name", p.GetName(), p.GetName(), p.GetDefinitionJson())
		if err != nil {
			return nil, errorf(ErrInvalid, "provider %q: prompt %d %q: %w",
				sp.name, i, p.GetName(), err)
		}
		exposed := exposedName(sp.prefix, p.GetName())
		if err := checkUnique(seen, sp.name, "prompt", exposed, p.GetName()); err != nil {
			return nil, err
		}
		def, err := setMember(p.GetDefinitionJson(), "name", jsonString(exposed))
		if err != nil {
			return nil, errorf(ErrInvalid, "provider %q: prompt %d %q: definition_json: %w",
				sp.name, i, p.GetName(), err)
		}
		out = append(out, &registryv1.CatalogPrompt{
			Prompt:             &providerv1.Prompt{Name: exposed, DefinitionJson: def},
			Provider:           sp.name,
			ProviderPromptName: p.GetName(),
		})
	}
	return out, nil
}

// validateEntry checks the fields that resources, templates and prompts
// share: a key (the prompt's key is its name), a name and a definition
// that is one JSON object.
func validateEntry(keyField, key, name, def string) error {
	switch {
	case key == "":
		return errorf(ErrInvalid, "%s: required", keyField)
	case name == "":
		return errorf(ErrInvalid, "name: required")
	case !isJSONObject(def):
		return errorf(ErrInvalid, "definition_json: want a JSON object")
	}
	return nil
}

// validateTool checks one tool of a provider's catalogue.
func validateTool(t *providerv1.Tool) error {
	if t.GetName() == "" {
		return errorf(ErrInvalid, "name: required")
	}
	if s := t.GetInputSchemaJson(); s != "" && !isJSONObject(s) {
		return errorf(ErrInvalid, "input_schema_json: want a JSON object")
	}
	fields := []struct{ name, value string }{
		{"output_schema_json", t.GetOutputSchemaJson()},
		{"annotations_json", t.GetAnnotationsJson()},
		{"meta_json", t.GetMetaJson()},
		{"icons_json", t.GetIconsJson()},
		{"execution_json", t.GetExecutionJson()},
	}
	for _, f := range fields {
		if f.value != "" && !json.Valid([]byte(f.value)) {
			return errorf(ErrInvalid, "%s: not valid JSON", f.name)
		}
	}
	return nil
}

// isJSONObject tells whether s is one valid JSON object.
func isJSONObject(s string) bool {
	return json.Valid([]byte(s)) && strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{")
}

// validateCall checks a routed call's request.
func validateCall(req *registryv1.CallToolRequest) error {
	if req.GetName() == "" {
		return errorf(ErrInvalid, "name: required")
	}
	if s := req.GetArgumentsJson(); s != "" && !isJSONObject(s) {
		return errorf(ErrInvalid, "arguments_json: want a JSON object")
	}
	if s := req.GetMetaJson(); s != "" && !isJSONObject(s) {
		return errorf(ErrInvalid, "meta_json: want a JSON object")
	}
	if s := req.GetClientCapabilitiesJson(); s != "" && !isJSONObject(s) {
		return errorf(ErrInvalid, "client_capabilities_json: want a JSON object")
	}
	if s := req.GetRequestIdJson(); s != "" {
		if _, err := requestKey(s); err != nil {
			return err
		}
	}
	return nil
}

// streamRE is the alphabet of request stream names; "_", the standalone
// stream, is no call's.
var streamRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// validateStreamed checks a call that is to be logged to a session
// stream, which needs the session and the request id for its messages.
func validateStreamed(req *registryv1.CallToolRequest) error {
	if err := validateCall(req); err != nil {
		return err
	}
	switch {
	case !streamRE.MatchString(req.GetStream()):
		return errorf(ErrInvalid, "stream %q: want 1 to 64 letters or digits", req.GetStream())
	case req.GetSessionId() == "":
		return errorf(ErrInvalid, "session_id: required with a stream")
	case req.GetRequestIdJson() == "":
		return errorf(ErrInvalid, "request_id_json: required with a stream")
	}
	return nil
}
