package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/logging"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// allCaps declares every capability a server-to-client request can need.
const allCaps = `{"sampling":{},"roots":{"listChanged":true},"elicitation":{"form":{},"url":{}}}`

// newSession creates a session with the given client capabilities.
func (f *fixture) newSession(t testing.TB, caps string) string {
	t.Helper()
	resp, err := f.sessions.CreateSession(t.Context(), &sessionv1.CreateSessionRequest{
		ProtocolVersion: "2025-11-25", ClientInfoJson: `{"name":"t","version":"1"}`,
		ClientCapabilitiesJson: caps})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return resp.GetSession().GetId()
}

// streamedReq returns a streamed call of tool in session sid.
func streamedReq(tool, sid, stream string) *registryv1.CallToolRequest {
	return &registryv1.CallToolRequest{Name: tool, SessionId: sid, Stream: stream,
		RequestIdJson: `"req-1"`, ClientCapabilitiesJson: allCaps, ProtocolVersion: "2025-11-25"}
}

// relayStream is a routed call as its caller sees it.
type relayStream = registryv1.RegistryService_CallToolClient

// relayed reads a call's relayed messages until its RPC ends.
func relayed(stream relayStream) ([]*registryv1.CallToolResponse, error) {
	var out []*registryv1.CallToolResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg)
	}
}

// events returns the events among relayed messages.
func events(msgs []*registryv1.CallToolResponse) []*sessionv1.Event {
	var out []*sessionv1.Event
	for _, m := range msgs {
		if e := m.GetEvent(); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// watch reads a session stream's log from the start until its final
// event.
func (f *fixture) watch(t testing.TB, sid, stream string) []*sessionv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	w, err := f.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{SessionId: sid,
		Stream: stream, AfterEventId: stream + ":0"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	var out []*sessionv1.Event
	for {
		resp, err := w.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("watch %s after %d events: %v", stream, len(out), err)
		}
		out = append(out, resp.GetEvent())
	}
}

// messages returns the message texts of events.
func messages(evs []*sessionv1.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.GetMessageJson()
	}
	return out
}

func notify(method, params string) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Notification{
		Notification: &providerv1.Notification{Method: method, ParamsJson: params}}}
}

func ask(id int64, method, params string) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Request{
		Request: &providerv1.ClientRequest{Id: id, Method: method, ParamsJson: params}}}
}

// sendAll sends msgs in order.
func sendAll(stream providerv1.ProviderService_CallToolServer,
	msgs ...*providerv1.CallToolResponse) error {
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// textResult is a result whose one text block is text.
func textResult(text string) *providerv1.CallToolResponse {
	return resultMsg(&providerv1.ToolResult{
		ContentJson: `[{"type":"text","text":` + jsonString(text) + `}]`})
}

func TestStreamedCall(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("work"),
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			return sendAll(stream,
				notify("notifications/progress",
					`{"progressToken": 98765432109876543210, "progress": 1, "total": 2}`),
				notify("notifications/message", `{"level":"debug","data":"hidden"}`),
				&providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_CloseStream{
					CloseStream: &providerv1.CloseStream{RetryMs: 50}}},
				notify("notifications/message", `{"level":"warning","logger":"w","data":{"n":1}}`),
				notify("notifications/message", `{"level":"info","data":"shown"}`),
				resultMsg(&providerv1.ToolResult{ContentJson: `[{"type":"text","text":"done"}]`,
					StructuredContentJson: `{"n": 1.50}`, MetaJson: `{"m":true}`}))
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	req := streamedReq("p__work", sid, "k3x9q2")
	req.RequestIdJson, req.LogLevel = `12345678901234567890`, "info"
	req.MetaJson = `{"progressToken": 98765432109876543210}`

	stream, err := f.client.CallTool(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := relayed(stream)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	want := []string{
		`{"jsonrpc":"2.0","method":"notifications/progress","params":` +
			`{"progressToken":98765432109876543210,"progress":1,"total":2}}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":` +
			`{"level":"warning","logger":"w","data":{"n":1}}}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":` +
			`{"level":"info","data":"shown"}}`,
		`{"jsonrpc":"2.0","id":12345678901234567890,"result":{"content":` +
			`[{"type":"text","text":"done"}],"structuredContent":{"n":1.50},"_meta":{"m":true}}}`,
	}
	logged := f.watch(t, sid, "k3x9q2")
	if diff := cmp.Diff(want, messages(logged)); diff != "" {
		t.Errorf("logged messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(logged, events(msgs), protocmp.Transform()); diff != "" {
		t.Errorf("relayed events differ from the log (-log +relayed):\n%s", diff)
	}
	for i, e := range logged {
		if !strings.HasPrefix(e.GetId(), "k3x9q2:") || e.GetFinal() != (i == len(logged)-1) {
			t.Errorf("event %d: id %q, final %v", i, e.GetId(), e.GetFinal())
		}
	}
	// The close-stream request is relayed in its place, not logged.
	if len(msgs) != 5 || msgs[1].GetCloseStream().GetRetryMs() != 50 {
		t.Errorf("relayed %v, want the close-stream request second", msgs)
	}
}

func TestCallToolStart(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("echo")})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	for _, stream := range []string{"", "s1"} {
		t.Run("stream="+stream, func(t *testing.T) {
			args := `{"big": 12345678901234567890, "nested": {"a": [1.50, {"b": null}]}}`
			req := &registryv1.CallToolRequest{
				Name:                   "p__echo",
				ArgumentsJson:          args,
				MetaJson:               `{"progressToken": 98765432109876543210}`,
				SessionId:              sid,
				Stream:                 stream,
				RequestIdJson:          "1",
				ClientCapabilitiesJson: `{"roots":{}}`,
				ProtocolVersion:        "2025-06-18",
			}
			c, err := f.client.CallTool(t.Context(), req)
			if err == nil {
				_, err = relayed(c)
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			want := &providerv1.CallToolStart{
				Name:                   "echo",
				ArgumentsJson:          req.GetArgumentsJson(),
				MetaJson:               req.GetMetaJson(),
				SessionId:              sid,
				ClientCapabilitiesJson: `{"roots":{}}`,
				ProtocolVersion:        "2025-06-18",
			}
			if diff := cmp.Diff(want, <-p.starts, protocmp.Transform()); diff != "" {
				t.Errorf("start the provider got (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamedCallOutlivesCaller(t *testing.T) {
	f := startRegistry(t)
	release := make(chan struct{})
	p := startProvider(t, &testProvider{name: "p", tools: tools("slow"),
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			if err := stream.Send(notify("notifications/progress",
				`{"progressToken":1,"progress":1}`)); err != nil {
				return err
			}
			<-release
			if err := stream.Context().Err(); err != nil {
				return err
			}
			return stream.Send(textResult("finished"))
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	ctx, cancel := context.WithCancel(t.Context())
	stream, err := f.client.CallTool(ctx, streamedReq("p__slow", sid, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	cancel()
	if _, err := relayed(stream); status.Code(err) != codes.Canceled {
		t.Fatalf("caller's stream ended with %v, want Canceled", err)
	}
	close(release)

	want := []string{
		`{"jsonrpc":"2.0","method":"notifications/progress",` +
			`"params":{"progressToken":1,"progress":1}}`,
		`{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":"finished"}]}}`,
	}
	if diff := cmp.Diff(want, messages(f.watch(t, sid, "s"))); diff != "" {
		t.Errorf("logged messages (-want +got):\n%s", diff)
	}
}

// echoAnswer returns a provider handler that asks the client once and
// returns the answer it got (its result or error JSON) as text.
func echoAnswer(method, params string) func(providerv1.ProviderService_CallToolServer,
	*providerv1.CallToolStart) error {
	return func(stream providerv1.ProviderService_CallToolServer,
		_ *providerv1.CallToolStart) error {
		if err := stream.Send(ask(7, method, params)); err != nil {
			return err
		}
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		r := msg.GetResponse()
		if r.GetId() != 7 {
			return status.Errorf(codes.Internal, "answer to %d, want 7", r.GetId())
		}
		return stream.Send(textResult(r.GetResultJson() + r.GetErrorJson()))
	}
}

// finalText returns the text of the final response's first content block.
func finalText(t *testing.T, evs []*sessionv1.Event) string {
	t.Helper()
	if len(evs) == 0 || !evs[len(evs)-1].GetFinal() {
		t.Fatalf("no final event among %v", evs)
	}
	var m struct {
		Result struct {
			Content []struct{ Text string }
		}
	}
	if err := json.Unmarshal([]byte(evs[len(evs)-1].GetMessageJson()), &m); err != nil ||
		len(m.Result.Content) == 0 {
		t.Fatalf("final event %s: %v", evs[len(evs)-1].GetMessageJson(), err)
	}
	return m.Result.Content[0].Text
}

func TestClientRequestAcrossReplicas(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("ask"),
		handle: echoAnswer("sampling/createMessage", `{"messages":[],"maxTokens":5}`)})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	intruder := f.newSession(t, allCaps)

	stream, err := f.client.CallTool(t.Context(), streamedReq("p__ask", sid, "s"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("request event: %v", err)
	}
	var q struct {
		ID     string          `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal([]byte(first.GetEvent().GetMessageJson()), &q); err != nil {
		t.Fatalf("request event %v: %v", first, err)
	}
	if !strings.HasPrefix(q.ID, "sb/") || q.Method != "sampling/createMessage" ||
		string(q.Params) != `{"messages":[],"maxTokens":5}` {
		t.Errorf("request %+v", q)
	}

	answer := func(session, result string) {
		t.Helper()
		_, err := other.client.DeliverResponse(t.Context(), &registryv1.DeliverResponseRequest{
			SessionId: session, MessageJson: `{"jsonrpc":"2.0","id":` + jsonString(q.ID) +
				`,"result":` + result + `}`})
		if err != nil {
			t.Fatalf("deliver: %v", err)
		}
	}
	// Another session's answer is dropped without a word.
	answer(intruder, `{"stolen":true}`)
	answer(sid, `{"role":"assistant","content":{"type":"text","text":"hi"},`+
		`"model":"m","n":12345678901234567890}`)
	msgs, err := relayed(stream)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	want := `{"role":"assistant","content":{"type":"text","text":"hi"},` +
		`"model":"m","n":12345678901234567890}`
	if got := finalText(t, events(msgs)); got != want {
		t.Errorf("provider got %s, want %s", got, want)
	}

	// An answer to a finished call, or to an id the registry never
	// issued, is accepted and dropped.
	answer(sid, `{}`)
	for _, msg := range []string{`{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","id":"sb/x/y/z","error":{"code":1,"message":"no"}}`} {
		_, err := other.client.DeliverResponse(t.Context(), &registryv1.DeliverResponseRequest{
			SessionId: sid, MessageJson: msg})
		if err != nil {
			t.Errorf("deliver %s: %v", msg, err)
		}
	}
	_, err = other.client.DeliverResponse(t.Context(), &registryv1.DeliverResponseRequest{
		SessionId: sid, MessageJson: `{"id":"sb/a/b/1"}`})
	wantCode(t, err, codes.InvalidArgument, "result")
}

func TestCapabilities(t *testing.T) {
	f := startRegistry(t)
	tests := []struct {
		name, caps, method, params, missing string
	}{
		{"sampling", `{"roots":{}}`, "sampling/createMessage", `{}`, "sampling"},
		{"roots", `{"sampling":{}}`, "roots/list", ``, "roots"},
		{"elicitation", `{}`, "elicitation/create", `{"message":"m"}`, "elicitation"},
		{"elicitation url mode", `{"elicitation":{}}`, "elicitation/create",
			`{"mode":"url","url":"https://example.invalid/","message":"m"}`, "elicitation.url"},
		{"elicitation form mode", `{"elicitation":{}}`, "elicitation/create",
			`{"mode":"form","message":"m"}`, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := string(rune('a' + i))
			p := startProvider(t, &testProvider{name: name, tools: tools("ask"),
				handle: echoAnswer(tc.method, tc.params)})
			f.register(t, p, nil, 0)
			sid := f.newSession(t, tc.caps)
			req := streamedReq(name+"__ask", sid, "s")
			req.ClientCapabilitiesJson = tc.caps
			stream, err := f.client.CallTool(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.missing == "" {
				first, err := stream.Recv()
				if err != nil || !strings.Contains(first.GetEvent().GetMessageJson(), tc.method) {
					t.Fatalf("got %v, %v; want the request logged", first, err)
				}
				return
			}
			msgs, err := relayed(stream)
			if err != nil {
				t.Fatalf("relay: %v", err)
			}
			want := `{"code":-32603,"message":"client does not support ` + tc.missing + `"}`
			if evs := events(msgs); len(evs) != 1 || finalText(t, evs) != want {
				t.Errorf("events %v, want only a result with %s", evs, want)
			}
		})
	}
}

func TestCancelCall(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	p := startProvider(t, &testProvider{name: "p", tools: tools("wait"),
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			if err := stream.Send(ask(1, "elicitation/create", `{"message":"sure?"}`)); err != nil {
				return err
			}
			started <- struct{}{}
			<-stream.Context().Done()
			cancelled <- struct{}{}
			return stream.Context().Err()
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	req := streamedReq("p__wait", sid, "c")
	req.RequestIdJson = `"r\u002d9"`
	stream, err := f.client.CallTool(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	await(t, started, "the provider to start the call")
	_, err = other.client.CancelCall(t.Context(), &registryv1.CancelCallRequest{
		SessionId: sid, RequestIdJson: ` "r-9" `, Reason: "changed my mind"})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	await(t, cancelled, "the provider to see the cancellation")
	msgs, err := relayed(stream)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}

	logged := f.watch(t, sid, "c")
	if diff := cmp.Diff(logged, events(msgs), protocmp.Transform()); diff != "" {
		t.Errorf("relayed events differ from the log (-log +relayed):\n%s", diff)
	}
	if len(logged) != 3 {
		t.Fatalf("logged %v, want the request, its withdrawal and the marker", logged)
	}
	var q struct{ ID string }
	json.Unmarshal([]byte(logged[0].GetMessageJson()), &q)
	want := []string{
		logged[0].GetMessageJson(),
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` +
			jsonString(q.ID) + `,"reason":"the tool call was cancelled"}}`,
		"",
	}
	if diff := cmp.Diff(want, messages(logged)); diff != "" {
		t.Errorf("logged messages (-want +got):\n%s", diff)
	}
	if !logged[2].GetFinal() {
		t.Errorf("the marker is not final")
	}

	_, err = other.client.CancelCall(t.Context(), &registryv1.CancelCallRequest{
		SessionId: sid, RequestIdJson: `{}`})
	wantCode(t, err, codes.InvalidArgument, "request_id_json")
}

func TestCancelBoundCall(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	p, started, cancelled := blockingProvider(t)
	f.register(t, p, nil, 0)

	errc := make(chan error, 1)
	go func() {
		_, err := f.call(t.Context(), &registryv1.CallToolRequest{Name: "slow__wait",
			SessionId: "s", RequestIdJson: "42"})
		errc <- err
	}()
	await(t, started, "the provider to start the call")
	if _, err := other.client.CancelCall(t.Context(), &registryv1.CancelCallRequest{
		SessionId: "s", RequestIdJson: "42"}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	await(t, cancelled, "the provider to see the cancellation")
	wantCode(t, <-errc, codes.Canceled)
}

func TestUnansweredRequest(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: tools("hasty"),
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			return sendAll(stream, ask(3, "roots/list", ""), textResult("no time"))
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	stream, err := f.client.CallTool(t.Context(), streamedReq("p__hasty", sid, "u"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := relayed(stream); err != nil {
		t.Fatalf("relay: %v", err)
	}
	logged := f.watch(t, sid, "u")
	if len(logged) != 3 {
		t.Fatalf("logged %v, want the request, its withdrawal and the response", logged)
	}
	var q struct{ ID string }
	json.Unmarshal([]byte(logged[0].GetMessageJson()), &q)
	want := []string{
		`{"jsonrpc":"2.0","id":` + jsonString(q.ID) + `,"method":"roots/list"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` +
			jsonString(q.ID) + `,"reason":"the tool call ended"}}`,
		`{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":"no time"}]}}`,
	}
	if diff := cmp.Diff(want, messages(logged)); diff != "" {
		t.Errorf("logged messages (-want +got):\n%s", diff)
	}
}

func TestStreamedFailures(t *testing.T) {
	f := startRegistry(t)
	picky := startProvider(t, &testProvider{name: "picky", tools: tools("sum"),
		handle: func(callStream, *providerv1.CallToolStart) error {
			return status.Error(codes.InvalidArgument, `argument "x" must be a number`)
		}})
	broken := startProvider(t, &testProvider{name: "broken", tools: tools("boom"),
		handle: func(callStream, *providerv1.CallToolStart) error {
			return status.Error(codes.Internal, "disk on fire")
		}})
	sloppy := startProvider(t, &testProvider{name: "sloppy", tools: tools("bad"),
		handle: func(stream callStream, _ *providerv1.CallToolStart) error {
			return stream.Send(resultMsg(&providerv1.ToolResult{ContentJson: `{"not":"a list"}`}))
		}})
	gone := startProvider(t, &testProvider{name: "gone", tools: tools("echo")})
	for _, p := range []*testProvider{picky, broken, sloppy, gone} {
		f.register(t, p, nil, 0)
	}
	gone.srv.Stop()
	sid := f.newSession(t, allCaps)

	tests := []struct {
		name, tool, version, want string
	}{
		{"refused arguments", "picky__sum", "2025-11-25",
			`{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":` +
				`"argument \"x\" must be a number"}],"isError":true}}`},
		{"refused arguments before 2025-11-25", "picky__sum", "2025-06-18",
			`{"jsonrpc":"2.0","id":"req-1","error":{"code":-32602,` +
				`"message":"argument \"x\" must be a number"}}`},
		{"provider fails", "broken__boom", "2025-11-25",
			`{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":` +
				`"tool call failed: provider \"broken\" failed: Internal: disk on fire"}],` +
				`"isError":true}}`},
		{"malformed result", "sloppy__bad", "2025-11-25",
			`{"jsonrpc":"2.0","id":"req-1","result":{"content":[{"type":"text","text":` +
				`"tool call failed: provider \"sloppy\" returned an invalid result: ` +
				`content_json is not a JSON array"}],"isError":true}}`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := "f" + string(rune('a'+i))
			req := streamedReq(tc.tool, sid, stream)
			req.ProtocolVersion = tc.version
			c, err := f.client.CallTool(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := relayed(c)
			if err != nil {
				t.Fatalf("relay: %v", err)
			}
			if diff := cmp.Diff([]string{tc.want}, messages(events(msgs))); diff != "" {
				t.Errorf("relayed (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("provider down", func(t *testing.T) {
		c, err := f.client.CallTool(t.Context(), streamedReq("gone__echo", sid, "down"))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := relayed(c)
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		if text := finalText(t, events(msgs)); !strings.HasPrefix(text,
			"tool provider unavailable: ") {
			t.Errorf("result text %q", text)
		}
	})

	refused := []struct {
		name string
		edit func(*registryv1.CallToolRequest)
		code codes.Code
		frag string
	}{
		{"unknown tool", func(r *registryv1.CallToolRequest) { r.Name = "nope" },
			codes.NotFound, `unknown tool "nope"`},
		{"bad stream", func(r *registryv1.CallToolRequest) { r.Stream = "a-b" },
			codes.InvalidArgument, "stream"},
		{"no request id", func(r *registryv1.CallToolRequest) { r.RequestIdJson = "" },
			codes.InvalidArgument, "request_id_json"},
		{"no session", func(r *registryv1.CallToolRequest) { r.SessionId = "" },
			codes.InvalidArgument, "session_id"},
		{"unknown session", func(r *registryv1.CallToolRequest) { r.SessionId = "nope" },
			codes.NotFound, "session"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			req := streamedReq("picky__sum", sid, "r")
			tc.edit(req)
			c, err := f.client.CallTool(t.Context(), req)
			if err == nil {
				_, err = relayed(c)
			}
			wantCode(t, err, tc.code, tc.frag)
		})
	}
}

func TestStreamedCallTimeout(t *testing.T) {
	f := startRegistry(t, func(c *Config) { c.CallTimeout = 100 * time.Millisecond })
	p, started, cancelled := blockingProvider(t)
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	c, err := f.client.CallTool(t.Context(), streamedReq("slow__wait", sid, "t"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := relayed(c)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	await(t, started, "the provider to start the call")
	await(t, cancelled, "the provider to see the cancellation")
	want := `tool call timed out: tool "slow__wait" got no result within 100ms`
	if got := finalText(t, events(msgs)); got != want {
		t.Errorf("result text %q, want %q", got, want)
	}
}

func TestBoundCallWithoutStream(t *testing.T) {
	f := startRegistry(t)
	answers := make(chan *providerv1.ClientResponse, 1)
	p := startProvider(t, &testProvider{name: "p", tools: tools("chatty"),
		handle: func(stream callStream, _ *providerv1.CallToolStart) error {
			err := sendAll(stream, notify("notifications/progress", `{"progress":1}`),
				ask(1, "roots/list", ""))
			if err != nil {
				return err
			}
			msg, err := stream.Recv()
			if err != nil {
				return err
			}
			answers <- msg.GetResponse()
			return stream.Send(textResult("ok"))
		}})
	f.register(t, p, nil, 0)
	got, err := f.call(t.Context(), &registryv1.CallToolRequest{Name: "p__chatty",
		ClientCapabilitiesJson: allCaps})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if got.GetContentJson() != `[{"type":"text","text":"ok"}]` {
		t.Errorf("result %v", got)
	}
	want := &providerv1.ClientResponse{Id: 1,
		ErrorJson: `{"code":-32603,"message":"this call has no stream to the client"}`}
	if diff := cmp.Diff(want, <-answers, protocmp.Transform()); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// watchStandalone opens a watch of a session's standalone stream and
// returns once it is live.
func (f *fixture) watchStandalone(t *testing.T,
	sid string) sessionv1.SessionService_WatchEventsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	w, err := f.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{SessionId: sid,
		Stream: "_"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	// The headers come once the watch is live.
	if _, err := w.Header(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	return w
}

// next returns the message of the next event of a watch.
func next(t *testing.T, w sessionv1.SessionService_WatchEventsClient) string {
	t.Helper()
	resp, err := w.Recv()
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	return resp.GetEvent().GetMessageJson()
}

func TestListChanged(t *testing.T) {
	f := startRegistry(t)
	sid := f.newSession(t, allCaps)
	w := f.watchStandalone(t, sid)
	changed := func(kind string) string {
		return `{"jsonrpc":"2.0","method":"notifications/` + kind + `/list_changed"}`
	}
	nextTwo := func() []string {
		got := []string{next(t, w), next(t, w)}
		if got[0] > got[1] {
			got[0], got[1] = got[1], got[0]
		}
		return got
	}

	p := startProvider(t, &testProvider{name: "p", tools: tools("t"),
		prompts: []*providerv1.Prompt{prompt("q")}})
	reg := f.register(t, p, nil, 0)
	if diff := cmp.Diff([]string{changed("prompts"), changed("tools")}, nextTwo()); diff != "" {
		t.Errorf("after registering (-want +got):\n%s", diff)
	}
	// The same catalogue again changes no list; a template changes one.
	reg = f.register(t, p, nil, 0)
	r := startProvider(t, &testProvider{name: "r",
		templates: []*providerv1.ResourceTemplate{template("r://{x}", "x")}})
	f.register(t, r, nil, 0)
	if got := next(t, w); got != changed("resources") {
		t.Errorf("after adding a template: %s", got)
	}
	_, err := f.client.DeregisterProvider(t.Context(), &registryv1.DeregisterProviderRequest{
		Name: "p", LeaseId: reg.GetLeaseId()})
	if err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if diff := cmp.Diff([]string{changed("prompts"), changed("tools")}, nextTwo()); diff != "" {
		t.Errorf("after deregistering (-want +got):\n%s", diff)
	}
}

func TestNotifyResourceUpdated(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p",
		resources: []*providerv1.Resource{resource("file:///a", "a")}})
	reg := f.register(t, p, nil, 0)
	sid, bystander := f.newSession(t, allCaps), f.newSession(t, allCaps)
	_, err := f.sessions.Subscribe(t.Context(), &sessionv1.SubscribeRequest{SessionId: sid,
		Uri: "file:///a"})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	_, err = f.client.NotifyResourceUpdated(t.Context(), &registryv1.NotifyResourceUpdatedRequest{
		Name: "p", LeaseId: "wrong", Uri: "file:///a"})
	wantCode(t, err, codes.NotFound, "register again")
	_, err = f.client.NotifyResourceUpdated(t.Context(), &registryv1.NotifyResourceUpdatedRequest{
		Name: "p", LeaseId: reg.GetLeaseId(), Uri: "file:///a"})
	if err != nil {
		t.Fatalf("notify: %v", err)
	}

	want := `{"jsonrpc":"2.0","method":"notifications/resources/updated",` +
		`"params":{"uri":"file:///a"}}`
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	w, err := f.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{SessionId: sid,
		Stream: "_", AfterEventId: "_:0"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if got := next(t, w); got != want {
		t.Errorf("logged %s, want %s", got, want)
	}
	// The bystander's log holds nothing: a marker appended now comes first.
	_, err = f.sessions.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
		SessionId: bystander, Stream: "_", MessageJson: `{"marker":1}`})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	w, err = f.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{SessionId: bystander,
		Stream: "_", AfterEventId: "_:0"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if got := next(t, w); got != `{"marker":1}` {
		t.Errorf("bystander's first event %s", got)
	}
}

func TestShutdownEndsDetachedCalls(t *testing.T) {
	f := startRegistry(t)
	p, started, cancelled := blockingProvider(t)
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	// A replica of its own, to stop while the call runs.
	cfg := f.cfg
	cfg.ShutdownTimeout = 500 * time.Millisecond
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, logging.Discard(), f.store.rdb, cfg, func(a Addrs) { ready <- a.GRPC })
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("registry stopped at start: %v", err)
	}
	client := registryv1.NewRegistryServiceClient(dial(t, addr))
	stream, err := client.CallTool(t.Context(), streamedReq("slow__wait", sid, "z"))
	if err != nil {
		t.Fatal(err)
	}
	await(t, started, "the provider to start the call")
	stop()

	msgs, err := relayed(stream)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	want := "tool call failed: the registry stopped before the call ended"
	if got := finalText(t, events(msgs)); got != want {
		t.Errorf("result text %q, want %q", got, want)
	}
	await(t, cancelled, "the provider to see the cancellation")
	if err := <-done; err != nil {
		t.Errorf("registry stopped: %v", err)
	}
	if diff := cmp.Diff(messages(events(msgs)), messages(f.watch(t, sid, "z"))); diff != "" {
		t.Errorf("log differs from the relayed events (-relayed +log):\n%s", diff)
	}
}
