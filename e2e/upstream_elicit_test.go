package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// nameSchema is what the upstreams ask the client for.
var nameSchema = map[string]any{"type": "object",
	"properties": map[string]any{"name": map[string]any{"type": "string"}}}

// answerAda is the client's elicitation handler: it records the question
// and accepts with the name Ada.
func answerAda(asked *inbox[string]) func(context.Context, *mcp.ElicitRequest) (
	*mcp.ElicitResult, error) {
	return func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked.add(r.Params.Message)
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
	}
}

// TestUpstreamElicitationToStatelessClient: a session-based upstream's
// tool asks its client with elicitation/create; the stateless client
// gets an input_required result from one replica and sends its retry,
// with the answer, to the other, which hands it to the waiting call.
func TestUpstreamElicitationToStatelessClient(t *testing.T) {
	web := startGoUpstream(t, "web", false, func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "ask", InputSchema: objectSchema},
			func(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := r.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Your name?",
					RequestedSchema: nameSchema})
				if err != nil {
					return nil, err
				}
				return textResult(fmt.Sprintf("%s %v", res.Action, res.Content["name"])), nil
			})
	})
	s := upstreamSuite(t, 2, []upstreamDecl{httpDecl("web", "web", web.URL())})
	urls := s.MCPURLs()
	lister := goClient(t, newWire(t, urls), urls[0], nil)
	waitListed(t, lister, []string{"web__ask"}, true)

	// The first round goes to the first replica, the retry to the second.
	w := newWire(t, urls)
	w.setRoute(func(x *exchange) int {
		if x.RPC.Method != "tools/call" {
			return -1
		}
		if strings.Contains(string(x.RPC.Params), `"requestState"`) {
			return 1
		}
		return 0
	})
	var asked inbox[string]
	cs := statelessClient(t, w, urls[0], &mcp.ClientOptions{ElicitationHandler: answerAda(&asked)})
	wantText(t, cs, "web__ask", map[string]any{}, "accept Ada")
	if got := asked.all(); !slices.Equal(got, []string{"Your name?"}) {
		t.Errorf("elicitations %q, want the upstream's one", got)
	}
	checkRounds(t, w, 2)
}

// TestUpstreamInputRequiredToSessionClient: a stateless upstream's tool
// answers input_required (2026-07-28) with an elicitation; the session
// client of 2025-11-25 gets it as an elicitation/create request on the
// call's stream, answers it to the other replica, and the upstream, asked
// again with the answer, finishes the call.
func TestUpstreamInputRequiredToSessionClient(t *testing.T) {
	ask := mcp.InputRequestMap{"who": &mcp.ElicitParams{Message: "Your name?",
		RequestedSchema: nameSchema}}
	web := startGoUpstream(t, "web", true, func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "ask", InputSchema: objectSchema},
			func(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				answer, ok := r.Params.InputResponses["who"].(*mcp.ElicitResult)
				if !ok {
					return &mcp.CallToolResult{InputRequests: ask, RequestState: "round-1"}, nil
				}
				return textResult(fmt.Sprintf("%s %v after %s", answer.Action,
					answer.Content["name"], r.Params.RequestState)), nil
			})
	})
	s := upstreamSuite(t, 2, []upstreamDecl{httpDecl("web", "web", web.URL())})
	urls := s.MCPURLs()

	// The call goes to the first replica, the answer to the second.
	w := newWire(t, urls)
	w.setRoute(func(x *exchange) int {
		switch {
		case x.RPC.Method == "tools/call":
			return 0
		case x.Kind == "response":
			return 1
		}
		return -1
	})
	var asked inbox[string]
	cs := goClient(t, w, urls[0], &mcp.ClientOptions{ElicitationHandler: answerAda(&asked)})
	waitListed(t, cs, []string{"web__ask"}, true)
	wantText(t, cs, "web__ask", map[string]any{}, "accept Ada after round-1")
	if got := asked.all(); !slices.Equal(got, []string{"Your name?"}) {
		t.Errorf("elicitations %q, want the upstream's one", got)
	}

	var calls, answers []string
	for _, x := range w.exchanges() {
		switch {
		case x.RPC.Method == "tools/call":
			calls = append(calls, x.Host)
		case x.Kind == "response":
			answers = append(answers, x.Host)
		}
	}
	if len(calls) != 1 || len(answers) != 1 || calls[0] == answers[0] {
		t.Errorf("tools/call sent to %q and answers to %q; want one each, on different replicas",
			calls, answers)
	}
}

// checkRounds checks that a stateless client sent tools/call n times,
// each retry carrying the state of the round before and one answer.
func checkRounds(t *testing.T, w *wire, n int) {
	t.Helper()
	var rounds []exchange
	for _, x := range w.exchanges() {
		if x.Kind == "request" && x.RPC.Method == "tools/call" {
			rounds = append(rounds, x)
		}
	}
	if len(rounds) != n {
		t.Fatalf("tools/call sent %d times, want %d", len(rounds), n)
	}
	for _, r := range rounds[1:] {
		var retry struct {
			RequestState   string                     `json:"requestState"`
			InputResponses map[string]json.RawMessage `json:"inputResponses"`
		}
		if err := json.Unmarshal(r.RPC.Params, &retry); err != nil ||
			retry.RequestState == "" || len(retry.InputResponses) != 1 {
			t.Errorf("retry params %s: want requestState and one input response", r.RPC.Params)
		}
		if r.Host == rounds[0].Host {
			t.Errorf("the retry went to %s like the first round", r.Host)
		}
	}
}
