package conformance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/mcperr"
	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/conformance"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

func serve(t *testing.T) providerv1.ProviderServiceClient {
	t.Helper()
	p := provider.New("conformance", nil)
	conformance.Add(p)
	return providertest.Serve(t, p.Service())
}

func runCall(t *testing.T, c providerv1.ProviderServiceClient, start *providerv1.CallToolStart,
	answer providertest.Answerer) *providertest.Call {
	t.Helper()
	call, err := providertest.RunCall(t.Context(), c, start, answer)
	if err != nil {
		t.Fatalf("call %s: %v", start.GetName(), err)
	}
	return call
}

// toolName is the SEP-986 rule the tools-list scenario checks.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_./-]{1,64}$`)

// TestCatalogue checks that everything the scenarios use exists under
// the exact name, with the descriptions the list scenarios require.
func TestCatalogue(t *testing.T) {
	resp, err := serve(t).Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	var tools, resources, templates, prompts []string
	for _, tool := range resp.GetTools() {
		tools = append(tools, tool.GetName())
		if tool.GetDescription() == "" || !toolName.MatchString(tool.GetName()) {
			t.Errorf("tool %q: bad name or no description", tool.GetName())
		}
	}
	for _, r := range resp.GetResources() {
		resources = append(resources, r.GetUri())
		checkDescribed(t, r.GetDefinitionJson())
	}
	for _, r := range resp.GetResourceTemplates() {
		templates = append(templates, r.GetUriTemplate())
		checkDescribed(t, r.GetDefinitionJson())
	}
	for _, p := range resp.GetPrompts() {
		prompts = append(prompts, p.GetName())
		checkDescribed(t, p.GetDefinitionJson())
	}
	want := [][]string{{
		"confirm_delete", "failing_job", "greet", "json_schema_2020_12_tool", "multi_input",
		"protocol_error_job", "slow_compute", "test_audio_content", "test_elicitation",
		"test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums",
		"test_embedded_resource", "test_error_handling", "test_image_content",
		"test_input_required_result_capabilities", "test_input_required_result_elicitation",
		"test_input_required_result_list_roots", "test_input_required_result_multi_round",
		"test_input_required_result_multiple_inputs", "test_input_required_result_request_state",
		"test_input_required_result_sampling", "test_input_required_result_tampered_state",
		"test_logging_tool", "test_missing_capability", "test_multiple_content_types",
		"test_reconnection", "test_sampling", "test_simple_text", "test_streaming_elicitation",
		"test_tool_with_logging", "test_tool_with_progress", "test_tool_with_task",
		"test_trigger_prompt_change", "test_trigger_tool_change", "test_x_mcp_header",
	}, {
		"test://static-binary", "test://static-text", "test://watched-resource",
	}, {
		"test://template/{id}/data",
	}, {
		"test_input_required_result_prompt", "test_prompt_with_arguments",
		"test_prompt_with_embedded_resource", "test_prompt_with_image", "test_simple_prompt",
	}}
	if diff := cmp.Diff(want, [][]string{tools, resources, templates, prompts}); diff != "" {
		t.Errorf("catalogue (-want +got):\n%s", diff)
	}
}

func checkDescribed(t *testing.T, def string) {
	t.Helper()
	var d struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal([]byte(def), &d); err != nil || d.Name == "" || d.Description == "" {
		t.Errorf("definition %s lacks a name or description (%v)", def, err)
	}
}

type block struct {
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	Data     string          `json:"data,omitempty"`
	MIMEType string          `json:"mimeType,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
}

func blocks(t *testing.T, content string) []block {
	t.Helper()
	var out []block
	if err := json.Unmarshal([]byte(content), &out); err != nil {
		t.Fatalf("content %s: %v", content, err)
	}
	return out
}

// checkPNG checks that data is a base64 PNG a client can decode.
func checkPNG(t *testing.T, data string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("image data: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 1 {
		t.Errorf("image is not a 1x1 PNG: %v", err)
	}
}

func TestContentTools(t *testing.T) {
	c := serve(t)
	pixel := func(t *testing.T, b block) { t.Helper(); checkPNG(t, b.Data) }
	tests := []struct {
		tool    string
		isError bool
		want    []block // Data is checked by check instead
		check   func(t *testing.T, b []block)
	}{
		{tool: "test_simple_text", want: []block{
			{Type: "text", Text: "This is a simple text response for testing."},
		}},
		{tool: "test_error_handling", isError: true, want: []block{
			{Type: "text", Text: "This tool intentionally returns an error for testing"},
		}},
		{tool: "test_embedded_resource", want: []block{{Type: "resource", Resource: json.RawMessage(
			`{"uri":"test://embedded-resource","mimeType":"text/plain",` +
				`"text":"This is an embedded resource content."}`)}}},
		{tool: "test_image_content", want: []block{{Type: "image", MIMEType: "image/png"}},
			check: func(t *testing.T, b []block) { pixel(t, b[0]) }},
		{tool: "test_audio_content", want: []block{{Type: "audio", MIMEType: "audio/wav"}},
			check: func(t *testing.T, b []block) {
				raw, err := base64.StdEncoding.DecodeString(b[0].Data)
				if err != nil || !bytes.HasPrefix(raw, []byte("RIFF")) ||
					!bytes.Equal(raw[8:12], []byte("WAVE")) {
					t.Errorf("audio is not a WAV file: %q, %v", raw, err)
				}
			}},
		{tool: "test_multiple_content_types", want: []block{
			{Type: "text", Text: "Multiple content types test:"},
			{Type: "image", MIMEType: "image/png"},
			{Type: "resource", Resource: json.RawMessage(`{"uri":"test://mixed-content-resource",` +
				`"mimeType":"application/json","text":"{\"test\":\"data\",\"value\":123}"}`)},
		}, check: func(t *testing.T, b []block) { pixel(t, b[1]) }},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			// The scenarios call some tools with no arguments at all.
			call := runCall(t, c, &providerv1.CallToolStart{Name: tt.tool}, nil)
			got := blocks(t, call.Result.GetContentJson())
			if call.Result.GetIsError() != tt.isError || len(call.Messages) > 0 {
				t.Errorf("isError = %v after %d messages, want %v and none",
					call.Result.GetIsError(), len(call.Messages), tt.isError)
			}
			if tt.check != nil && len(got) == len(tt.want) {
				tt.check(t, got)
			}
			for i := range got {
				got[i].Data = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressTool(t *testing.T) {
	c := serve(t)
	tests := []struct {
		token    string
		wantText string
	}{
		{`"progress-test-1"`, "progress-test-1"},
		{`98765432109876543210`, "98765432109876543210"},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			call := runCall(t, c, &providerv1.CallToolStart{
				Name: "test_tool_with_progress", ArgumentsJson: "{}",
				MetaJson: `{"progressToken":` + tt.token + `}`,
			}, nil)
			var got []string
			for _, n := range call.Notifications("notifications/progress") {
				got = append(got, n.GetParamsJson())
			}
			var want []string
			for _, step := range []string{"0", "50", "100"} {
				want = append(want, `{"progressToken":`+tt.token+`,"progress":`+step+
					`,"total":100,"message":"Completed step `+step+` of 100"}`)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]block{{Type: "text", Text: tt.wantText}},
				blocks(t, call.Result.GetContentJson())); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
	call := runCall(t, c, &providerv1.CallToolStart{Name: "test_tool_with_progress"}, nil)
	if len(call.Messages) != 0 || call.Result.GetIsError() {
		t.Errorf("without a token: %d messages, result %v; want none and success",
			len(call.Messages), call.Result)
	}
}

func TestLoggingTool(t *testing.T) {
	call := runCall(t, serve(t), &providerv1.CallToolStart{Name: "test_tool_with_logging"}, nil)
	var got []string
	for _, n := range call.Notifications("notifications/message") {
		got = append(got, n.GetParamsJson())
	}
	want := []string{
		`{"level":"info","data":"Tool execution started"}`,
		`{"level":"info","data":"Tool processing data"}`,
		`{"level":"info","data":"Tool execution completed"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log messages (-want +got):\n%s", diff)
	}
}

func TestSamplingTool(t *testing.T) {
	c := serve(t)
	start := &providerv1.CallToolStart{
		Name: "test_sampling", ArgumentsJson: `{"prompt":"Test prompt for sampling"}`,
	}
	// The scenario's client answers like this.
	call := runCall(t, c, start, func(r *providerv1.ClientRequest) *providerv1.ClientResponse {
		return &providerv1.ClientResponse{Id: r.GetId(), ResultJson: `{"role":"assistant",` +
			`"content":{"type":"text","text":"This is a test response from the client"},` +
			`"model":"test-model","stopReason":"endTurn"}`}
	})
	wantReq := []*providerv1.ClientRequest{{
		Id: 1, Method: "sampling/createMessage",
		ParamsJson: `{"messages":[{"role":"user","content":{"type":"text",` +
			`"text":"Test prompt for sampling"}}],"maxTokens":100}`,
	}}
	if diff := cmp.Diff(wantReq, call.Requests(), protocmp.Transform()); diff != "" {
		t.Errorf("sampling request (-want +got):\n%s", diff)
	}
	wantText := []block{{Type: "text", Text: "LLM response: This is a test response from the client"}}
	if diff := cmp.Diff(wantText, blocks(t, call.Result.GetContentJson())); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	// A client without sampling gets a tool error, as the scenario asks.
	call = runCall(t, c, start, func(r *providerv1.ClientRequest) *providerv1.ClientResponse {
		return &providerv1.ClientResponse{Id: r.GetId(),
			ErrorJson: `{"code":-32603,"message":"client does not support sampling"}`}
	})
	if !call.Result.GetIsError() ||
		!strings.Contains(call.Result.GetContentJson(), "does not support") {
		t.Errorf("without sampling: %v, want a tool error", call.Result)
	}
}

// TestElicitationTools answers as the scenarios' clients do and checks
// the schemas the scenarios inspect.
func TestElicitationTools(t *testing.T) {
	c := serve(t)
	tests := []struct {
		tool, args, answer string
		check              func(t *testing.T, props map[string]map[string]any)
		wantText           string
	}{{
		tool: "test_elicitation", args: `{"message":"Please provide your information"}`,
		answer: `{"action":"accept","content":{"username":"testuser","email":"test@example.com"}}`,
		check: func(t *testing.T, props map[string]map[string]any) {
			for _, name := range []string{"username", "email"} {
				if props[name]["type"] != "string" {
					t.Errorf("%s: %v, want a string", name, props[name])
				}
			}
		},
		wantText: `User response: action=accept, ` +
			`content={"username":"testuser","email":"test@example.com"}`,
	}, {
		tool:   "test_elicitation_sep1034_defaults",
		answer: `{"action":"decline"}`,
		check: func(t *testing.T, props map[string]map[string]any) {
			want := map[string][2]any{
				"name": {"string", "John Doe"}, "age": {"integer", 30.0}, "score": {"number", 95.5},
				"status": {"string", "active"}, "verified": {"boolean", true},
			}
			for name, w := range want {
				if props[name]["type"] != w[0] || props[name]["default"] != w[1] {
					t.Errorf("%s: %v, want type %v default %v", name, props[name], w[0], w[1])
				}
			}
			if !slices.Contains(props["status"]["enum"].([]any), any("active")) {
				t.Errorf("status default is not an enum member: %v", props["status"])
			}
		},
		wantText: `Elicitation completed: action=decline, content={}`,
	}, {
		tool:   "test_elicitation_sep1330_enums",
		answer: `{"action":"accept","content":{"untitledMulti":["option1","option2"]}}`,
		check:  checkEnums,
		wantText: `Elicitation completed: action=accept, ` +
			`content={"untitledMulti":["option1","option2"]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			start := &providerv1.CallToolStart{Name: tt.tool, ArgumentsJson: tt.args}
			call := runCall(t, c, start, func(r *providerv1.ClientRequest) *providerv1.ClientResponse {
				return &providerv1.ClientResponse{Id: r.GetId(), ResultJson: tt.answer}
			})
			reqs := call.Requests()
			if len(reqs) != 1 || reqs[0].GetMethod() != "elicitation/create" {
				t.Fatalf("requests = %v, want one elicitation/create", reqs)
			}
			var params struct {
				Message         string `json:"message"`
				RequestedSchema struct {
					Type       string                    `json:"type"`
					Properties map[string]map[string]any `json:"properties"`
				} `json:"requestedSchema"`
			}
			if err := json.Unmarshal([]byte(reqs[0].GetParamsJson()), &params); err != nil ||
				params.Message == "" || params.RequestedSchema.Type != "object" {
				t.Fatalf("params %s: %v", reqs[0].GetParamsJson(), err)
			}
			tt.check(t, params.RequestedSchema.Properties)
			if diff := cmp.Diff([]block{{Type: "text", Text: tt.wantText}},
				blocks(t, call.Result.GetContentJson())); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// checkEnums checks the five enum forms as the SEP-1330 scenario does.
func checkEnums(t *testing.T, props map[string]map[string]any) {
	t.Helper()
	hasTitledItems := func(v any) bool {
		items, _ := v.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if _, ok := m["const"].(string); !ok {
				return false
			}
			if _, ok := m["title"].(string); !ok {
				return false
			}
		}
		return len(items) > 0
	}
	item := func(name string) map[string]any {
		m, _ := props[name]["items"].(map[string]any)
		return m
	}
	checks := map[string]bool{
		"untitledSingle": props["untitledSingle"]["type"] == "string" &&
			props["untitledSingle"]["enum"] != nil && props["untitledSingle"]["oneOf"] == nil,
		"titledSingle": props["titledSingle"]["type"] == "string" &&
			hasTitledItems(props["titledSingle"]["oneOf"]) && props["titledSingle"]["enum"] == nil,
		"legacyEnum": len(props["legacyEnum"]["enum"].([]any)) == 3 &&
			len(props["legacyEnum"]["enumNames"].([]any)) == 3,
		"untitledMulti": props["untitledMulti"]["type"] == "array" &&
			item("untitledMulti")["type"] == "string" && item("untitledMulti")["enum"] != nil &&
			item("untitledMulti")["anyOf"] == nil,
		"titledMulti": props["titledMulti"]["type"] == "array" &&
			hasTitledItems(item("titledMulti")["anyOf"]) && item("titledMulti")["enum"] == nil,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: %v does not have the SEP-1330 form", name, props[name])
		}
	}
}

func TestReconnectionTool(t *testing.T) {
	call := runCall(t, serve(t), &providerv1.CallToolStart{Name: "test_reconnection"}, nil)
	want := []*providerv1.CallToolResponse{{Message: &providerv1.CallToolResponse_CloseStream{
		CloseStream: &providerv1.CloseStream{RetryMs: 10},
	}}}
	if diff := cmp.Diff(want, call.Messages, protocmp.Transform()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if !strings.Contains(call.Result.GetContentJson(), "Reconnection test completed successfully") {
		t.Errorf("result = %v", call.Result)
	}
}

// TestJSONSchema2020 checks the schema the json-schema-2020-12 scenario
// inspects, and that the provider validates calls against it.
func TestJSONSchema2020(t *testing.T) {
	c := serve(t)
	resp, err := c.Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	i := slices.IndexFunc(resp.GetTools(), func(t *providerv1.Tool) bool {
		return t.GetName() == "json_schema_2020_12_tool"
	})
	var schema map[string]any
	if err := json.Unmarshal([]byte(resp.GetTools()[i].GetInputSchemaJson()), &schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	address := schema["$defs"].(map[string]any)["address"].(map[string]any)
	got := []any{schema["$schema"], schema["additionalProperties"], address["$anchor"],
		schema["allOf"].([]any)[0].(map[string]any)["anyOf"] != nil,
		schema["if"] != nil && schema["then"] != nil && schema["else"] != nil}
	want := []any{"https://json-schema.org/draft/2020-12/schema", false, "addressDef", true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema keywords (-want +got):\n%s", diff)
	}

	call := runCall(t, c, &providerv1.CallToolStart{
		Name: "json_schema_2020_12_tool", ArgumentsJson: `{"name":"Ada","email":"a@example.com"}`,
	}, nil)
	if !strings.Contains(call.Result.GetContentJson(), `called with: {\"name\":\"Ada\"`) {
		t.Errorf("result = %v", call.Result)
	}
	_, err = providertest.RunCall(t.Context(), c, &providerv1.CallToolStart{
		Name: "json_schema_2020_12_tool", ArgumentsJson: `{"name":"Ada"}`,
	}, nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("call without phone or email: %v, want InvalidArgument", err)
	}
}

func TestResources(t *testing.T) {
	c := serve(t)
	tests := []struct {
		uri  string
		want string
	}{
		{"test://static-text", `{"contents":[{"uri":"test://static-text","mimeType":"text/plain",` +
			`"text":"This is the content of the static text resource."}]}`},
		{"test://watched-resource", `{"contents":[{"uri":"test://watched-resource",` +
			`"mimeType":"text/plain","text":"Watched resource content"}]}`},
		{"test://template/123/data", `{"contents":[{"uri":"test://template/123/data",` +
			`"mimeType":"application/json",` +
			`"text":"{\"id\":\"123\",\"templateTest\":true,\"data\":\"Data for ID: 123\"}"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			resp, err := c.ReadResource(t.Context(), &providerv1.ReadResourceRequest{Uri: tt.uri})
			if err != nil {
				t.Fatalf("ReadResource: %v", err)
			}
			if diff := cmp.Diff(tt.want, resp.GetResultJson()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}

	resp, err := c.ReadResource(t.Context(),
		&providerv1.ReadResourceRequest{Uri: "test://static-binary"})
	if err != nil {
		t.Fatalf("read binary: %v", err)
	}
	var bin struct {
		Contents []struct{ URI, MIMEType, Blob string } `json:"contents"`
	}
	err = json.Unmarshal([]byte(resp.GetResultJson()), &bin)
	if err != nil || len(bin.Contents) != 1 || bin.Contents[0].URI != "test://static-binary" ||
		bin.Contents[0].MIMEType != "image/png" {
		t.Fatalf("binary result %s: %v", resp.GetResultJson(), err)
	}
	checkPNG(t, bin.Contents[0].Blob)

	_, err = c.ReadResource(t.Context(), &providerv1.ReadResourceRequest{
		Uri: "test://nonexistent-resource-for-conformance-testing",
	})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown resource: %v, want NotFound", err)
	}
}

func TestPrompts(t *testing.T) {
	c := serve(t)
	tests := []struct {
		name, args string
		check      func(t *testing.T, msgs []message)
	}{
		{"test_simple_prompt", "", func(t *testing.T, msgs []message) {
			wantMessages(t, msgs, `[{"role":"user","content":{"type":"text",`+
				`"text":"This is a simple prompt for testing."}}]`)
		}},
		{"test_prompt_with_arguments", `{"arg1":"testValue1","arg2":"testValue2"}`,
			func(t *testing.T, msgs []message) {
				wantMessages(t, msgs, `[{"role":"user","content":{"type":"text",`+
					`"text":"Prompt with arguments: arg1='testValue1', arg2='testValue2'"}}]`)
			}},
		{"test_prompt_with_embedded_resource", `{"resourceUri":"test://example-resource"}`,
			func(t *testing.T, msgs []message) {
				wantMessages(t, msgs, `[{"role":"user","content":{"type":"resource","resource":`+
					`{"uri":"test://example-resource","mimeType":"text/plain",`+
					`"text":"Embedded resource content for testing."}}},`+
					`{"role":"user","content":{"type":"text",`+
					`"text":"Please process the embedded resource above."}}]`)
			}},
		{"test_prompt_with_image", "", func(t *testing.T, msgs []message) {
			var img block
			if len(msgs) != 2 || json.Unmarshal(msgs[0].Content, &img) != nil ||
				img.Type != "image" || img.MIMEType != "image/png" {
				t.Fatalf("messages = %v, want an image then text", msgs)
			}
			checkPNG(t, img.Data)
			wantMessages(t, msgs[1:], `[{"role":"user","content":{"type":"text",`+
				`"text":"Please analyze the image above."}}]`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
				Name: tt.name, ArgumentsJson: tt.args,
			})
			if err != nil {
				t.Fatalf("GetPrompt: %v", err)
			}
			var res struct {
				Messages []message `json:"messages"`
			}
			if err := json.Unmarshal([]byte(resp.GetResultJson()), &res); err != nil {
				t.Fatalf("result %s: %v", resp.GetResultJson(), err)
			}
			tt.check(t, res.Messages)
		})
	}
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func wantMessages(t *testing.T, got []message, want string) {
	t.Helper()
	b, _ := json.Marshal(got)
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestCompletions(t *testing.T) {
	c := serve(t)
	const prompt = `{"type":"ref/prompt","name":"test_prompt_with_arguments"}`
	tests := []struct {
		ref, arg, want string
	}{
		// The completion-complete scenario's request.
		{prompt, `{"name":"arg1","value":"test"}`, `{"completion":{"values":[]}}`},
		{prompt, `{"name":"arg2","value":"Par"}`,
			`{"completion":{"values":["paris","park","party"],"total":3}}`},
		{`{"type":"ref/resource","uri":"test://template/{id}/data"}`, `{"name":"id","value":"12"}`,
			`{"completion":{"values":["123"],"total":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			resp, err := c.Complete(t.Context(), &providerv1.CompleteRequest{
				RefJson: tt.ref, ArgumentJson: tt.arg,
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

func TestWatch(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := provider.New("conformance", nil)
	conformance.Add(p)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, provider.RunOptions{ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr})
	}()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		conformance.Watch(ctx, p, 5*time.Millisecond)
	}()
	reg.Await(t, "conformance", func(r providertest.Record) bool {
		return len(r.Updated) >= 2 && r.Updated[0] == conformance.WatchedResourceURI
	})
	cancel()
	<-watched
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// answerFunc answers one request to the client, as a client would.
type answerFunc func(*providerv1.ClientRequest) *providerv1.ClientResponse

// converse runs a call the way a gateway serving a 2026-07-28 client sees
// it: the requests pending together make a round, answered together once
// sizes[i] of them are pending. It returns each round's requests and the
// result, or the call's gRPC error.
func converse(t *testing.T, c providerv1.ProviderServiceClient, start *providerv1.CallToolStart,
	sizes []int, answer answerFunc) ([][]*providerv1.ClientRequest, *providerv1.ToolResult, error) {
	t.Helper()
	// A tool waiting for a round that never fills would hang the test.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := c.CallTool(ctx)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	send := func(m *providerv1.CallToolRequest) {
		if err := stream.Send(m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{Start: start}})
	var rounds [][]*providerv1.ClientRequest
	var pending []*providerv1.ClientRequest
	for {
		resp, err := stream.Recv()
		if err != nil {
			return rounds, nil, err
		}
		if res := resp.GetResult(); res != nil {
			if len(pending) > 0 {
				t.Errorf("result with %d requests unanswered", len(pending))
			}
			return rounds, res, nil
		}
		q := resp.GetRequest()
		if q == nil {
			continue
		}
		if len(rounds) == len(sizes) {
			t.Fatalf("request %v after the %d rounds expected", q, len(sizes))
		}
		if pending = append(pending, q); len(pending) < sizes[len(rounds)] {
			continue
		}
		for _, q := range pending {
			send(&providerv1.CallToolRequest{
				Message: &providerv1.CallToolRequest_Response{Response: answer(q)},
			})
		}
		rounds, pending = append(rounds, pending), nil
	}
}

// Answers as the scenarios' clients give them.
const (
	nameAlice = `{"action":"accept","content":{"name":"Alice"}}`
	paris     = `{"role":"assistant","content":{"type":"text",` +
		`"text":"The capital of France is Paris."},"model":"test-model","stopReason":"endTurn"}`
	testRoots   = `{"roots":[{"uri":"file:///test/root","name":"Test Root"}]}`
	noSampling  = `{"code":-32603,"message":"client does not support sampling"}`
	confirmTrue = `{"action":"accept","content":{"confirm":true}}`
)

// byMethod answers each method with the result given for it; a value
// that is a JSON-RPC error object (it has a code) is sent as an error.
func byMethod(answers map[string]string) answerFunc {
	return func(q *providerv1.ClientRequest) *providerv1.ClientResponse {
		a := answers[q.GetMethod()]
		if strings.HasPrefix(a, `{"code":`) {
			return &providerv1.ClientResponse{Id: q.GetId(), ErrorJson: a}
		}
		return &providerv1.ClientResponse{Id: q.GetId(), ResultJson: a}
	}
}

// inTurn answers the requests with the results in turn.
func inTurn(results ...string) answerFunc {
	var mu sync.Mutex
	return func(q *providerv1.ClientRequest) *providerv1.ClientResponse {
		mu.Lock()
		defer mu.Unlock()
		r := results[0]
		results = results[1:]
		return &providerv1.ClientResponse{Id: q.GetId(), ResultJson: r}
	}
}

var (
	elicitOnly  = map[string]string{"elicitation/create": nameAlice}
	allAnswered = map[string]string{"elicitation/create": nameAlice,
		"sampling/createMessage": paris, "roots/list": testRoots}
)

// conversation is a call, how the client answers it and what it must
// see: the methods asked in each round (sorted) and the result.
type conversation struct {
	name, tool, args, caps string
	rounds                 []int
	answer                 answerFunc
	wantMethods            [][]string
	// wantKeys, when set, are the keys of each round's requests (sorted).
	wantKeys  [][]string
	wantText  string
	wantError bool
	// wantParams, when set, is the first request's params.
	wantParams string
}

func (tt conversation) run(t *testing.T, c providerv1.ProviderServiceClient) {
	t.Helper()
	rounds, res, err := converse(t, c, &providerv1.CallToolStart{
		Name: tt.tool, ArgumentsJson: tt.args, ClientCapabilitiesJson: tt.caps,
	}, tt.rounds, tt.answer)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var methods [][]string
	for _, r := range rounds {
		var m []string
		for _, q := range r {
			m = append(m, q.GetMethod())
		}
		slices.Sort(m)
		methods = append(methods, m)
	}
	if diff := cmp.Diff(tt.wantMethods, methods); diff != "" {
		t.Errorf("methods per round (-want +got):\n%s", diff)
	}
	if tt.wantKeys != nil {
		var keys [][]string
		for _, r := range rounds {
			var k []string
			for _, q := range r {
				k = append(k, q.GetKey())
			}
			slices.Sort(k)
			keys = append(keys, k)
		}
		if diff := cmp.Diff(tt.wantKeys, keys); diff != "" {
			t.Errorf("keys per round (-want +got):\n%s", diff)
		}
	}
	if tt.wantParams != "" && len(rounds) > 0 {
		if diff := cmp.Diff(tt.wantParams, rounds[0][0].GetParamsJson()); diff != "" {
			t.Errorf("first request's params (-want +got):\n%s", diff)
		}
	}
	if res.GetIsError() != tt.wantError {
		t.Errorf("isError = %v, want %v: %s", res.GetIsError(), tt.wantError,
			res.GetContentJson())
	}
	if tt.wantText != "" {
		if diff := cmp.Diff([]block{{Type: "text", Text: tt.wantText}},
			blocks(t, res.GetContentJson())); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	}
}

func wantEach(methods ...string) [][]string {
	out := make([][]string, len(methods))
	for i, m := range methods {
		out[i] = []string{m}
	}
	return out
}

// TestInputTools answers the input-required tools as the scenarios'
// clients do, and checks that questions asked at once come in one round.
func TestInputTools(t *testing.T) {
	c := serve(t)
	const allCaps = `{"elicitation":{},"sampling":{},"roots":{}}`
	tests := []conversation{{
		name: "elicitation", tool: "test_input_required_result_elicitation",
		rounds: []int{1}, answer: byMethod(elicitOnly),
		wantMethods: wantEach("elicitation/create"), wantText: "Hello, Alice!",
		wantKeys: wantEach("user_name"),
		wantParams: `{"message":"What is your name?","requestedSchema":{"type":"object",` +
			`"properties":{"name":{"type":"string"}},"required":["name"]}}`,
	}, {
		// Answers it cannot use are asked again (missing-input-response,
		// validate-input).
		name: "elicitation asked again", tool: "test_input_required_result_elicitation",
		rounds: []int{1, 1, 1},
		answer: inTurn(`12345`, `{"action":"accept","content":{"other":"x"}}`,
			`{"action":"accept","content":{"name":"Bob"}}`),
		wantMethods: wantEach("elicitation/create", "elicitation/create", "elicitation/create"),
		wantKeys:    wantEach("user_name", "user_name_2", "user_name_3"),
		wantText:    "Hello, Bob!",
	}, {
		name: "elicitation never usable", tool: "test_input_required_result_elicitation",
		rounds: []int{1, 1, 1}, answer: inTurn(`null`, `{}`, `{"action":"accept"}`),
		wantMethods: wantEach("elicitation/create", "elicitation/create", "elicitation/create"),
		wantError:   true,
	}, {
		name: "elicitation declined", tool: "test_input_required_result_elicitation",
		rounds: []int{1}, answer: inTurn(`{"action":"decline"}`),
		wantMethods: wantEach("elicitation/create"), wantText: "No name was given.",
	}, {
		name: "sampling", tool: "test_input_required_result_sampling",
		rounds: []int{1}, answer: byMethod(allAnswered),
		wantMethods: wantEach("sampling/createMessage"),
		wantKeys:    wantEach("capital_question"),
		wantText:    "Sampling response: The capital of France is Paris.",
		wantParams: `{"messages":[{"role":"user","content":{"type":"text",` +
			`"text":"What is the capital of France?"}}],"maxTokens":100}`,
	}, {
		name: "list roots", tool: "test_input_required_result_list_roots",
		rounds: []int{1}, answer: byMethod(allAnswered), wantMethods: wantEach("roots/list"),
		wantKeys: wantEach("client_roots"),
		wantText: "Client exposed 1 root(s): file:///test/root", wantParams: `{}`,
	}, {
		name: "request state", tool: "test_input_required_result_request_state",
		rounds: []int{1}, answer: inTurn(`{"action":"accept","content":{"ok":true}}`),
		wantMethods: wantEach("elicitation/create"), wantKeys: wantEach("confirm"),
		wantText: "state-ok: confirmation answered (accepted=true, ok=true)",
		wantParams: `{"message":"Please confirm","requestedSchema":{"type":"object",` +
			`"properties":{"ok":{"type":"boolean"}},"required":["ok"]}}`,
	}, {
		name: "tampered state", tool: "test_input_required_result_tampered_state",
		rounds: []int{1}, answer: inTurn(`{"action":"accept","content":{"ok":true}}`),
		wantMethods: wantEach("elicitation/create"),
		wantText:    "state-ok: confirmation answered (accepted=true, ok=true)",
	}, {
		name: "multiple inputs", tool: "test_input_required_result_multiple_inputs",
		rounds: []int{3}, answer: byMethod(allAnswered),
		wantMethods: [][]string{{"elicitation/create", "roots/list", "sampling/createMessage"}},
		wantKeys:    [][]string{{"client_roots", "greeting", "user_name"}},
		wantText:    "The capital of France is Paris. Alice: 1 root(s) visible",
	}, {
		name: "multiple inputs, one refused", tool: "test_input_required_result_multiple_inputs",
		rounds: []int{3}, answer: byMethod(map[string]string{"elicitation/create": nameAlice,
			"sampling/createMessage": noSampling, "roots/list": testRoots}),
		wantMethods: [][]string{{"elicitation/create", "roots/list", "sampling/createMessage"}},
		wantError:   true,
	}, {
		name: "multi round", tool: "test_input_required_result_multi_round",
		rounds:      []int{1, 1},
		answer:      inTurn(nameAlice, `{"action":"accept","content":{"color":"blue"}}`),
		wantMethods: wantEach("elicitation/create", "elicitation/create"),
		wantKeys:    wantEach("step1", "step2"),
		wantText:    "Multi-round complete: Alice likes blue",
		wantParams: `{"message":"Step 1: What is your name?","requestedSchema":` +
			`{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}`,
	}, {
		// The capability-check scenario's client declares sampling only.
		name: "capabilities: sampling", tool: "test_input_required_result_capabilities",
		caps: `{"sampling":{}}`, rounds: []int{1}, answer: byMethod(allAnswered),
		wantMethods: wantEach("sampling/createMessage"),
		wantText:    "Capability-aware input requests fulfilled: sampling",
	}, {
		name: "capabilities: all", tool: "test_input_required_result_capabilities",
		caps: allCaps, rounds: []int{3}, answer: byMethod(allAnswered),
		wantMethods: [][]string{{"elicitation/create", "roots/list", "sampling/createMessage"}},
		wantText:    "Capability-aware input requests fulfilled: elicitation, sampling, roots",
	}, {
		name: "capabilities: none", tool: "test_input_required_result_capabilities",
		caps: `{}`, wantText: "No declared client capability supports an input request",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, c) })
	}
}

// TestStatelessTools checks the diagnostic tools of the server-stateless
// scenario and the custom-header tool.
func TestStatelessTools(t *testing.T) {
	c := serve(t)
	tests := []conversation{{
		name: "missing capability", tool: "test_missing_capability",
		rounds: []int{1}, answer: byMethod(allAnswered),
		wantMethods: wantEach("sampling/createMessage"),
		wantText:    "LLM response: The capital of France is Paris.",
	}, {
		// The tool asks even so; refusing is up to the gateway.
		name: "missing capability refused", tool: "test_missing_capability",
		caps: `{}`, rounds: []int{1},
		answer:      byMethod(map[string]string{"sampling/createMessage": noSampling}),
		wantMethods: wantEach("sampling/createMessage"), wantError: true,
	}, {
		name: "streaming elicitation", tool: "test_streaming_elicitation",
		rounds: []int{1}, answer: inTurn(confirmTrue),
		wantMethods: wantEach("elicitation/create"),
		wantText:    "Continued after the user's confirmation.",
	}, {
		name: "streaming elicitation declined", tool: "test_streaming_elicitation",
		rounds: []int{1}, answer: inTurn(`{"action":"cancel"}`),
		wantMethods: wantEach("elicitation/create"), wantText: "Stopped at the user's request.",
	}, {
		name: "x-mcp-header", tool: "test_x_mcp_header", args: `{"region":"Hello","level":2}`,
		wantText: "region=Hello",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, c) })
	}

	call := runCall(t, c, &providerv1.CallToolStart{Name: "test_logging_tool"}, nil)
	var logs []string
	for _, n := range call.Notifications("notifications/message") {
		logs = append(logs, n.GetParamsJson())
	}
	want := []string{`{"level":"info","data":"test_logging_tool executed"}`}
	if diff := cmp.Diff(want, logs); diff != "" || call.Result.GetIsError() {
		t.Errorf("test_logging_tool: result %v, logs (-want +got):\n%s", call.Result, diff)
	}
}

// TestDeclarations checks what the 2026-07-28 scenarios read from
// tools/list: task support, and the x-mcp-header annotation.
func TestDeclarations(t *testing.T) {
	resp, err := serve(t).Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	got := map[string]string{}
	var header map[string]any
	for _, tool := range resp.GetTools() {
		if e := tool.GetExecutionJson(); e != "" {
			got[tool.GetName()] = e
		}
		if tool.GetName() == "test_x_mcp_header" {
			var s struct {
				Properties map[string]map[string]any `json:"properties"`
			}
			json.Unmarshal([]byte(tool.GetInputSchemaJson()), &s)
			header = s.Properties["region"]
		}
	}
	optional, required := `{"taskSupport":"optional"}`, `{"taskSupport":"required"}`
	want := map[string]string{
		"slow_compute": optional, "failing_job": required, "protocol_error_job": optional,
		"confirm_delete": optional, "multi_input": optional, "test_tool_with_task": required,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("execution (-want +got):\n%s", diff)
	}
	// The custom-header scenario needs a string property naming a header.
	if header["type"] != "string" || header["x-mcp-header"] != "Region" {
		t.Errorf("region property = %v, want a string with x-mcp-header Region", header)
	}
}

// TestTaskTools runs the tools of the tasks extension scenarios as plain
// calls: whether they run as tasks is the gateway's business.
func TestTaskTools(t *testing.T) {
	c := serve(t)
	tests := []conversation{{
		name: "greet", tool: "greet", args: `{"name":"World"}`, wantText: "Hello, World!",
	}, {
		name: "slow_compute instant", tool: "slow_compute",
		args: `{"seconds":0,"label":"instant"}`, wantText: `Computed "instant" in 0s`,
	}, {
		name: "slow_compute", tool: "slow_compute",
		args: `{"seconds":0.05,"label":"short"}`, wantText: `Computed "short" in 0.05s`,
	}, {
		name: "failing_job", tool: "failing_job",
		wantText: "failing_job failed on purpose", wantError: true,
	}, {
		name: "confirm_delete", tool: "confirm_delete", args: `{"filename":"rt.txt"}`,
		rounds: []int{1}, answer: inTurn(confirmTrue),
		wantMethods: wantEach("elicitation/create"), wantText: "Deleted rt.txt",
		wantParams: `{"message":"Delete rt.txt?","requestedSchema":{"type":"object",` +
			`"properties":{"confirm":{"type":"boolean"}},"required":["confirm"]}}`,
	}, {
		name: "confirm_delete declined", tool: "confirm_delete", args: `{"filename":"rt.txt"}`,
		rounds: []int{1}, answer: inTurn(`{"action":"decline"}`),
		wantMethods: wantEach("elicitation/create"), wantText: "Kept rt.txt",
	}, {
		// The partial-fulfillment check answers both questions alike.
		name: "multi_input", tool: "multi_input", rounds: []int{2},
		answer: inTurn(`{"action":"accept","content":{"name":"partial-1","confirm":true}}`,
			`{"action":"accept","content":{"name":"partial-2","confirm":true}}`),
		wantMethods: [][]string{{"elicitation/create", "elicitation/create"}},
	}, {
		name: "test_tool_with_task", tool: "test_tool_with_task",
		rounds: []int{1}, answer: byMethod(elicitOnly),
		wantMethods: wantEach("elicitation/create"), wantText: "Hello, Alice!",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, c) })
	}

	_, err := providertest.RunCall(t.Context(), c,
		&providerv1.CallToolStart{Name: "protocol_error_job"}, nil)
	if e, ok := mcperr.From(err); !ok || e.Code != -32603 {
		t.Errorf("protocol_error_job: %v, want the MCP error -32603", err)
	}
	for _, tt := range []struct{ tool, args string }{
		{"confirm_delete", `{}`},
		{"slow_compute", `{"seconds":-1}`},
	} {
		_, err := providertest.RunCall(t.Context(), c,
			&providerv1.CallToolStart{Name: tt.tool, ArgumentsJson: tt.args}, nil)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s(%s): %v, want InvalidArgument", tt.tool, tt.args, err)
		}
	}
}

// TestSlowComputeCancel cancels slow_compute once it reports progress:
// the call ends cancelled, not with a result, so that a cancelled task
// settles as cancelled.
func TestSlowComputeCancel(t *testing.T) {
	c := serve(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := c.CallTool(ctx)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	err = stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "slow_compute",
			ArgumentsJson: `{"seconds":60,"label":"cancel"}`, MetaJson: `{"progressToken":"p"}`},
	}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := stream.Recv()
	if n := resp.GetNotification(); err != nil || n.GetMethod() != "notifications/progress" ||
		n.GetParamsJson() != `{"progressToken":"p","progress":0,"total":60}` {
		t.Fatalf("first message = %v, %v; want progress 0 of 60", resp, err)
	}
	cancel()
	if resp, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("after cancelling: %v, %v; want Canceled", resp, err)
	}
}
