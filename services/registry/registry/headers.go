package registry

import (
	"encoding/json"
	"math/big"
	"strings"

	"switchboard.dev/pkg/mcpheader"
)

// Stateless clients (2026-07-28) mirror the arguments a tool marks with
// "x-mcp-header" into Mcp-Param-{Name} headers, so that intermediaries can
// route on them without reading bodies. Whoever executes the call must
// check that the headers say what the body says (Streamable HTTP, Custom
// Headers from Tool Parameters); the registry does it because it holds
// the tool's schema.

// checkParamHeaders compares the Mcp-Param headers of a call (keyed by
// lower-cased name) with its arguments under the tool's input schema. An
// argument that is present and not null needs its header, with the same
// value; headers the schema does not name are ignored, as intermediaries
// must forward headers they do not know.
func checkParamHeaders(schemaJSON, argsJSON string, headers map[string]string) error {
	marks := headerMarks(schemaJSON)
	if len(marks) == 0 {
		return nil
	}
	var args map[string]json.RawMessage
	if argsJSON != "" {
		if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
			return errorf(ErrInvalid, "arguments: %v", err)
		}
	}
	for _, m := range marks {
		value, present := lookupPath(args, m.path)
		header, sent := headers[strings.ToLower(m.name)]
		if !present {
			continue
		}
		if !sent {
			return errorf(ErrHeaderMismatch, "header Mcp-Param-%s is required: argument %s is set",
				m.name, strings.Join(m.path, "."))
		}
		got, err := mcpheader.Decode(header)
		if err != nil {
			return errorf(ErrHeaderMismatch, "header Mcp-Param-%s: %v", m.name, err)
		}
		if !sameValue(got, value) {
			return errorf(ErrHeaderMismatch, "header Mcp-Param-%s does not match argument %s",
				m.name, strings.Join(m.path, "."))
		}
	}
	return nil
}

// headerMark is one argument marked with x-mcp-header.
type headerMark struct {
	name string
	path []string
}

// headerMarks finds the x-mcp-header marks reachable from the schema's
// root through "properties" alone, the only places the mark is valid.
func headerMarks(schemaJSON string) []headerMark {
	if !strings.Contains(schemaJSON, "x-mcp-header") {
		return nil
	}
	var root map[string]json.RawMessage
	if json.Unmarshal([]byte(schemaJSON), &root) != nil {
		return nil
	}
	var out []headerMark
	var walk func(schema map[string]json.RawMessage, path []string)
	walk = func(schema map[string]json.RawMessage, path []string) {
		var props map[string]map[string]json.RawMessage
		if json.Unmarshal(schema["properties"], &props) != nil {
			return
		}
		for name, sub := range props {
			p := append(append([]string(nil), path...), name)
			var mark string
			if json.Unmarshal(sub["x-mcp-header"], &mark) == nil && mark != "" {
				out = append(out, headerMark{name: mark, path: p})
			}
			walk(sub, p)
		}
	}
	walk(root, nil)
	return out
}

// lookupPath returns the argument at path, unless absent or null.
func lookupPath(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur := args
	for i, key := range path {
		v, ok := cur[key]
		if !ok || string(v) == "null" {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if json.Unmarshal(v, &cur) != nil {
			return nil, false
		}
	}
	return nil, false
}

// sameValue compares a header's text with a JSON argument: strings as
// they are, booleans as true/false, numbers by value (42 equals 42.0).
func sameValue(header string, arg json.RawMessage) bool {
	switch {
	case len(arg) > 0 && arg[0] == '"':
		var s string
		return json.Unmarshal(arg, &s) == nil && s == header
	case string(arg) == "true" || string(arg) == "false":
		return header == string(arg)
	}
	a, ok1 := new(big.Rat).SetString(string(arg))
	h, ok2 := new(big.Rat).SetString(strings.TrimSpace(header))
	return ok1 && ok2 && a.Cmp(h) == 0
}
