package conformance_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/conformance"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// TestInputRequiredPrompt plays the non-tool-request scenario: a first
// prompts/get gets an input_required result, the retry with the answer a
// prompt that uses it.
func TestInputRequiredPrompt(t *testing.T) {
	c := serve(t)
	get := func(version, responses, state string) string {
		t.Helper()
		resp, err := c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
			Name: "test_input_required_result_prompt", ProtocolVersion: version,
			InputResponsesJson: responses, RequestState: state,
		})
		if err != nil {
			t.Fatalf("GetPrompt: %v", err)
		}
		return resp.GetResultJson()
	}
	const v2026 = "2026-07-28"
	var first struct {
		ResultType    string                     `json:"resultType"`
		InputRequests map[string]json.RawMessage `json:"inputRequests"`
		RequestState  string                     `json:"requestState"`
	}
	if err := json.Unmarshal([]byte(get(v2026, "", "")), &first); err != nil {
		t.Fatalf("round 1: %v", err)
	}
	want := `{"method":"elicitation/create","params":{"message":"What context should the ` +
		`prompt use?","requestedSchema":{"type":"object","properties":{"context":` +
		`{"type":"string"}},"required":["context"]}}}`
	if diff := cmp.Diff(want, string(first.InputRequests["user_context"])); diff != "" ||
		first.ResultType != "input_required" || len(first.InputRequests) != 1 {
		t.Errorf("round 1 %+v; user_context (-want +got):\n%s", first, diff)
	}

	answer := func(a string) string { return `{"user_context":` + a + `}` }
	accepted := answer(`{"action":"accept","content":{"context":"test context"}}`)
	tests := []struct {
		name, version, responses, state string
		// want is the rendered text, or "" for another input_required.
		want string
	}{
		{"retry", v2026, accepted, first.RequestState, "Answer using this context: test context"},
		{"answer without state", v2026, accepted, "", "Answer using this context: test context"},
		{"declined", v2026, answer(`{"action":"decline"}`), first.RequestState,
			"Answer without any particular context."},
		{"no context in the answer", v2026, answer(`{"action":"accept","content":{}}`),
			first.RequestState, ""},
		{"other keys only", v2026, `{"wrong_key":{"action":"accept"}}`, "", ""},
		{"session-based client", "2025-11-25", "", "", "Answer without any particular context."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(tt.version, tt.responses, tt.state)
			if tt.want == "" {
				if !strings.Contains(res, `"resultType":"input_required"`) {
					t.Errorf("result %s, want input_required", res)
				}
				return
			}
			var got struct {
				Messages []message `json:"messages"`
			}
			if err := json.Unmarshal([]byte(res), &got); err != nil {
				t.Fatalf("result %s: %v", res, err)
			}
			wantMessages(t, got.Messages, `[{"role":"user","content":{"type":"text","text":`+
				string(mustJSON(t, tt.want))+`}}]`)
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTriggerTools calls the trigger tools of a registered provider and
// checks that each call returns once the registry has the changed list.
func TestTriggerTools(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := provider.New("conformance", nil)
	conformance.Add(p)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, provider.RunOptions{ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr,
			LeaseTTL: time.Minute, Ready: func(addr string) { ready <- addr }})
	}()
	c := providertest.Serve(t, p.Service())
	<-ready
	reg.Await(t, "conformance", func(r providertest.Record) bool { return r.Live })

	has := func(kind, name string) bool {
		rec, _ := reg.Lookup("conformance")
		var names []string
		if kind == "tool" {
			for _, tool := range rec.Tools {
				names = append(names, tool.GetName())
			}
		} else {
			for _, pr := range rec.Prompts {
				names = append(names, pr.GetName())
			}
		}
		return slices.Contains(names, name)
	}
	tests := []struct {
		trigger, kind, entry, wantText string
		wantListed                     bool
	}{
		{"test_trigger_tool_change", "tool", "test_dynamic_tool",
			"Added the tool test_dynamic_tool.", true},
		{"test_trigger_tool_change", "tool", "test_dynamic_tool",
			"Removed the tool test_dynamic_tool.", false},
		{"test_trigger_prompt_change", "prompt", "test_dynamic_prompt",
			"Added the prompt test_dynamic_prompt.", true},
		{"test_trigger_prompt_change", "prompt", "test_dynamic_prompt",
			"Removed the prompt test_dynamic_prompt.", false},
	}
	for _, tt := range tests {
		t.Run(tt.wantText, func(t *testing.T) {
			call := runCall(t, c, &providerv1.CallToolStart{Name: tt.trigger}, nil)
			if diff := cmp.Diff([]block{{Type: "text", Text: tt.wantText}},
				blocks(t, call.Result.GetContentJson())); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			// The call returns once the registry has read the change.
			if got := has(tt.kind, tt.entry); got != tt.wantListed {
				t.Errorf("registry lists %s %s = %v, want %v", tt.kind, tt.entry, got,
					tt.wantListed)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestTriggerToolsUnregistered checks that the trigger tools still change
// the catalogue of a provider that is not registered, and say so.
func TestTriggerToolsUnregistered(t *testing.T) {
	c := serve(t)
	call := runCall(t, c, &providerv1.CallToolStart{Name: "test_trigger_tool_change"}, nil)
	want := "Added the tool test_dynamic_tool; no registry was told, as the provider is " +
		"not registered."
	if diff := cmp.Diff([]block{{Type: "text", Text: want}},
		blocks(t, call.Result.GetContentJson())); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	resp, err := c.Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if !slices.ContainsFunc(resp.GetTools(), func(tool *providerv1.Tool) bool {
		return tool.GetName() == "test_dynamic_tool"
	}) {
		t.Error("test_dynamic_tool not described after the trigger")
	}
}
