package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// statelessClient connects the official Go SDK client through w with its
// default settings: it tries the stateless revision first.
func statelessClient(t *testing.T, w *wire, endpoint string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "switchboard-e2e-go", Version: "1.0.0"}, opts)
	transport := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: w.client()}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != statelessVersion {
		t.Fatalf("negotiated protocol %q, want %q", got, statelessVersion)
	}
	if cs.ID() != "" {
		t.Errorf("a stateless connection got session id %q", cs.ID())
	}
	return cs
}

// nodeRun is the outcome of a node script run in the background.
type nodeRun struct {
	stdout, stderr bytes.Buffer
	err            error
}

// startNode runs a script of e2e/tsclient in the background; wait for the
// returned channel to close.
func startNode(t *testing.T, args ...string) (*nodeRun, <-chan struct{}) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the TypeScript SDK client needs it")
	}
	dir := filepath.Join(root, "e2e", "tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("the TypeScript SDK is not installed in %s: run make tsdeps", dir)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	r := &nodeRun{}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		r.err = cmd.Run()
	}()
	return r, done
}

// decode reads a finished run's JSON output into v.
func (r *nodeRun) decode(t *testing.T, what string, v any) bool {
	t.Helper()
	if r.err != nil {
		t.Errorf("%s: %v\nstderr:\n%s", what, r.err, r.stderr.String())
		return false
	}
	if err := json.Unmarshal(r.stdout.Bytes(), v); err != nil {
		t.Errorf("%s: output %q: %v", what, r.stdout.String(), err)
		return false
	}
	return true
}

// TestBothGenerationsOnOneSuite runs, at the same time against one suite
// of two gateway replicas, the Go SDK client at its defaults (the
// stateless 2026-07-28 revision), the TypeScript SDK client over
// 2025-11-25 Streamable HTTP and over the 2024-11-05 HTTP+SSE transport.
// Every message the gateways send the Go client is validated against the
// 2026-07-28 schema.
func TestBothGenerationsOnOneSuite(t *testing.T) {
	s := featureSuite(t)
	urls := s.MCPURLs()
	bases := legacyBases(urls)

	tsRun, tsDone := startNode(t, append([]string{"client.mjs"}, urls...)...)
	legacyRun, legacyDone := startNode(t, "legacy.mjs", bases[0]+"/sse", bases[1])

	w := newWire(t, urls)
	var toolsChanged, updated inbox[string]
	cs := statelessClient(t, w, urls[0], &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			toolsChanged.add("tools")
		},
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			updated.add(r.Params.URI)
		},
	})

	names := listToolNames(t, cs)
	for _, want := range []string{"demo__echo", "demo__touch", "test_simple_text"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %q", want, names)
		}
	}
	callTools(t, cs, demoCalls)

	read, err := cs.ReadResource(opCtx(t), &mcp.ReadResourceParams{URI: "test://static-text"})
	if err != nil || len(read.Contents) != 1 || read.Contents[0].Text == "" {
		t.Errorf("read test://static-text: %+v, %v", read, err)
	}
	prompt, err := cs.GetPrompt(opCtx(t), &mcp.GetPromptParams{Name: "test_simple_prompt"})
	if err != nil || len(prompt.Messages) == 0 {
		t.Errorf("get test_simple_prompt: %+v, %v", prompt, err)
	}

	// Change notifications arrive on subscriptions/listen streams: a
	// resource update told by the provider, and a new provider's tools.
	const uri = "test://watched"
	if err := cs.Subscribe(opCtx(t), &mcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	mustCall(t, cs, &mcp.CallToolParams{Name: "demo__touch", Arguments: map[string]any{"uri": uri}})
	updated.wait(t, "resources/updated for "+uri, func(got []string) bool {
		return slices.Contains(got, uri)
	})
	if _, err := s.AddProvider(t.Context(), suite.Provider{Name: "late"}); err != nil {
		t.Fatalf("add provider: %v", err)
	}
	toolsChanged.wait(t, "tools/list_changed", func(got []string) bool { return len(got) > 0 })

	<-tsDone
	var ts tsOutput
	if tsRun.decode(t, "node client.mjs", &ts) {
		if ts.ProtocolVersion != protocolVersion {
			t.Errorf("TypeScript client negotiated %q, want %q", ts.ProtocolVersion, protocolVersion)
		}
		checkTSCall(t, "echo", ts.Echo, tsCall{Text: []string{"hello from ts"}})
	}
	<-legacyDone
	var legacy legacyOutput
	if legacyRun.decode(t, "node legacy.mjs", &legacy) {
		checkTSCall(t, "echo over sse", legacy.Echo, tsCall{Text: []string{"hello over sse"}})
	}
	w.report(t)
}

// TestStatelessElicitationAcrossReplicas: a provider's elicitation reaches
// a stateless client as an input_required result, and the client's retry,
// sent to the other replica, hands the answer to the call that waits for
// it.
func TestStatelessElicitationAcrossReplicas(t *testing.T) {
	s := featureSuite(t)
	urls := s.MCPURLs()
	w := newWire(t, urls)
	var asked inbox[string]
	cs := statelessClient(t, w, urls[0], &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.add(r.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{
				"username": "ada", "email": "ada@example.com",
			}}, nil
		},
	})
	text, isErr := callText(t, cs, "test_elicitation", map[string]any{"message": "Who are you?"})
	if isErr || !strings.Contains(text, "ada@example.com") {
		t.Errorf("test_elicitation answered %q (isError %v), want the accepted content", text, isErr)
	}
	if got := asked.all(); !slices.Equal(got, []string{"Who are you?"}) {
		t.Errorf("elicitations %q, want one", got)
	}

	// The round that asked and the retry that answered ran on different
	// replicas, and the retry carried the state of the first.
	var rounds []exchange
	for _, x := range w.exchanges() {
		if x.Kind == "request" && x.RPC.Method == "tools/call" {
			rounds = append(rounds, x)
		}
	}
	if len(rounds) != 2 {
		t.Fatalf("tools/call sent %d times, want 2 (ask, then answer)", len(rounds))
	}
	if rounds[0].Host == rounds[1].Host {
		t.Errorf("both rounds went to %s; the wire should alternate replicas", rounds[0].Host)
	}
	var retry struct {
		RequestState   string                     `json:"requestState"`
		InputResponses map[string]json.RawMessage `json:"inputResponses"`
	}
	if err := json.Unmarshal(rounds[1].RPC.Params, &retry); err != nil ||
		retry.RequestState == "" || len(retry.InputResponses) != 1 {
		t.Errorf("retry params %s: want requestState and one input response", rounds[1].RPC.Params)
	}
	w.report(t)
}

// TestStatelessCallSurvivesDrain: a gateway replica that shuts down in
// the middle of a stateless call hands the client a requestState, and the
// client's retry on the other replica gets the call's result.
func TestStatelessCallSurvivesDrain(t *testing.T) {
	s := startSuite(t, 2)
	urls := s.MCPURLs()
	w := newWire(t, urls)
	var calls int
	var mu sync.Mutex
	// The first round of the call goes to the replica that leaves, the
	// rest to the one that stays.
	w.setRoute(func(x *exchange) int {
		mu.Lock()
		defer mu.Unlock()
		if x.RPC.Method == "tools/call" {
			calls++
			if calls == 1 {
				return 0
			}
		}
		return 1
	})
	cs := statelessClient(t, w, urls[1], nil)
	done := make(chan error, 1)
	go func() {
		res, err := cs.CallTool(opCtx(t), &mcp.CallToolParams{Name: "demo__sleep",
			Arguments: map[string]any{"ms": 1500}})
		if err == nil && (res.IsError || !slices.Equal(texts(res.Content), []string{"slept 1500 ms"})) {
			err = fmt.Errorf("result %q, isError %v", texts(res.Content), res.IsError)
		}
		done <- err
	}()
	w.waitFor(t, "the call on the first replica", func(log []exchange) bool {
		for _, x := range log {
			if x.RPC.Method == "tools/call" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if err := s.Gateways[0].Stop(10 * time.Second); err != nil {
		t.Logf("stop the first replica: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("call across the drain: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("tools/call sent %d times, want 2 (the first round, then the retry with the state)", calls)
	}
	w.report(t)
}

// TestStatelessCallExpires: a stateless call whose client never comes
// back after input_required lets its hidden session go after
// -stateless-call-ttl; a late retry is told the call has ended.
func TestStatelessCallExpires(t *testing.T) {
	empty := ""
	s := startSuiteWith(t, suite.Config{
		Gateways:  1,
		Providers: []suite.Provider{{Name: "conformance", Bin: suite.ConformanceProviderBin, Prefix: &empty}},
		ExtraArgs: map[string][]string{suite.GatewayBin: {"-stateless-call-ttl=1s"}},
	})
	url := s.MCPURLs()[0]
	first := extPost(t, url, "tools/call", `{"name":"test_input_required_result_elicitation"}`,
		withoutTasks, nil)
	var round struct {
		ResultType   string `json:"resultType"`
		RequestState string `json:"requestState"`
	}
	if err := json.Unmarshal(first.Result, &round); err != nil || round.ResultType != "input_required" {
		t.Fatalf("first round %s: want input_required", first.Result)
	}
	time.Sleep(2500 * time.Millisecond)
	late := extPost(t, url, "tools/call", `{"name":"test_input_required_result_elicitation",`+
		`"inputResponses":{"user_name":{"action":"accept","content":{"name":"Ann"}}},`+
		`"requestState":`+quoteJSON(round.RequestState)+`}`, withoutTasks, nil)
	if late.Error == nil || late.Error.Code != -32602 || !strings.Contains(late.Error.Message, "ended") {
		t.Errorf("late retry: %+v %s, want -32602 (the call has ended)", late.Error, late.Result)
	}
}
