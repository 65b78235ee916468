package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	"switchboard.dev/registry/upstream"
)

// big is beyond float64's exact integers (2^53 + 1).
const big = "9007199254740993"

var objectSchema = json.RawMessage(`{"type":"object"}`)

// drive runs a call to its result, answering each request to the client
// with answer; it returns the result and the requests seen.
func drive(t *testing.T, stream providerv1.ProviderService_CallToolClient,
	answer func(*providerv1.ClientRequest) string) (*providerv1.ToolResult,
	[]*providerv1.ClientRequest, error) {
	t.Helper()
	var asked []*providerv1.ClientRequest
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil, asked, err
		}
		if q := msg.GetRequest(); q != nil {
			asked = append(asked, q)
			stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Response{
				Response: &providerv1.ClientResponse{Id: q.GetId(), ResultJson: answer(q)}}})
			continue
		}
		if r := msg.GetResult(); r != nil {
			return r, asked, nil
		}
	}
}

// An elicitation the SDK client would refuse (a nested property) reaches
// the client as the upstream wrote it, and the answer goes back as is.
func TestRequestsToTheClientPassRaw(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	schema := `{"type":"object","properties":{"where":{"type":"object",` +
		`"properties":{"city":{"type":"string"}}}},"x-rank":` + big + `}`
	u.extra = func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "nested", InputSchema: objectSchema},
			func(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := r.Session.Elicit(ctx, &mcp.ElicitParams{Message: "where?",
					RequestedSchema: json.RawMessage(schema)})
				if err != nil {
					return nil, err
				}
				return textResult(string(res.Action)), nil
			})
	}
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "raw", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "raw")

	stream, err := p.start(t, t.Context(), &providerv1.CallToolStart{Name: "nested",
		SessionId: "s1", ClientCapabilitiesJson: `{"elicitation":{}}`})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	res, asked, err := drive(t, stream, func(*providerv1.ClientRequest) string {
		return `{"action":"decline"}`
	})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if len(asked) != 1 || asked[0].GetMethod() != "elicitation/create" ||
		!strings.Contains(asked[0].GetParamsJson(), `"x-rank":`+big) ||
		!strings.Contains(asked[0].GetParamsJson(), `"city":{"type":"string"}`) {
		t.Errorf("requests to the client: %v", asked)
	}
	if got := text(t, res); got != "decline" {
		t.Errorf("result %q, want decline", got)
	}
}

// A POST stream the upstream closes with neither the result nor an event
// id leaves the call's outcome unknown: an MCP error, not a tool failure.
// A JSON-RPC error of the upstream's passes verbatim.
func TestUpstreamErrorsPassVerbatim(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	u.extra = func(s *mcp.Server) {
		s.AddPrompt(&mcp.Prompt{Name: "refuse"},
			func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return nil, &jsonrpc.Error{Code: -32042, Message: "refused",
					Data: json.RawMessage(`{"n":` + big + `}`)}
			})
	}
	u.resetSessions()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Method == http.MethodPost && bytes.Contains(body, []byte(`"name":"vanish"`)) {
			// SEP-1699: the server ends the stream, but has no event
			// store, so it gave no event id to resume from.
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("retry: 10\n\n"))
			return
		}
		(*u.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() { closeServer(srv) })
	set(t, m, upstream.Spec{Name: "v", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "v")

	_, err := p.call(t, "s1", "vanish", "{}")
	got, ok := mcperr.From(err)
	if status.Code(err) != codes.Unavailable || !ok || got.Code != -32603 ||
		!strings.Contains(got.Message, "without a response") {
		t.Errorf("lost call: %v, want MCP error -32603 with status Unavailable", err)
	}

	_, err = p.client.GetPrompt(t.Context(), &providerv1.GetPromptRequest{Name: "refuse",
		SessionId: "s1"})
	got, ok = mcperr.From(err)
	want := &mcperr.Error{Code: -32042, Message: "refused",
		Data: json.RawMessage(`{"n":` + big + `}`)}
	if !ok || got.Code != want.Code || got.Message != want.Message ||
		string(got.Data) != string(want.Data) {
		t.Errorf("upstream error: %v (%+v), want %+v", err, got, want)
	}
}

// rewrite answers POSTs through h with each old string of pairs replaced
// by its new one, so that the upstream says what the SDK cannot model.
func rewrite(h http.Handler, pairs ...string) http.Handler {
	r := strings.NewReplacer(pairs...)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			h.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		io.WriteString(w, r.Replace(rec.Body.String()))
	})
}

// Results, reads and catalogue entries reach the registry as the
// upstream wrote them: unknown members kept, integers whole.
func TestResultsPassVerbatim(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	u.jsonResponse = true
	u.extra = func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "big", InputSchema: objectSchema},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res := textResult("PLACEHOLDER")
				res.StructuredContent = json.RawMessage(`{"n":` + big + `}`)
				return res, nil
			})
		s.AddResource(&mcp.Resource{URI: "test://big", Name: "RESNAME"},
			func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
					{URI: "test://big", Text: "RESTEXT"}}}, nil
			})
	}
	u.resetSessions()
	srv := httptest.NewServer(rewrite(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*u.handler.Load()).ServeHTTP(w, r)
		}),
		`"text":"PLACEHOLDER"`, `"text":"big","future":{"n":`+big+`}`,
		`"name":"RESNAME"`, `"name":"res","x-future":`+big,
		`"text":"RESTEXT"`, `"text":"r","x-future":`+big))
	t.Cleanup(func() { closeServer(srv) })
	set(t, m, upstream.Spec{Name: "vb", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "vb")

	res, err := p.call(t, "s1", "big", "{}")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if res.GetStructuredContentJson() != `{"n":`+big+`}` ||
		!strings.Contains(res.GetContentJson(), `"future":{"n":`+big+`}`) {
		t.Errorf("result %v", res)
	}

	read, err := p.client.ReadResource(t.Context(), &providerv1.ReadResourceRequest{
		Uri: "test://big", SessionId: "s1"})
	if err != nil || !strings.Contains(read.GetResultJson(), `"x-future":`+big) {
		t.Errorf("read: %v, %v", read, err)
	}

	desc, err := p.client.Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var def string
	for _, r := range desc.GetResources() {
		if r.GetUri() == "test://big" {
			def = r.GetDefinitionJson()
		}
	}
	if !strings.Contains(def, `"x-future":`+big) {
		t.Errorf("resource definition %s lacks the unknown member", def)
	}
}

// An upstream on 2026-07-28 that answers input_required: for a tool call
// the bridge puts the input requests to the client under the upstream's
// keys and retries; for a prompt the result reaches the client as it
// came, and the client's retry reaches the upstream.
func TestInputRequiredPassesThrough(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream()
	u.stateless = true
	ask := mcp.InputRequestMap{"who": &mcp.ElicitParams{Message: "name?",
		RequestedSchema: map[string]any{"type": "object",
			"properties": map[string]any{"name": map[string]any{"type": "string"}}}}}
	u.extra = func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "confirm", InputSchema: objectSchema},
			func(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				er, ok := r.Params.InputResponses["who"].(*mcp.ElicitResult)
				if !ok {
					return &mcp.CallToolResult{InputRequests: ask, RequestState: "st-1"}, nil
				}
				return textResult(fmt.Sprintf("%s:%v:%s", er.Action, er.Content["name"],
					r.Params.RequestState)), nil
			})
		s.AddPrompt(&mcp.Prompt{Name: "ask"},
			func(_ context.Context, r *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				er, ok := r.Params.InputResponses["who"].(*mcp.ElicitResult)
				if !ok {
					return &mcp.GetPromptResult{InputRequests: ask, RequestState: "p-1"}, nil
				}
				return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{},
					Description: fmt.Sprintf("hello %v %s", er.Content["name"],
						r.Params.RequestState)}, nil
			})
	}
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "mr", Transport: upstream.TransportHTTP, URL: srv.URL})
	eventually(t, "2026-07-28", func() bool {
		return health(m, "mr").ProtocolVersion == "2026-07-28"
	})
	p := e.provider(t, "mr")

	stream, err := p.start(t, t.Context(), &providerv1.CallToolStart{Name: "confirm",
		SessionId: "s1", ClientCapabilitiesJson: `{"elicitation":{}}`})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	res, asked, err := drive(t, stream, func(*providerv1.ClientRequest) string {
		return `{"action":"accept","content":{"name":"Ada"}}`
	})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if len(asked) != 1 || asked[0].GetKey() != "who" ||
		asked[0].GetMethod() != "elicitation/create" {
		t.Errorf("input requests: %v", asked)
	}
	if got := text(t, res); got != "accept:Ada:st-1" {
		t.Errorf("result %q", got)
	}

	first, err := p.client.GetPrompt(t.Context(), &providerv1.GetPromptRequest{Name: "ask",
		SessionId: "s1"})
	if err != nil || !strings.Contains(first.GetResultJson(), `"resultType":"input_required"`) ||
		!strings.Contains(first.GetResultJson(), `"requestState":"p-1"`) {
		t.Fatalf("prompt: %v, %v", first, err)
	}
	retry, err := p.client.GetPrompt(t.Context(), &providerv1.GetPromptRequest{Name: "ask",
		SessionId:          "s1",
		InputResponsesJson: `{"who":{"action":"accept","content":{"name":"Ada"}}}`,
		RequestState:       "p-1"})
	if err != nil || !strings.Contains(retry.GetResultJson(), `hello Ada p-1`) {
		t.Errorf("prompt retry: %v, %v", retry, err)
	}
}

// A bridge that never ran (its spec cannot run) goes away with its spec.
func TestSetRemovesBrokenBridges(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	bad := upstream.Spec{Name: "bad", Transport: upstream.TransportStdio}
	if err := m.Set(t.Context(), []upstream.Spec{bad}); err == nil {
		t.Fatal("set of a spec that cannot run succeeded")
	}
	if h := health(m, "bad"); h.State != upstream.StateRefused {
		t.Errorf("health of the broken bridge: %+v", h)
	}
	set(t, m)
	if h := m.Health(); len(h) != 0 {
		t.Errorf("health after removing it: %+v", h)
	}
}

// Over Streamable HTTP, what an upstream sends on a call's own stream
// goes to that call, even while a later call of the same client session
// runs.
func TestConcurrentCallsGetTheirOwnRequests(t *testing.T) {
	e := startEnv(t)
	m := e.manager(t)
	u := newTestUpstream("2025-11-25")
	arrived := make(chan string, 2)
	release := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	u.extra = func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "gate", InputSchema: objectSchema},
			func(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				var args struct{ Tag string }
				json.Unmarshal(r.Params.Arguments, &args)
				arrived <- args.Tag
				<-release[args.Tag]
				r.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: args.Tag})
				res, err := r.Session.Elicit(ctx, &mcp.ElicitParams{Message: args.Tag})
				if err != nil {
					return nil, err
				}
				return textResult(string(res.Action)), nil
			})
	}
	srv := u.serveHTTP(t)
	set(t, m, upstream.Spec{Name: "cc", Transport: upstream.TransportHTTP, URL: srv.URL})
	p := e.provider(t, "cc")

	streams := map[string]providerv1.ProviderService_CallToolClient{}
	for _, tag := range []string{"a", "b"} {
		stream, err := p.start(t, t.Context(), &providerv1.CallToolStart{Name: "gate",
			ArgumentsJson: `{"tag":"` + tag + `"}`, SessionId: "s1",
			ClientCapabilitiesJson: `{"elicitation":{}}`})
		if err != nil {
			t.Fatalf("start %s: %v", tag, err)
		}
		streams[tag] = stream
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("call %s did not reach the upstream", tag)
		}
	}
	// The earlier call asks while the later one runs.
	for _, tag := range []string{"a", "b"} {
		close(release[tag])
		stream := streams[tag]
		var seen []string
		for {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatalf("call %s: %v", tag, err)
			}
			if n := msg.GetNotification(); n != nil {
				seen = append(seen, n.GetParamsJson())
				continue
			}
			if q := msg.GetRequest(); q != nil {
				seen = append(seen, q.GetParamsJson())
				stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Response{
					Response: &providerv1.ClientResponse{Id: q.GetId(),
						ResultJson: `{"action":"cancel"}`}}})
				continue
			}
			if msg.GetResult() != nil {
				break
			}
		}
		if len(seen) != 2 || !strings.Contains(seen[0], `"data":"`+tag+`"`) ||
			!strings.Contains(seen[1], `"message":"`+tag+`"`) {
			t.Errorf("call %s got %v", tag, seen)
		}
	}
}
