package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/provider"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// asking answers with the topic the client gave under the key "topic",
// or asks for it; what it renders shows what it saw of the caller.
func asking(c *provider.Caller) (string, error) {
	res, ok := c.ElicitResponse("topic")
	if !ok {
		return "", &provider.InputRequired{
			Requests: map[string]provider.InputRequest{
				"topic": provider.ElicitInput(map[string]string{"message": "Topic?"}),
				"roots": provider.RootsInput(),
			},
			State: "round 1",
		}
	}
	var content struct {
		Topic string `json:"topic"`
	}
	json.Unmarshal(res.Content, &content)
	roots, _ := c.RootsResponse("roots")
	return fmt.Sprintf("topic=%s roots=%d state=%q sampling=%t", content.Topic, len(roots),
		c.State, c.ClientSupports("sampling")), nil
}

func inputProvider(key []byte) *provider.Provider {
	p := provider.New("input", &provider.Options{StateKey: key})
	p.AddPrompt(provider.Prompt{Name: "ask"},
		func(_ context.Context, req *provider.PromptRequest) (*provider.PromptResult, error) {
			text, err := asking(&req.Caller)
			if err != nil {
				return nil, err
			}
			return provider.UserPrompt(text), nil
		})
	p.AddResource(provider.Resource{URI: "test://ask", Name: "ask"},
		func(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
			text, err := asking(&req.Caller)
			if err != nil {
				return nil, err
			}
			return provider.TextResource(req.URI, "text/plain", text), nil
		})
	return p
}

// round is one prompts/get or resources/read as the gateway passes it.
type round struct {
	caps, version, responses, state string
}

// getAsk sends r to the prompt or resource named "ask" (or what names
// says) and returns the result JSON.
func getAsk(t *testing.T, c providerv1.ProviderServiceClient, kind, name string, r round) (
	string, error) {
	t.Helper()
	if kind == "prompt" {
		resp, err := c.GetPrompt(t.Context(), &providerv1.GetPromptRequest{
			Name: name, ClientCapabilitiesJson: r.caps, ProtocolVersion: r.version,
			InputResponsesJson: r.responses, RequestState: r.state,
		})
		return resp.GetResultJson(), err
	}
	resp, err := c.ReadResource(t.Context(), &providerv1.ReadResourceRequest{
		Uri: name, ClientCapabilitiesJson: r.caps, ProtocolVersion: r.version,
		InputResponsesJson: r.responses, RequestState: r.state,
	})
	return resp.GetResultJson(), err
}

// rendered returns the text a complete result holds.
func rendered(t *testing.T, kind, result string) string {
	t.Helper()
	var res struct {
		Messages []struct {
			Content struct{ Text string } `json:"content"`
		} `json:"messages"`
		Contents []struct{ Text string } `json:"contents"`
	}
	if err := json.Unmarshal([]byte(result), &res); err != nil {
		t.Fatalf("result %s: %v", result, err)
	}
	if kind == "prompt" && len(res.Messages) == 1 {
		return res.Messages[0].Content.Text
	}
	if kind == "resource" && len(res.Contents) == 1 {
		return res.Contents[0].Text
	}
	t.Fatalf("result %s is not a complete %s result", result, kind)
	return ""
}

type inputRequiredResult struct {
	ResultType    string                     `json:"resultType"`
	InputRequests map[string]json.RawMessage `json:"inputRequests"`
	RequestState  string                     `json:"requestState"`
}

// TestInputRequired runs prompts/get and resources/read rounds as a
// stateless client's retries arrive.
func TestInputRequired(t *testing.T) {
	c := serve(t, inputProvider(nil))
	const (
		v2026   = "2026-07-28"
		answers = `{"topic":{"action":"accept","content":{"topic":"tides"}},` +
			`"roots":{"roots":[{"uri":"file:///a"}]},"extra":{"x":1}}`
	)
	names := map[string]string{"prompt": "ask", "resource": "test://ask"}
	otherKind := map[string]string{"prompt": "resource", "resource": "prompt"}
	for _, kind := range []string{"prompt", "resource"} {
		name := names[kind]
		t.Run(kind, func(t *testing.T) {
			// Round 1: the requests, and a signed state.
			first, err := getAsk(t, c, kind, name, round{version: v2026})
			if err != nil {
				t.Fatalf("round 1: %v", err)
			}
			var ir inputRequiredResult
			if err := json.Unmarshal([]byte(first), &ir); err != nil {
				t.Fatalf("round 1 result %s: %v", first, err)
			}
			want := map[string]json.RawMessage{
				"topic": json.RawMessage(`{"method":"elicitation/create","params":{"message":"Topic?"}}`),
				"roots": json.RawMessage(`{"method":"roots/list","params":{}}`),
			}
			if diff := cmp.Diff(want, ir.InputRequests); ir.ResultType != "input_required" || diff != "" {
				t.Errorf("round 1: resultType %q, inputRequests (-want +got):\n%s", ir.ResultType, diff)
			}
			if ir.RequestState == "" || strings.Contains(ir.RequestState, "round 1") {
				t.Errorf("requestState %q, want the state signed and encoded", ir.RequestState)
			}
			tampered := []byte(ir.RequestState)
			tampered[0] ^= 1

			tests := []struct {
				name string
				r    round
				// other sends the round to the other kind's "ask".
				other    bool
				wantText string
				wantCode codes.Code
			}{
				{name: "retry", r: round{version: v2026, caps: `{"sampling":{}}`,
					responses: answers, state: ir.RequestState},
					wantText: `topic=tides roots=1 state="round 1" sampling=true`},
				{name: "answers without state", r: round{version: v2026, responses: answers},
					wantText: `topic=tides roots=1 state="" sampling=false`},
				{name: "null answers", r: round{version: v2026, responses: "null"},
					wantText: "input_required"},
				{name: "answer of the wrong shape", r: round{version: v2026,
					responses: `{"topic":12345}`}, wantText: "input_required"},
				{name: "unknown revision", r: round{}, wantText: "input_required"},
				{name: "tampered state", r: round{version: v2026, responses: answers,
					state: string(tampered)}, wantCode: codes.InvalidArgument},
				{name: "state with something appended", r: round{version: v2026,
					responses: answers, state: ir.RequestState + "-TAMPERED"},
					wantCode: codes.InvalidArgument},
				{name: "state issued for the other kind", r: round{version: v2026,
					responses: answers, state: ir.RequestState}, other: true,
					wantCode: codes.InvalidArgument},
				{name: "answers not an object", r: round{version: v2026, responses: `[1]`},
					wantCode: codes.InvalidArgument},
				{name: "session-based client", r: round{version: "2025-11-25"},
					wantCode: codes.FailedPrecondition},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					kind, target := kind, name
					if tt.other {
						kind, target = otherKind[kind], names[otherKind[kind]]
					}
					res, err := getAsk(t, c, kind, target, tt.r)
					if status.Code(err) != tt.wantCode {
						t.Fatalf("error %v, want %v", err, tt.wantCode)
					}
					if err != nil {
						return
					}
					if tt.wantText == "input_required" {
						if !strings.Contains(res, `"resultType":"input_required"`) {
							t.Errorf("result %s, want input_required", res)
						}
						return
					}
					if got := rendered(t, kind, res); got != tt.wantText {
						t.Errorf("rendered %q, want %q", got, tt.wantText)
					}
				})
			}
		})
	}
}

// TestInputRequiredStateKey checks that replicas sharing a StateKey
// accept each other's states, and that others refuse them.
func TestInputRequiredStateKey(t *testing.T) {
	key := []byte("a key every replica shares")
	issuer := serve(t, inputProvider(key))
	res, err := getAsk(t, issuer, "prompt", "ask", round{version: "2026-07-28"})
	if err != nil {
		t.Fatalf("round 1: %v", err)
	}
	var ir inputRequiredResult
	json.Unmarshal([]byte(res), &ir)
	retry := round{version: "2026-07-28", state: ir.RequestState,
		responses: `{"topic":{"action":"accept","content":{"topic":"x"}}}`}
	tests := []struct {
		name string
		key  []byte
		want codes.Code
	}{
		{"same key", key, codes.OK},
		{"other key", []byte("another key"), codes.InvalidArgument},
		{"random key", nil, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := getAsk(t, serve(t, inputProvider(tt.key)), "prompt", "ask", retry)
			if status.Code(err) != tt.want {
				t.Errorf("retry: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestInputRequiredInvalid checks that an InputRequired that cannot be
// encoded fails as the handler's fault.
func TestInputRequiredInvalid(t *testing.T) {
	tests := []struct {
		name string
		ir   *provider.InputRequired
	}{
		{"empty", &provider.InputRequired{}},
		{"no method", &provider.InputRequired{
			Requests: map[string]provider.InputRequest{"k": {}}}},
		{"empty key", &provider.InputRequired{
			Requests: map[string]provider.InputRequest{"": provider.RootsInput()}}},
		{"params not an object", &provider.InputRequired{
			Requests: map[string]provider.InputRequest{"k": provider.SamplingInput([]int{1})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider.New("invalid", nil)
			p.AddPrompt(provider.Prompt{Name: "bad"},
				func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
					return nil, tt.ir
				})
			_, err := getAsk(t, serve(t, p), "prompt", "bad", round{version: "2026-07-28"})
			if status.Code(err) != codes.Internal {
				t.Errorf("error %v, want INTERNAL", err)
			}
		})
	}
}
