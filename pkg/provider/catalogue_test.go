package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// catalogue has resources, templates and prompts for each behaviour
// under test.
func catalogue(t *testing.T) *provider.Provider {
	t.Helper()
	p := provider.New("test", nil)
	prio := 0.5
	p.AddResource(provider.Resource{
		URI: "test://text", Name: "text", Title: "Text", Description: "Some <text>.",
		MIMEType: "text/plain", Size: 4,
		Annotations: &provider.ResourceAnnotations{Audience: []string{"user"}, Priority: &prio},
		Meta:        json.RawMessage(`{"n": 18446744073709551617}`),
	}, echoResource)
	p.AddResource(provider.Resource{URI: "test://blob", Name: "blob"},
		func(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
			return provider.BlobResource(req.URI, "application/octet-stream", []byte{0, 1, 0xff}), nil
		})
	p.AddResource(provider.Resource{URI: "test://items/special", Name: "special"}, echoResource)
	fail := func(err error) provider.ResourceHandler {
		return func(context.Context, *provider.ResourceRequest) (*provider.ReadResult, error) {
			return nil, err
		}
	}
	p.AddResource(provider.Resource{URI: "test://fails", Name: "fails"},
		fail(errors.New("disk on fire")))
	p.AddResource(provider.Resource{URI: "test://gone", Name: "gone"},
		fail(fmt.Errorf("deleted: %w", provider.ErrNotFound)))
	p.AddResource(provider.Resource{URI: "test://denied", Name: "denied"},
		fail(status.Error(codes.PermissionDenied, "keep out")))
	p.AddResource(provider.Resource{URI: "test://panics", Name: "panics"},
		func(context.Context, *provider.ResourceRequest) (*provider.ReadResult, error) {
			panic("boom")
		})
	p.AddResource(provider.Resource{URI: "test://badmeta", Name: "badmeta"},
		func(context.Context, *provider.ResourceRequest) (*provider.ReadResult, error) {
			return &provider.ReadResult{Meta: json.RawMessage(`{`)}, nil
		})
	p.AddResourceTemplate(provider.ResourceTemplate{
		URITemplate: "test://items/{id}", Name: "item", MIMEType: "application/json",
		Complete: map[string]provider.CompletionHandler{"id": completeIDs},
	}, echoResource)
	p.AddResourceTemplate(provider.ResourceTemplate{
		URITemplate: "test://{kind}/{id}", Name: "any",
	}, echoResource)
	addPrompts(p)
	return p
}

// echoResource returns what reached the handler.
func echoResource(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
	b, _ := json.Marshal(struct {
		URI  string            `json:"uri"`
		Vars map[string]string `json:"vars"`
		Meta json.RawMessage   `json:"meta"`
		SID  string            `json:"sid"`
	}{req.URI, req.Vars, req.Meta, req.SessionID})
	return &provider.ReadResult{Contents: []provider.ResourceContents{{Text: string(b)}}}, nil
}

func completeIDs(_ context.Context, req *provider.CompletionRequest) (*provider.Completion, error) {
	return &provider.Completion{Values: []string{req.Value + "1", req.Value + "2"}, Total: 7,
		HasMore: true}, nil
}

func addPrompts(p *provider.Provider) {
	p.AddPrompt(provider.Prompt{
		Name: "greet", Title: "Greet", Description: "Greets someone.",
		Arguments: []provider.PromptArgument{
			{Name: "name", Title: "Name", Description: "Who", Required: true, Complete: completeNames},
			{Name: "style"},
		},
		Meta: json.RawMessage(`{"x": 1}`),
	}, func(_ context.Context, req *provider.PromptRequest) (*provider.PromptResult, error) {
		return &provider.PromptResult{
			Description: "A greeting",
			Messages: []provider.PromptMessage{
				provider.UserMessage(provider.TextBlock("Greet " + req.Arguments["name"] +
					" " + req.Arguments["style"] + " " + req.SessionID)),
				provider.AssistantMessage(provider.ImageBlock([]byte{1, 2}, "image/png")),
			},
		}, nil
	})
	p.AddPrompt(provider.Prompt{Name: "bad-role"},
		func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
			return &provider.PromptResult{Messages: []provider.PromptMessage{
				{Role: "system", Content: provider.TextBlock("x")},
			}}, nil
		})
	p.AddPrompt(provider.Prompt{Name: "empty"},
		func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
			return nil, nil
		})
	p.AddPrompt(provider.Prompt{Name: "refuses"},
		func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
			return nil, fmt.Errorf("%w: no", provider.ErrInvalidArguments)
		})
}

func completeNames(_ context.Context, req *provider.CompletionRequest) (
	*provider.Completion, error) {
	values := make([]string, 150)
	for i := range values {
		values[i] = fmt.Sprintf("%s%03d %v", req.Value, i, req.Context)
	}
	return &provider.Completion{Values: values}, nil
}

func TestDescribeCatalogue(t *testing.T) {
	p := provider.New("test", nil)
	prio := 0.5
	p.AddResource(provider.Resource{
		URI: "test://text", Name: "text", Title: "Text", Description: "Some <text>.",
		MIMEType: "text/plain", Size: 4,
		Annotations: &provider.ResourceAnnotations{Audience: []string{"user"}, Priority: &prio},
		Meta:        json.RawMessage(`{"n": 18446744073709551617}`),
		Icons:       json.RawMessage(`[{"src": "data:,"}]`),
	}, echoResource)
	p.AddResource(provider.Resource{URI: "a://first", Name: "first"}, echoResource)
	p.AddResourceTemplate(provider.ResourceTemplate{
		URITemplate: "test://items/{id}", Name: "item", Title: "Item", MIMEType: "application/json",
		Complete: map[string]provider.CompletionHandler{"id": completeIDs},
	}, echoResource)
	addPrompts(p)

	got, err := p.Service().Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := &providerv1.DescribeResponse{
		Resources: []*providerv1.Resource{
			{Uri: "a://first", Name: "first", DefinitionJson: `{"uri":"a://first","name":"first"}`},
			{Uri: "test://text", Name: "text", DefinitionJson: `{"uri":"test://text","name":"text",` +
				`"title":"Text","description":"Some <text>.","mimeType":"text/plain","size":4,` +
				`"annotations":{"audience":["user"],"priority":0.5},"icons":[{"src":"data:,"}],` +
				`"_meta":{"n":18446744073709551617}}`},
		},
		ResourceTemplates: []*providerv1.ResourceTemplate{{
			UriTemplate: "test://items/{id}", Name: "item",
			DefinitionJson: `{"uriTemplate":"test://items/{id}","name":"item","title":"Item",` +
				`"mimeType":"application/json"}`,
		}},
		Prompts: []*providerv1.Prompt{
			{Name: "bad-role", DefinitionJson: `{"name":"bad-role"}`},
			{Name: "empty", DefinitionJson: `{"name":"empty"}`},
			{Name: "greet", DefinitionJson: `{"name":"greet","title":"Greet",` +
				`"description":"Greets someone.","arguments":[{"name":"name","title":"Name",` +
				`"description":"Who","required":true},{"name":"style"}],"_meta":{"x":1}}`},
			{Name: "refuses", DefinitionJson: `{"name":"refuses"}`},
		},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Describe mismatch (-want +got):\n%s", diff)
	}
}

func TestReadResource(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	tests := []struct {
		name string
		req  *providerv1.ReadResourceRequest
		want string
	}{
		{"listed", &providerv1.ReadResourceRequest{
			Uri: "test://text", MetaJson: `{"k": 1}`, SessionId: "s-1",
		}, `{"contents":[{"uri":"test://text","text":` +
			`"{\"uri\":\"test://text\",\"vars\":null,\"meta\":{\"k\":1},\"sid\":\"s-1\"}"}]}`},
		{"binary", &providerv1.ReadResourceRequest{Uri: "test://blob"},
			`{"contents":[{"uri":"test://blob","mimeType":"application/octet-stream",` +
				`"blob":"AAH/"}]}`},
		{"template", &providerv1.ReadResourceRequest{Uri: "test://items/a%2Fb"},
			`{"contents":[{"uri":"test://items/a%2Fb","text":` +
				`"{\"uri\":\"test://items/a%2Fb\",\"vars\":{\"id\":\"a/b\"},` +
				`\"meta\":null,\"sid\":\"\"}"}]}`},
		{"listed before template", &providerv1.ReadResourceRequest{Uri: "test://items/special"},
			`{"contents":[{"uri":"test://items/special","text":` +
				`"{\"uri\":\"test://items/special\",\"vars\":null,\"meta\":null,\"sid\":\"\"}"}]}`},
		{"templates in order", &providerv1.ReadResourceRequest{Uri: "test://things/9"},
			`{"contents":[{"uri":"test://things/9","text":` +
				`"{\"uri\":\"test://things/9\",\"vars\":{\"id\":\"9\",\"kind\":\"things\"},` +
				`\"meta\":null,\"sid\":\"\"}"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.ReadResource(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("ReadResource: %v", err)
			}
			if diff := cmp.Diff(tt.want, resp.GetResultJson()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadResourceRefused(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	tests := []struct {
		uri      string
		meta     string
		wantCode codes.Code
		wantMsg  string
	}{
		{"test://nope", "", codes.NotFound, `resource "test://nope"`},
		{"test://a/b/c", "", codes.NotFound, "not found"},
		{"test://gone", "", codes.NotFound, "deleted"},
		{"test://fails", "", codes.Internal, "disk on fire"},
		{"test://denied", "", codes.PermissionDenied, "keep out"},
		{"test://panics", "", codes.Internal, "internal error"},
		{"test://badmeta", "", codes.Internal, "invalid result"},
		{"test://text", "{", codes.InvalidArgument, "_meta"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			_, err := c.ReadResource(t.Context(), &providerv1.ReadResourceRequest{
				Uri: tt.uri, MetaJson: tt.meta,
			})
			checkStatus(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

func checkStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("error = %v %q, want %v containing %q", st.Code(), st.Message(), code, msg)
	}
}

func TestGetPrompt(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	resp, err := c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
		Name: "greet", ArgumentsJson: `{"name": "Ada <3", "style": "warmly"}`, SessionId: "s-1",
	})
	if err != nil {
		t.Fatalf("GetPrompt: %v", err)
	}
	want := `{"description":"A greeting","messages":[` +
		`{"role":"user","content":{"type":"text","text":"Greet Ada <3 warmly s-1"}},` +
		`{"role":"assistant","content":{"type":"image","data":"AQI=","mimeType":"image/png"}}]}`
	if diff := cmp.Diff(want, resp.GetResultJson()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	resp, err = c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
		Name: "empty", ArgumentsJson: "null",
	})
	if err != nil || resp.GetResultJson() != `{"messages":[]}` {
		t.Errorf("empty prompt = %v, %v; want no messages", resp, err)
	}
}

func TestGetPromptRefused(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	tests := []struct {
		name     string
		prompt   string
		args     string
		wantCode codes.Code
		wantMsg  string
	}{
		{"unknown prompt", "nope", "", codes.NotFound, `prompt "nope"`},
		{"missing required argument", "greet", `{"style": "x"}`, codes.InvalidArgument, `"name"`},
		{"no arguments", "greet", "", codes.InvalidArgument, `"name"`},
		{"argument not a string", "greet", `{"name": 1}`, codes.InvalidArgument, "strings"},
		{"arguments not an object", "greet", `["name"]`, codes.InvalidArgument, "strings"},
		{"handler refuses", "refuses", "", codes.InvalidArgument, "no"},
		{"invalid role", "bad-role", "", codes.Internal, "invalid result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
				Name: tt.prompt, ArgumentsJson: tt.args,
			})
			checkStatus(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

func TestComplete(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf(`"Ad%03d map[style:warm]"`, i))
	}
	tests := []struct {
		name    string
		ref     string
		arg     string
		context string
		want    string
	}{
		{"template variable", `{"type":"ref/resource","uri":"test://items/{id}"}`,
			`{"name":"id","value":"7"}`, "",
			`{"completion":{"values":["71","72"],"total":7,"hasMore":true}}`},
		{"template variable without handler", `{"type":"ref/resource","uri":"test://{kind}/{id}"}`,
			`{"name":"kind","value":"x"}`, "", `{"completion":{"values":[]}}`},
		{"prompt argument capped at 100", `{"type":"ref/prompt","name":"greet"}`,
			`{"name":"name","value":"Ad"}`, `{"arguments":{"style":"warm"}}`,
			`{"completion":{"values":[` + strings.Join(many, ",") + `],"total":150,"hasMore":true}}`},
		{"prompt argument without handler", `{"type":"ref/prompt","name":"greet"}`,
			`{"name":"style","value":""}`, "", `{"completion":{"values":[]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Complete(t.Context(), &providerv1.CompleteRequest{
				RefJson: tt.ref, ArgumentJson: tt.arg, ContextJson: tt.context,
			})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tt.want, resp.GetResultJson()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompleteRefused(t *testing.T) {
	c := providertest.Serve(t, catalogue(t).Service())
	tests := []struct {
		name     string
		ref      string
		arg      string
		wantCode codes.Code
		wantMsg  string
	}{
		{"unknown prompt", `{"type":"ref/prompt","name":"nope"}`, `{"name":"a"}`,
			codes.NotFound, `prompt "nope"`},
		{"unknown argument", `{"type":"ref/prompt","name":"greet"}`, `{"name":"age"}`,
			codes.InvalidArgument, `no argument "age"`},
		{"unknown template", `{"type":"ref/resource","uri":"test://text"}`, `{"name":"a"}`,
			codes.NotFound, `template "test://text"`},
		{"unknown variable", `{"type":"ref/resource","uri":"test://items/{id}"}`, `{"name":"x"}`,
			codes.InvalidArgument, `no variable "x"`},
		{"unknown reference type", `{"type":"ref/tool","name":"x"}`, `{"name":"a"}`,
			codes.InvalidArgument, "ref/tool"},
		{"malformed argument", `{"type":"ref/prompt","name":"greet"}`, `{`,
			codes.InvalidArgument, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Complete(t.Context(), &providerv1.CompleteRequest{
				RefJson: tt.ref, ArgumentJson: tt.arg,
			})
			checkStatus(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

func TestAddCataloguePanics(t *testing.T) {
	tests := []struct {
		name    string
		add     func(p *provider.Provider)
		wantMsg string
	}{
		{"relative URI", func(p *provider.Provider) {
			p.AddResource(provider.Resource{URI: "relative", Name: "r"}, echoResource)
		}, "absolute"},
		{"resource without name", func(p *provider.Provider) {
			p.AddResource(provider.Resource{URI: "x://r"}, echoResource)
		}, "name"},
		{"duplicate URI", func(p *provider.Provider) {
			p.AddResource(provider.Resource{URI: "x://dup", Name: "again"}, echoResource)
		}, "duplicate"},
		{"bad resource meta", func(p *provider.Provider) {
			p.AddResource(provider.Resource{URI: "x://m", Name: "m", Meta: json.RawMessage(`{`)},
				echoResource)
		}, "encode"},
		{"level-2 template", func(p *provider.Provider) {
			p.AddResourceTemplate(provider.ResourceTemplate{URITemplate: "x://{+p}", Name: "t"},
				echoResource)
		}, "level-1"},
		{"completion for no variable", func(p *provider.Provider) {
			p.AddResourceTemplate(provider.ResourceTemplate{
				URITemplate: "x://{a}", Name: "t",
				Complete: map[string]provider.CompletionHandler{"b": completeIDs},
			}, echoResource)
		}, `unknown variable "b"`},
		{"template without handler", func(p *provider.Provider) {
			p.AddResourceTemplate(provider.ResourceTemplate{URITemplate: "x://{a}", Name: "t"}, nil)
		}, "handler"},
		{"duplicate template", func(p *provider.Provider) {
			p.AddResourceTemplate(provider.ResourceTemplate{URITemplate: "x://t/{id}", Name: "t"},
				echoResource)
		}, "duplicate"},
		{"bad prompt name", func(p *provider.Provider) {
			p.AddPrompt(provider.Prompt{Name: "a b"}, nil)
		}, "name"},
		{"repeated argument", func(p *provider.Provider) {
			p.AddPrompt(provider.Prompt{Name: "p", Arguments: []provider.PromptArgument{
				{Name: "a"}, {Name: "a"},
			}}, func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
				return nil, nil
			})
		}, "repeated"},
		{"duplicate prompt", func(p *provider.Provider) {
			p.AddPrompt(provider.Prompt{Name: "dup"},
				func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
					return nil, nil
				})
		}, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider.New("test", nil)
			p.AddResource(provider.Resource{URI: "x://dup", Name: "dup"}, echoResource)
			p.AddResourceTemplate(provider.ResourceTemplate{URITemplate: "x://t/{id}", Name: "t"},
				echoResource)
			p.AddPrompt(provider.Prompt{Name: "dup"},
				func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
					return nil, nil
				})
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("panic = %q, want a message containing %q", msg, tt.wantMsg)
				}
			}()
			tt.add(p)
		})
	}
}

func TestContentBlocks(t *testing.T) {
	tests := []struct {
		name string
		got  json.RawMessage
		want string
	}{
		{"text", provider.TextBlock("a < b"), `{"type":"text","text":"a < b"}`},
		{"image", provider.ImageBlock([]byte("png"), "image/png"),
			`{"type":"image","data":"cG5n","mimeType":"image/png"}`},
		{"audio", provider.AudioBlock(nil, "audio/wav"),
			`{"type":"audio","data":"","mimeType":"audio/wav"}`},
		{"text resource", provider.ResourceBlock(provider.ResourceContents{
			URI: "x://r", MIMEType: "text/plain", Text: "", Meta: json.RawMessage(`{"a":1}`),
		}), `{"type":"resource","resource":{"uri":"x://r","mimeType":"text/plain","text":"",` +
			`"_meta":{"a":1}}}`},
		{"blob resource", provider.ResourceBlock(provider.ResourceContents{
			URI: "x://r", Blob: []byte{}, Text: "ignored",
		}), `{"type":"resource","resource":{"uri":"x://r","blob":""}}`},
		{"resource with bad meta", provider.ResourceBlock(provider.ResourceContents{
			URI: "x://r", Meta: json.RawMessage(`{`),
		}), ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(tt.got)); diff != "" {
				t.Errorf("block (-want +got):\n%s", diff)
			}
		})
	}
}
