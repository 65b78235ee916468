package provider

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// uriTemplate is an RFC 6570 level-1 URI template: literal text with
// simple string expansions such as "{id}".
type uriTemplate struct {
	vars []string
	re   *regexp.Regexp
}

var varName = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// parseTemplate compiles a level-1 template into a matcher. Operators
// ("{+path}", "{?q}") and modifiers belong to higher levels and are
// refused, as are two variables in a row, which no URI could split
// unambiguously.
func parseTemplate(s string) (*uriTemplate, error) {
	t := &uriTemplate{}
	var pattern strings.Builder
	pattern.WriteString("^")
	adjacent := false
	for rest := s; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			pattern.WriteString(regexp.QuoteMeta(rest))
			break
		}
		if rest[open] == '}' {
			return nil, errors.New("unmatched '}'")
		}
		pattern.WriteString(regexp.QuoteMeta(rest[:open]))
		if open > 0 {
			adjacent = false
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, errors.New("unterminated expression")
		}
		name := rest[open+1 : open+end]
		if err := t.addVar(name, adjacent); err != nil {
			return nil, err
		}
		// A simple expansion percent-encodes every reserved character, so
		// a value never holds a '/', '?' or '#'.
		pattern.WriteString(`([^/?#]+)`)
		adjacent = true
		rest = rest[open+end+1:]
	}
	pattern.WriteString("$")
	t.re = regexp.MustCompile(pattern.String())
	return t, nil
}

func (t *uriTemplate) addVar(name string, adjacent bool) error {
	switch {
	case !varName.MatchString(name):
		return fmt.Errorf("expression {%s}: only level-1 {name} expressions are supported", name)
	case adjacent:
		return fmt.Errorf("expression {%s} directly follows another", name)
	case slices.Contains(t.vars, name):
		return fmt.Errorf("variable %q appears twice", name)
	}
	t.vars = append(t.vars, name)
	return nil
}

// match reports whether uri is an expansion of the template and returns
// the variables' values, percent-decoded.
func (t *uriTemplate) match(uri string) (map[string]string, bool) {
	m := t.re.FindStringSubmatch(uri)
	if m == nil {
		return nil, false
	}
	vars := make(map[string]string, len(t.vars))
	for i, name := range t.vars {
		v, err := url.PathUnescape(m[i+1])
		if err != nil {
			return nil, false
		}
		vars[name] = v
	}
	return vars, true
}
