package provider_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/provider"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

func TestDescribe(t *testing.T) {
	p := provider.New("test", nil)
	yes := true
	p.AddTool(provider.Tool{
		Name:         "raw",
		Title:        "Raw",
		Description:  "Takes anything.",
		InputSchema:  json.RawMessage(`{ "type": "object", "maximum": 18446744073709551617 }`),
		OutputSchema: json.RawMessage(`{"type": "object"}`),
		Annotations:  &provider.Annotations{ReadOnlyHint: &yes},
		Meta:         json.RawMessage(`{"x": 1}`),
		Icons:        json.RawMessage(`[{"src": "data:image/png;base64,AAAA"}]`),
		Execution:    json.RawMessage(`{"taskSupport": "forbidden"}`),
	}, rawEcho)
	p.AddTool(provider.Tool{Name: "bare"}, rawEcho)

	got, err := serve(t, p).Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := &providerv1.DescribeResponse{Tools: []*providerv1.Tool{
		{Name: "bare"},
		{
			Name:             "raw",
			Title:            "Raw",
			Description:      "Takes anything.",
			InputSchemaJson:  `{"type":"object","maximum":18446744073709551617}`,
			OutputSchemaJson: `{"type":"object"}`,
			AnnotationsJson:  `{"readOnlyHint":true}`,
			MetaJson:         `{"x":1}`,
			IconsJson:        `[{"src":"data:image/png;base64,AAAA"}]`,
			ExecutionJson:    `{"taskSupport":"forbidden"}`,
		},
	}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Describe mismatch (-want +got):\n%s", diff)
	}
}

type nested struct {
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitzero"`
}

type inferIn struct {
	Name   string  `json:"name" jsonschema:"who to greet"`
	Times  int     `json:"times,omitempty"`
	Ratio  float64 `json:"ratio"`
	Nested nested  `json:"nested"`
	Hidden string  `json:"-"`
}

func TestSchemaInference(t *testing.T) {
	tests := []struct {
		name       string
		add        func(p *provider.Provider)
		wantInput  string
		wantOutput string
	}{
		{
			name: "struct in, struct out",
			add: func(p *provider.Provider) {
				provider.AddFunc(p, "t", "", func(context.Context, inferIn) (sumOut, error) {
					return sumOut{}, nil
				})
			},
			wantInput: `{
				"type": "object",
				"required": ["name", "ratio", "nested"],
				"additionalProperties": false,
				"properties": {
					"name": {"type": "string", "description": "who to greet"},
					"times": {"type": "integer"},
					"ratio": {"type": "number"},
					"nested": {
						"type": "object",
						"additionalProperties": false,
						"properties": {
							"tags": {"type": ["null", "array"], "items": {"type": "string"}},
							"attrs": {"type": "object", "additionalProperties": {"type": "string"}}
						}
					}
				}
			}`,
			wantOutput: `{
				"type": "object",
				"required": ["sum"],
				"additionalProperties": false,
				"properties": {"sum": {"type": "integer"}}
			}`,
		},
		{
			name: "pointer in, map out",
			add: func(p *provider.Provider) {
				provider.AddFunc(p, "t", "", func(context.Context, *sumIn) (map[string]int, error) {
					return nil, nil
				})
			},
			wantInput: `{
				"type": "object",
				"required": ["a", "b"],
				"additionalProperties": false,
				"properties": {
					"a": {"type": "integer", "description": "first addend"},
					"b": {"type": "integer", "description": "second addend"}
				}
			}`,
			wantOutput: `{"type": "object", "additionalProperties": {"type": "integer"}}`,
		},
		{
			name: "text out has no output schema",
			add: func(p *provider.Provider) {
				provider.AddFunc(p, "t", "", func(context.Context, map[string]any) (string, error) {
					return "", nil
				})
			},
			wantInput: `{"type": "object", "additionalProperties": true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider.New("test", nil)
			tt.add(p)
			tool := p.Tools()[0]
			if diff := jsonDiff(t, tt.wantInput, string(tool.InputSchema)); diff != "" {
				t.Errorf("input schema mismatch (-want +got):\n%s", diff)
			}
			if tt.wantOutput == "" {
				if tool.OutputSchema != nil {
					t.Errorf("output schema = %s, want none", tool.OutputSchema)
				}
				return
			}
			if diff := jsonDiff(t, tt.wantOutput, string(tool.OutputSchema)); diff != "" {
				t.Errorf("output schema mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddToolPanics(t *testing.T) {
	tests := []struct {
		name    string
		add     func(p *provider.Provider)
		wantMsg string
	}{
		{"bad name", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "a b"}, rawEcho)
		}, "name"},
		{"empty name", func(p *provider.Provider) {
			p.AddTool(provider.Tool{}, rawEcho)
		}, "name"},
		{"duplicate", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "dup"}, rawEcho)
		}, "duplicate"},
		{"nil handler", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "h"}, nil)
		}, "nil handler"},
		{"input schema not an object schema", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "s", InputSchema: json.RawMessage(`{"type":"string"}`)}, rawEcho)
		}, "input schema"},
		{"unresolvable input schema", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "s", InputSchema: json.RawMessage(
				`{"type":"object","$ref":"other.json"}`)}, rawEcho)
		}, "input schema"},
		{"invalid meta", func(p *provider.Provider) {
			p.AddTool(provider.Tool{Name: "s", Meta: json.RawMessage(`{`)}, rawEcho)
		}, "meta"},
		{"input not an object", func(p *provider.Provider) {
			provider.AddFunc(p, "s", "", func(context.Context, int) (string, error) { return "", nil })
		}, "not a struct or map"},
		{"input without schema", func(p *provider.Provider) {
			provider.AddFunc(p, "s", "", func(context.Context, struct{ C chan int }) (string, error) {
				return "", nil
			})
		}, "input type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider.New("test", nil)
			p.AddTool(provider.Tool{Name: "dup"}, rawEcho)
			defer func() {
				v := recover()
				msg, _ := v.(string)
				if !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("panic = %v, want a message containing %q", v, tt.wantMsg)
				}
			}()
			tt.add(p)
		})
	}
}
