package registry

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// maxTools bounds one provider's catalogue, so that one registration
// cannot turn into an unbounded Redis script.
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

// exposedName is the name a provider's tool has in the merged catalogue.
func exposedName(prefix, tool string) string {
	if prefix == "" {
		return tool
	}
	return prefix + "__" + tool
}

// catalogue checks a provider's tools and returns them as the merged
// catalogue exposes them. The JSON fields are copied verbatim.
func catalogue(sp spec, tools []*providerv1.Tool) ([]*registryv1.CatalogTool, error) {
	if len(tools) > maxTools {
		return nil, errorf(ErrInvalid, "provider %q serves %d tools; at most %d are allowed",
			sp.name, len(tools), maxTools)
	}
	out := make([]*registryv1.CatalogTool, 0, len(tools))
	seen := make(map[string]bool, len(tools))
	for i, t := range tools {
		if err := validateTool(t); err != nil {
			return nil, errorf(ErrInvalid, "provider %q: tool %d %q: %w",
				sp.name, i, t.GetName(), err)
		}
		exposed := exposedName(sp.prefix, t.GetName())
		if seen[exposed] {
			return nil, errorf(ErrInvalid, "provider %q: tool name %q appears twice",
				sp.name, exposed)
		}
		seen[exposed] = true
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
	return nil
}
