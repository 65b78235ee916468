package provider

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		template string
		uri      string
		want     map[string]string // nil: no match
	}{
		{"test://template/{id}/data", "test://template/123/data", map[string]string{"id": "123"}},
		{"test://template/{id}/data", "test://template/a%20b%2Fc/data", map[string]string{"id": "a b/c"}},
		{"test://template/{id}/data", "test://template//data", nil},
		{"test://template/{id}/data", "test://template/1/2/data", nil},
		{"test://template/{id}/data", "test://template/1/data/x", nil},
		{"test://template/{id}/data", "test://template/%zz/data", nil},
		{"file:///{dir}/{name}.txt", "file:///docs/read.me.txt",
			map[string]string{"dir": "docs", "name": "read.me"}},
		{"db://{table}?row={id}", "db://users?row=7", map[string]string{"table": "users", "id": "7"}},
		{"db://{table}?row={id}", "db://users?row=7#frag", nil},
		{"db://{table}/rows", "db://a.b*c/rows", map[string]string{"table": "a.b*c"}},
		{"lit://x.y(z)", "lit://x.y(z)", map[string]string{}},
		{"lit://x.y(z)", "lit://xzy(z)", nil},
		{"q://{user.name}", "q://ada", map[string]string{"user.name": "ada"}},
	}
	for _, tt := range tests {
		t.Run(tt.template+" "+tt.uri, func(t *testing.T) {
			tmpl, err := parseTemplate(tt.template)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, ok := tmpl.match(tt.uri)
			if ok != (tt.want != nil) {
				t.Fatalf("match = %v, %v; want %v", got, ok, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); ok && diff != "" {
				t.Errorf("variables (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTemplateParseErrors(t *testing.T) {
	tests := []struct {
		template string
		wantErr  string
	}{
		{"x://{+path}", "level-1"},
		{"x://{?q}", "level-1"},
		{"x://{a,b}", "level-1"},
		{"x://{a*}", "level-1"},
		{"x://{}", "level-1"},
		{"x://{a}{b}", "directly follows"},
		{"x://{a}/{a}", "twice"},
		{"x://{a", "unterminated"},
		{"x://a}", "unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			_, err := parseTemplate(tt.template)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parse = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
