package registry

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func resource(uri, name string) *providerv1.Resource {
	return &providerv1.Resource{Uri: uri, Name: name,
		DefinitionJson: `{"uri":` + jsonString(uri) + `, "name":` + jsonString(name) +
			`, "size": 12345678901234567890}`}
}

func template(tpl, name string) *providerv1.ResourceTemplate {
	return &providerv1.ResourceTemplate{UriTemplate: tpl, Name: name,
		DefinitionJson: `{"uriTemplate":` + jsonString(tpl) + `,"name":` + jsonString(name) + `}`}
}

func prompt(name string) *providerv1.Prompt {
	return &providerv1.Prompt{Name: name, DefinitionJson: `{ "description": "d",` +
		` "name" : ` + jsonString(name) + `, "arguments": [{"name": "x", "required": true}] }`}
}

// everything lists every kind of catalogue entry of one page each.
type everything struct {
	resources []*registryv1.CatalogResource
	templates []*registryv1.CatalogResourceTemplate
	prompts   []*registryv1.CatalogPrompt
}

func (f *fixture) everything(t *testing.T) everything {
	t.Helper()
	ctx := t.Context()
	res, err := f.client.ListResources(ctx, &registryv1.ListResourcesRequest{})
	if err != nil {
		t.Fatalf("list resources: %v", err)
	}
	tpls, err := f.client.ListResourceTemplates(ctx, &registryv1.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatalf("list templates: %v", err)
	}
	prompts, err := f.client.ListPrompts(ctx, &registryv1.ListPromptsRequest{})
	if err != nil {
		t.Fatalf("list prompts: %v", err)
	}
	return everything{res.GetResources(), tpls.GetResourceTemplates(), prompts.GetPrompts()}
}

func TestCatalogueKinds(t *testing.T) {
	f := startRegistry(t)
	none := ""
	f.register(t, startProvider(t, &testProvider{name: "b",
		resources: []*providerv1.Resource{resource("file:///b", "b")},
		templates: []*providerv1.ResourceTemplate{template("b://{x}", "bx")},
		prompts:   []*providerv1.Prompt{prompt("greet")}}), nil, 0)
	f.register(t, startProvider(t, &testProvider{name: "a",
		resources: []*providerv1.Resource{resource("file:///a", "a"), resource("a://z", "z")},
		templates: []*providerv1.ResourceTemplate{template("a://{x}/{y}", "axy")},
		prompts:   []*providerv1.Prompt{prompt("greet")}}), &none, 0)

	got := f.everything(t)
	wantRes := []*registryv1.CatalogResource{
		{Resource: resource("a://z", "z"), Provider: "a"},
		{Resource: resource("file:///a", "a"), Provider: "a"},
		{Resource: resource("file:///b", "b"), Provider: "b"},
	}
	if diff := cmp.Diff(wantRes, got.resources, protocmp.Transform()); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	wantTpls := []*registryv1.CatalogResourceTemplate{
		{Template: template("a://{x}/{y}", "axy"), Provider: "a"},
		{Template: template("b://{x}", "bx"), Provider: "b"},
	}
	if diff := cmp.Diff(wantTpls, got.templates, protocmp.Transform()); diff != "" {
		t.Errorf("templates (-want +got):\n%s", diff)
	}
	// The name member is replaced in place; every other byte stays.
	def := func(name string) string {
		return `{ "description": "d", "name" : "` + name +
			`", "arguments": [{"name": "x", "required": true}] }`
	}
	wantPrompts := []*registryv1.CatalogPrompt{
		{Prompt: &providerv1.Prompt{Name: "b__greet", DefinitionJson: def("b__greet")},
			Provider: "b", ProviderPromptName: "greet"},
		{Prompt: &providerv1.Prompt{Name: "greet", DefinitionJson: def("greet")},
			Provider: "a", ProviderPromptName: "greet"},
	}
	if diff := cmp.Diff(wantPrompts, got.prompts, protocmp.Transform()); diff != "" {
		t.Errorf("prompts (-want +got):\n%s", diff)
	}
}

func TestCollisionsEveryKind(t *testing.T) {
	x := "x"
	tests := []struct {
		name          string
		first, second *testProvider
		want          string
	}{
		{
			name: "resource URI",
			first: &testProvider{name: "a",
				resources: []*providerv1.Resource{resource("file:///r", "ra")}},
			second: &testProvider{name: "b", resources: []*providerv1.Resource{
				resource("file:///q", "q"), resource("file:///r", "rb")}},
			want: `resource URI "file:///r" from provider "b" (resource "rb") collides with ` +
				`"file:///r" from provider "a" (resource "ra")`,
		},
		{
			name: "resource template",
			first: &testProvider{name: "a",
				templates: []*providerv1.ResourceTemplate{template("t://{x}", "ta")}},
			second: &testProvider{name: "b",
				templates: []*providerv1.ResourceTemplate{template("t://{x}", "tb")}},
			want: `resource template "t://{x}" from provider "b" (template "tb") collides ` +
				`with "t://{x}" from provider "a" (template "ta")`,
		},
		{
			name:   "prompt under one prefix",
			first:  &testProvider{name: "a", prompts: []*providerv1.Prompt{prompt("p")}},
			second: &testProvider{name: "b", prompts: []*providerv1.Prompt{prompt("p")}},
			want: `prompt name "x__p" from provider "b" (prompt "p") collides with ` +
				`"x__p" from provider "a" (prompt "p")`,
		},
		{
			name:  "prompt refused though its tools are free",
			first: &testProvider{name: "a", prompts: []*providerv1.Prompt{prompt("p")}},
			second: &testProvider{name: "b", tools: tools("free"),
				prompts: []*providerv1.Prompt{prompt("p")}},
			want: `prompt name "x__p" from provider "b" (prompt "p") collides with ` +
				`"x__p" from provider "a" (prompt "p")`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startRegistry(t)
			f.register(t, startProvider(t, tc.first), &x, 0)
			before, tools := f.everything(t), f.listAll(t)
			rev, _ := f.store.Revision(t.Context())

			b := startProvider(t, tc.second)
			_, err := f.client.RegisterProvider(t.Context(), regReq(b.name, b.addr, &x, 0))
			wantCode(t, err, codes.FailedPrecondition)
			if got := status.Convert(err).Message(); got != tc.want {
				t.Errorf("message\n got %s\nwant %s", got, tc.want)
			}
			after := f.everything(t)
			opts := []cmp.Option{protocmp.Transform(), cmp.AllowUnexported(everything{})}
			if diff := cmp.Diff(before, after, opts...); diff != "" {
				t.Errorf("catalogue changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(tools, f.listAll(t), protocmp.Transform()); diff != "" {
				t.Errorf("tools changed (-before +after):\n%s", diff)
			}
			if now, _ := f.store.Revision(t.Context()); now != rev {
				t.Errorf("revision went from %d to %d", rev, now)
			}
		})
	}
}

func TestDescribeRefused(t *testing.T) {
	f := startRegistry(t)
	tests := []struct {
		name      string
		p         *testProvider
		fragments []string
	}{
		{"resource without uri", &testProvider{resources: []*providerv1.Resource{
			{Name: "r", DefinitionJson: "{}"}}}, []string{"resource 0", "uri: required"}},
		{"resource without name", &testProvider{resources: []*providerv1.Resource{
			{Uri: "u://", DefinitionJson: "{}"}}}, []string{"name: required"}},
		{"resource definition not an object", &testProvider{resources: []*providerv1.Resource{
			{Uri: "u://", Name: "r", DefinitionJson: "[]"}}}, []string{"definition_json"}},
		{"template without uri_template", &testProvider{
			templates: []*providerv1.ResourceTemplate{{Name: "t", DefinitionJson: "{}"}}},
			[]string{"uri_template: required"}},
		{"template definition missing", &testProvider{
			templates: []*providerv1.ResourceTemplate{{UriTemplate: "t://{x}", Name: "t"}}},
			[]string{"definition_json"}},
		{"prompt without name", &testProvider{prompts: []*providerv1.Prompt{
			{DefinitionJson: "{}"}}}, []string{"name: required"}},
		{"prompt definition not JSON", &testProvider{prompts: []*providerv1.Prompt{
			{Name: "p", DefinitionJson: "{"}}}, []string{"definition_json"}},
		{"duplicate resource", &testProvider{resources: []*providerv1.Resource{
			resource("u://a", "a"), resource("u://a", "b")}}, []string{`"u://a" appears twice`}},
		{"duplicate prompt", &testProvider{prompts: []*providerv1.Prompt{
			prompt("p"), prompt("p")}}, []string{`"bad__p" appears twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.name = "bad"
			p := startProvider(t, tc.p)
			_, err := f.client.RegisterProvider(t.Context(), regReq("bad", p.addr, nil, 0))
			wantCode(t, err, codes.InvalidArgument, tc.fragments...)
		})
	}
	if got := f.providers(t); len(got) != 0 {
		t.Errorf("refused registrations left providers %v", got)
	}
}

func TestPaginationKinds(t *testing.T) {
	f := startRegistry(t, func(c *Config) { c.DefaultPageSize = 2 })
	var res []*providerv1.Resource
	var want []string
	for i := range 5 {
		uri := fmt.Sprintf("r://%d", i)
		res = append(res, resource(uri, "r"))
		want = append(want, uri)
	}
	f.register(t, startProvider(t, &testProvider{name: "p", resources: res}), nil, 0)

	var got []string
	req := &registryv1.ListResourcesRequest{}
	for pages := 1; ; pages++ {
		resp, err := f.client.ListResources(t.Context(), req)
		if err != nil || len(resp.GetResources()) > 2 {
			t.Fatalf("page %d: %d resources, %v", pages, len(resp.GetResources()), err)
		}
		for _, r := range resp.GetResources() {
			got = append(got, r.GetResource().GetUri())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walked resources (-want +got):\n%s", diff)
	}
	_, err := f.client.ListPrompts(t.Context(), &registryv1.ListPromptsRequest{PageToken: "!"})
	wantCode(t, err, codes.InvalidArgument, "invalid cursor")
	_, err = f.client.ListResourceTemplates(t.Context(),
		&registryv1.ListResourceTemplatesRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "page_size")
}

func TestChangedKinds(t *testing.T) {
	f := startRegistry(t)
	p := &testProvider{name: "p", tools: tools("t"), prompts: []*providerv1.Prompt{prompt("q")}}
	sp := spec{name: "p", address: "127.0.0.1:1", prefix: "p"}
	steps := []struct {
		name string
		edit func()
		want Kinds
	}{
		{"first registration", func() {}, KindTools | KindPrompts},
		{"same catalogue", func() {}, 0},
		{"changed prompt", func() {
			p.prompts = []*providerv1.Prompt{{Name: "q", DefinitionJson: `{"title":"Q"}`}}
		}, KindPrompts},
		{"added resource", func() {
			p.resources = []*providerv1.Resource{resource("r://1", "r")}
		}, KindResources},
		{"dropped tool, added template", func() {
			p.tools = nil
			p.templates = []*providerv1.ResourceTemplate{template("r://{x}", "x")}
		}, KindTools | KindTemplates},
	}
	var lease string
	for _, step := range steps {
		step.edit()
		e, err := catalogue(sp, &providerv1.DescribeResponse{Tools: p.tools,
			Resources: p.resources, ResourceTemplates: p.templates, Prompts: p.prompts})
		if err != nil {
			t.Fatalf("%s: catalogue: %v", step.name, err)
		}
		e.LeaseID, e.TTL = step.name, f.cfg.DefaultLeaseTTL
		_, changes, err := f.store.Register(t.Context(), e)
		if err != nil || changes.Kinds != step.want {
			t.Errorf("%s: changed %04b, %v; want %04b", step.name, changes.Kinds, err, step.want)
		}
		lease = e.LeaseID
	}
	changes, err := f.store.Deregister(t.Context(), "p", lease)
	if want := KindResources | KindTemplates | KindPrompts; err != nil || changes.Kinds != want {
		t.Errorf("deregister: changed %04b, %v; want %04b", changes.Kinds, err, want)
	}
}

func TestRouting(t *testing.T) {
	f := startRegistry(t)
	none := ""
	a := startProvider(t, &testProvider{name: "a",
		resources: []*providerv1.Resource{resource("file:///etc/motd", "motd")},
		templates: []*providerv1.ResourceTemplate{
			template("file:///{name}", "file"), template("row://{table}/{id}", "row"),
			template("db://{table}/{id}", "dbrow")},
		prompts: []*providerv1.Prompt{prompt("greet")}})
	b := startProvider(t, &testProvider{name: "b",
		templates: []*providerv1.ResourceTemplate{template("db://{+path}", "deep")},
		prompts:   []*providerv1.Prompt{prompt("greet")}})
	broken := startProvider(t, &testProvider{name: "broken",
		resources: []*providerv1.Resource{resource("x://broken", "x")},
		prompts:   []*providerv1.Prompt{prompt("p")},
		fail:      status.Error(codes.InvalidArgument, `argument "x" is required`)})
	f.register(t, a, &none, 0)
	f.register(t, b, nil, 0)
	f.register(t, broken, nil, 0)
	ctx := t.Context()

	t.Run("read", func(t *testing.T) {
		tests := []struct{ uri, provider string }{
			{"file:///etc/motd", "a"}, // exact, though no template matches it
			{"file:///notes", "a"},    // file:///{name}
			{"row://users/7", "a"},    // row://{table}/{id}
			{"db://users/7", "b"},     // db://{+path} sorts before db://{table}/{id}
			{"db://users/7/name", "b"},
		}
		for _, tc := range tests {
			resp, err := f.client.ReadResource(ctx, &registryv1.ReadResourceRequest{Uri: tc.uri})
			want := `{"contents":[{"uri":` + jsonString(tc.uri) + `,"text":"` + tc.provider + `"}]}`
			if err != nil || resp.GetResultJson() != want {
				t.Errorf("read %s: %s, %v; want %s", tc.uri, resp.GetResultJson(), err, want)
			}
		}
		for _, uri := range []string{"file:///a/b", "nope://x", "file:///", "row://users"} {
			_, err := f.client.ReadResource(ctx, &registryv1.ReadResourceRequest{Uri: uri})
			wantCode(t, err, codes.NotFound, "unknown resource", uri)
		}
		_, err := f.client.ReadResource(ctx, &registryv1.ReadResourceRequest{Uri: "x://broken"})
		wantCode(t, err, codes.InvalidArgument, `argument "x" is required`)
		_, err = f.client.ReadResource(ctx, &registryv1.ReadResourceRequest{})
		wantCode(t, err, codes.InvalidArgument, "uri")
	})

	t.Run("prompt", func(t *testing.T) {
		for name, want := range map[string]string{"greet": "a:greet:{\"x\":1}",
			"b__greet": "b:greet:{\"x\":1}"} {
			resp, err := f.client.GetPrompt(ctx, &registryv1.GetPromptRequest{Name: name,
				ArgumentsJson: `{"x":1}`})
			wantJSON := `{"description":` + jsonString(want) + `,"messages":[]}`
			if err != nil || resp.GetResultJson() != wantJSON {
				t.Errorf("get %s: %s, %v; want %s", name, resp.GetResultJson(), err, wantJSON)
			}
		}
		_, err := f.client.GetPrompt(ctx, &registryv1.GetPromptRequest{Name: "a__greet"})
		wantCode(t, err, codes.NotFound, `unknown prompt "a__greet"`)
		_, err = f.client.GetPrompt(ctx, &registryv1.GetPromptRequest{Name: "broken__p"})
		wantCode(t, err, codes.InvalidArgument, `argument "x" is required`)
		_, err = f.client.GetPrompt(ctx, &registryv1.GetPromptRequest{Name: "greet",
			ArgumentsJson: "[]"})
		wantCode(t, err, codes.InvalidArgument, "arguments_json")
	})

	t.Run("complete", func(t *testing.T) {
		arg := `{"name":"x","value":"1"}`
		tests := []struct{ ref, provider, sent string }{
			{`{"type":"ref/prompt","name":"b__greet"}`, "b",
				`{"type":"ref/prompt","name":"greet"}`},
			{`{"name":"greet", "type":"ref/prompt"}`, "a", `{"name":"greet", "type":"ref/prompt"}`},
			{`{"type":"ref/resource","uri":"db://{+path}"}`, "b",
				`{"type":"ref/resource","uri":"db://{+path}"}`},
		}
		for _, tc := range tests {
			resp, err := f.client.Complete(ctx, &registryv1.CompleteRequest{RefJson: tc.ref,
				ArgumentJson: arg})
			want := `{"completion":{"values":["` + tc.provider + `",` + jsonString(tc.sent) +
				`,` + jsonString(arg) + `]}}`
			if err != nil || resp.GetResultJson() != want {
				t.Errorf("complete %s: %s, %v; want %s", tc.ref, resp.GetResultJson(), err, want)
			}
		}
		refused := []struct {
			ref  string
			code codes.Code
			frag string
		}{
			{`{"type":"ref/prompt","name":"nope"}`, codes.NotFound, `unknown prompt "nope"`},
			{`{"type":"ref/resource","uri":"db://users/7"}`, codes.NotFound,
				`unknown resource template "db://users/7"`},
			{`{"type":"ref/tool","name":"x"}`, codes.InvalidArgument, "ref/tool"},
			{`[]`, codes.InvalidArgument, "ref_json"},
		}
		for _, tc := range refused {
			_, err := f.client.Complete(ctx, &registryv1.CompleteRequest{RefJson: tc.ref,
				ArgumentJson: arg})
			wantCode(t, err, tc.code, tc.frag)
		}
	})
}

func TestTemplatePattern(t *testing.T) {
	tests := []struct {
		tpl, uri string
		want     bool
	}{
		{"file:///{name}", "file:///notes", true},
		{"file:///{name}", "file:///a/b", false},
		{"file:///{name}", "file:///", false},
		{"file:///{name}.txt", "file:///a.txt", true},
		{"a+b://{x}", "a+b://1", true},
		{"ab://{x}", "a+b://1", false},
		{"db://{table}/{id}", "db://t/1", true},
		{"db://{table}/{id}", "db://t/1?x", false},
		{"db://{+path}", "db://t/1/2", true},
		{"db://x{/segs}", "db://x/a/b", true},
		{"search{?q,lang}", "search?q=a&lang=b", true},
		{"broken://{x", "broken://{x", false},
		{"empty://{}", "empty://{}", false},
		{"plain://a", "plain://a", true},
	}
	var m uriMatcher
	for _, tc := range tests {
		if got := m.match(tc.tpl, tc.uri); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.tpl, tc.uri, got, tc.want)
		}
	}
}

func TestSetMember(t *testing.T) {
	tests := []struct{ obj, want string }{
		{`{"name":"a"}`, `{"name":"b"}`},
		{`{ "x": [1, {"name": "keep"}], "name" :  "a" , "y": 1.50 }`,
			`{ "x": [1, {"name": "keep"}], "name" :  "b" , "y": 1.50 }`},
		{`{"x":12345678901234567890}`, `{"name":"b","x":12345678901234567890}`},
		{`{ }`, `{"name":"b" }`},
		{`{"name":{"deep":[1,2]},"z":0}`, `{"name":"b","z":0}`},
	}
	for _, tc := range tests {
		got, err := setMember(tc.obj, "name", `"b"`)
		if err != nil || got != tc.want {
			t.Errorf("setMember(%s) = %s, %v; want %s", tc.obj, got, err, tc.want)
		}
	}
	if _, err := setMember(`[]`, "name", `"b"`); err == nil {
		t.Errorf("setMember of an array succeeded")
	}
}
