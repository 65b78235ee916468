package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tests in this file exercise what travels on a tool call's SSE
// stream: progress, log messages, requests to the client and their
// answers, and cancellation. resume_test.go has resumption and
// heartbeats.

// progress is one notifications/progress as a client handler saw it.
type progress struct {
	Token    any
	Progress float64
	Total    float64
	Message  string
}

// progressInbox returns client options that collect progress
// notifications into b.
func progressInbox(b *inbox[progress]) *mcp.ClientOptions {
	return &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			b.add(progress{r.Params.ProgressToken, r.Params.Progress, r.Params.Total, r.Params.Message})
		},
	}
}

// callStream returns every SSE event of the stream that answered the
// n-th tools/call of the named tool (0 is the first), across the POST and
// every GET that resumed it, in the order the client received them; the
// priming event comes first.
func callStream(t *testing.T, w *wire, tool string, n int) []sseEvent {
	t.Helper()
	stream := ""
	for _, x := range w.exchanges() {
		var p struct{ Name string }
		json.Unmarshal(x.RPC.Params, &p)
		if x.RPC.Method != "tools/call" || p.Name != tool || len(x.Events) == 0 {
			continue
		}
		if n--; n < 0 {
			stream, _, _ = strings.Cut(x.Events[0].ID, ":")
			break
		}
	}
	if stream == "" {
		t.Fatalf("no SSE stream answered tools/call %s; exchanges:\n%s", tool, describe(w.exchanges()))
	}
	var out []sseEvent
	for _, x := range w.exchanges() {
		for _, ev := range x.Events {
			if strings.HasPrefix(ev.ID, stream+":") {
				out = append(out, ev)
			}
		}
	}
	return out
}

// methodsOf returns the method (or "response") of each message in events.
func methodsOf(events []sseEvent) []string {
	var out []string
	for _, ev := range events {
		if m, ok := ev.message(); ok {
			if m.Method == "" {
				out = append(out, "response")
			} else {
				out = append(out, m.Method)
			}
		}
	}
	return out
}

// checkIDs checks a call stream's event ids: the priming id "<stream>:0"
// first, then each event exactly once and in the order of the session's
// event log in Redis, which must hold nothing else for the stream.
func checkIDs(t *testing.T, logged []logEntry, events []sseEvent) {
	t.Helper()
	if len(events) == 0 || !strings.HasSuffix(events[0].ID, ":0") || events[0].Data != "" {
		t.Fatalf("the stream does not start with a priming event: %+v", events)
	}
	var got, want []string
	for _, ev := range events[1:] {
		got = append(got, ev.ID)
	}
	for _, e := range logged {
		if e.Message != "" {
			want = append(want, e.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event ids received, want each logged event once, in order (-want +got):\n%s", diff)
	}
}

// checkOrdered checks a call stream's event ids without the event log:
// the priming id first, then ids of the stream in increasing order, none
// twice.
func checkOrdered(t *testing.T, events []sseEvent) {
	t.Helper()
	if len(events) < 2 || !strings.HasSuffix(events[0].ID, ":0") || events[0].Data != "" {
		t.Fatalf("the stream does not start with a priming event: %+v", events)
	}
	prev := entry{}
	for _, ev := range events[1:] {
		_, id, _ := strings.Cut(ev.ID, ":")
		e, ok := parseEntry(id)
		if !ok || !prev.less(e) {
			t.Errorf("event id %q does not follow the one before; ids: %+v", ev.ID, events)
		}
		prev = e
	}
}

// entry is a Redis stream entry id, which orders events.
type entry struct{ ms, seq uint64 }

func parseEntry(s string) (entry, bool) {
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return entry{ms, seq}, ok && err1 == nil && err2 == nil
}

func (e entry) less(o entry) bool { return e.ms < o.ms || e.ms == o.ms && e.seq < o.seq }

// randomKey returns a key no other test uses.
func randomKey() string { return rand.Text()[:10] }

func testProgress(t *testing.T, urls []string) {
	w := newWire(t, urls)
	var got inbox[progress]
	cs := goClient(t, w, urls[0], progressInbox(&got))
	token := "tok-" + randomKey()
	params := &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}}
	params.SetProgressToken(token)
	if txt, _ := callText(t, cs, params.Name, nil); txt != "no progress token" {
		t.Errorf("without a token: %q, want %q", txt, "no progress token")
	}
	res := mustCall(t, cs, params)
	if diff := cmp.Diff([]string{token}, texts(res.Content)); diff != "" {
		t.Errorf("the tool saw another token (-want +got):\n%s", diff)
	}
	want := []progress{
		{token, 0, 100, "Completed step 0 of 100"},
		{token, 50, 100, "Completed step 50 of 100"},
		{token, 100, 100, "Completed step 100 of 100"},
	}
	got.wait(t, "three progress notifications", func(p []progress) bool { return len(p) >= 3 })
	if diff := cmp.Diff(want, got.all()); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	events := callStream(t, w, "test_tool_with_progress", 1)
	wantMethods := []string{"notifications/progress", "notifications/progress",
		"notifications/progress", "response"}
	if diff := cmp.Diff(wantMethods, methodsOf(events)); diff != "" {
		t.Errorf("messages on the call's stream (-want +got):\n%s", diff)
	}
	if events[0].Retry != "100" {
		t.Errorf("priming event retry %q, want the gateway's 100", events[0].Retry)
	}

	// A numeric token past 2^53 comes back digit for digit.
	params.SetProgressToken(int64(9007199254740993))
	res = mustCall(t, cs, params)
	if diff := cmp.Diff([]string{"9007199254740993"}, texts(res.Content)); diff != "" {
		t.Errorf("the tool saw another token (-want +got):\n%s", diff)
	}
	for _, ev := range callStream(t, w, "test_tool_with_progress", 2) {
		if m, ok := ev.message(); ok && m.Method == "notifications/progress" &&
			!strings.Contains(string(m.Params), `"progressToken":9007199254740993`) {
			t.Errorf("progress with token altered: %s", m.Params)
		}
	}
}

// logLevels are the MCP logging levels, lowest first.
var logLevels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert",
	"emergency"}

// logInbox returns client options that collect the levels of log
// messages into b.
func logInbox(b *inbox[string]) *mcp.ClientOptions {
	return &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context,
		r *mcp.LoggingMessageRequest) {
		b.add(string(r.Params.Level))
	}}
}

// testLogging runs the logging tools in two sessions: A at level error,
// B at no level, then at warning. Calls alternate replicas, so each
// session's level holds on every replica.
func testLogging(t *testing.T, urls []string) {
	w := newWire(t, urls)
	var logsA, logsB inbox[string]
	a := goClient(t, w, urls[0], logInbox(&logsA))
	b := goClient(t, w, urls[1], logInbox(&logsB))
	setLevel := func(cs *mcp.ClientSession, level mcp.LoggingLevel) {
		t.Helper()
		if err := cs.SetLoggingLevel(opCtx(t), &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			t.Fatalf("set level %s: %v", level, err)
		}
	}
	setLevel(a, "error")
	callText(t, a, "demo__log", nil)
	callText(t, a, "test_tool_with_logging", nil)
	callText(t, b, "demo__log", nil)
	callText(t, b, "test_tool_with_logging", nil)
	setLevel(b, "warning")
	callText(t, b, "demo__log", nil)

	for _, tc := range []struct {
		name string
		tool string
		n    int
		want []string
	}{
		{"error and above", "demo__log", 0, logLevels[4:]},
		{"info filtered out", "test_tool_with_logging", 0, nil},
		{"no level set", "demo__log", 1, logLevels},
		{"info passes", "test_tool_with_logging", 1, []string{"info", "info", "info"}},
		{"warning and above", "demo__log", 2, logLevels[3:]},
	} {
		if diff := cmp.Diff(tc.want, streamLevels(t, w, tc.tool, tc.n)); diff != "" {
			t.Errorf("%s: levels on the stream (-want +got):\n%s", tc.name, diff)
		}
	}
	checkInbox(t, "session A's handler", &logsA, logLevels[4:])
	checkInbox(t, "session B's handler", &logsB,
		slices.Concat(logLevels, []string{"info", "info", "info"}, logLevels[3:]))
	checkBadLevel(t, w, urls)
}

// streamLevels returns the levels of the log messages on the stream of
// the n-th call of tool.
func streamLevels(t *testing.T, w *wire, tool string, n int) []string {
	t.Helper()
	var out []string
	for _, ev := range callStream(t, w, tool, n) {
		var p struct{ Level string }
		if m, ok := ev.message(); ok && m.Method == "notifications/message" {
			json.Unmarshal(m.Params, &p)
			out = append(out, p.Level)
		}
	}
	return out
}

// checkInbox waits until b holds as many items as want, then compares.
func checkInbox(t *testing.T, what string, b *inbox[string], want []string) {
	t.Helper()
	b.wait(t, what, func(got []string) bool { return len(got) >= len(want) })
	if diff := cmp.Diff(want, b.all()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// checkBadLevel sets a level MCP does not know: invalid params.
func checkBadLevel(t *testing.T, w *wire, urls []string) {
	t.Helper()
	session := rawSession(t, w, urls[0], `{}`)
	msgs := rawRPC(t, w, urls[1], session,
		`{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}}`)
	var e struct{ Code int }
	if len(msgs) != 1 || json.Unmarshal(msgs[0].Error, &e) != nil || e.Code != -32602 {
		t.Errorf("set level loud: %+v, want error -32602", msgs)
	}
}

// pinCalls routes tools/call to the first replica and what answers or
// resumes it (responses to the server, cancellations, resuming GETs) to
// the second, so that each crosses replicas.
func pinCalls(x *exchange) int {
	switch {
	case x.RPC.Method == "tools/call":
		return 0
	case x.Kind == "response", x.RPC.Method == "notifications/cancelled", x.LastEventID != "":
		return 1
	}
	return -1
}

func testClientRequests(t *testing.T, urls []string) {
	w := newWire(t, urls)
	w.setRoute(pinCalls)
	var prompts inbox[string]
	client := mcp.NewClient(&mcp.Implementation{Name: "switchboard-e2e-go", Version: "1.0.0"},
		&mcp.ClientOptions{
			CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (
				*mcp.CreateMessageResult, error) {
				if len(r.Params.Messages) == 1 {
					if tc, ok := r.Params.Messages[0].Content.(*mcp.TextContent); ok {
						prompts.add(tc.Text)
					}
				}
				return &mcp.CreateMessageResult{Role: "assistant", Model: "e2e-model",
					Content: &mcp.TextContent{Text: "four"}}, nil
			},
			ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				if r.Params.Message != "Who are you?" {
					return &mcp.ElicitResult{Action: "decline"}, nil
				}
				return &mcp.ElicitResult{Action: "accept",
					Content: map[string]any{"username": "ada", "email": "ada@example.com"}}, nil
			},
		})
	client.AddRoots(&mcp.Root{URI: "file:///e2e/project", Name: "project"})
	cs := goClientOf(t, w, urls[0], client)

	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"test_sampling", map[string]any{"prompt": "What is 2+2?"}, "LLM response: four"},
		{"test_elicitation", map[string]any{"message": "Who are you?"},
			`User response: action=accept, content={"email":"ada@example.com","username":"ada"}`},
		{"test_elicitation_sep1330_enums", nil, "Elicitation completed: action=decline, content={}"},
		{"test_elicitation_sep1034_defaults", nil, "Elicitation completed: action=decline, content={}"},
		{"demo__roots", nil, `[{"uri":"file:///e2e/project","name":"project"}]`},
	} {
		if txt, isErr := callText(t, cs, tc.tool, tc.args); txt != tc.want || isErr {
			t.Errorf("%s = %q (isError %v), want %q", tc.tool, txt, isErr, tc.want)
		}
	}
	if diff := cmp.Diff([]string{"What is 2+2?"}, prompts.all()); diff != "" {
		t.Errorf("sampling prompts (-want +got):\n%s", diff)
	}
	checkAnswersCrossed(t, w, 5)
}

// checkAnswersCrossed checks that want requests reached the client on
// the first replica's streams, each with an id that the registry made,
// and that each answer went back through the second replica.
func checkAnswersCrossed(t *testing.T, w *wire, want int) {
	t.Helper()
	asked := map[string]string{} // request id -> method
	answered := map[string]bool{}
	// The call can end before the answer's 202 is back.
	log := w.waitFor(t, "the status of every answer", func(log []exchange) bool {
		return !slices.ContainsFunc(log, func(x exchange) bool {
			return x.Kind == "response" && x.Status == 0
		})
	})
	for _, x := range log {
		for _, ev := range x.Events {
			m, ok := ev.message()
			if !ok || m.Method == "" || len(m.ID) == 0 {
				continue
			}
			var id string
			if json.Unmarshal(m.ID, &id) != nil || !strings.HasPrefix(id, "sb/") {
				t.Errorf("%s request id %s, want a string naming the registry call", m.Method, m.ID)
			}
			if x.Host != w.hosts[0] {
				t.Errorf("%s came on %s, want the call's replica %s", m.Method, x.Host, w.hosts[0])
			}
			asked[compact(m.ID)] = m.Method
		}
		if x.Kind == "response" {
			if x.Host != w.hosts[1] || x.Status != http.StatusAccepted {
				t.Errorf("answer %s went to %s with status %d, want %s and 202", x.RPC.ID,
					x.Host, x.Status, w.hosts[1])
			}
			answered[compact(x.RPC.ID)] = true
		}
	}
	if len(asked) != want {
		t.Errorf("%d requests to the client, want %d: %v", len(asked), want, asked)
	}
	for id, method := range asked {
		if !answered[id] {
			t.Errorf("%s %s was never answered", method, id)
		}
	}
}

func testMissingCapability(t *testing.T, urls []string) {
	w := newWire(t, urls)
	// No roots, no sampling, no elicitation.
	cs := goClient(t, w, urls[0], &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"test_sampling", map[string]any{"prompt": "x"},
			"sampling failed: client error -32603: client does not support sampling"},
		{"test_elicitation", map[string]any{"message": "x"},
			"elicitation failed: client error -32603: client does not support elicitation"},
		{"demo__roots", nil, "roots/list failed: client error -32603: client does not support roots"},
	} {
		txt, isErr := callText(t, cs, tc.tool, tc.args)
		if txt != tc.want || !isErr {
			t.Errorf("%s = %q (isError %v), want the error %q", tc.tool, txt, isErr, tc.want)
		}
	}
	for _, x := range w.exchanges() {
		for _, ev := range x.Events {
			if m, ok := ev.message(); ok && m.Method != "" && len(m.ID) > 0 {
				t.Errorf("the client got %s although it lacks the capability", m.Method)
			}
		}
	}
}

func testCancel(t *testing.T, urls []string) {
	w := newWire(t, urls)
	w.setRoute(pinCalls)
	var got inbox[progress]
	cs := goClient(t, w, urls[0], progressInbox(&got))
	key := randomKey()
	ctx, cancel := context.WithCancel(opCtx(t))
	params := &mcp.CallToolParams{Name: "demo__count",
		Arguments: map[string]any{"steps": 1000, "ms": 20, "key": key}}
	params.SetProgressToken("cancel-" + key)
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	got.wait(t, "the call's first progress", func(p []progress) bool { return len(p) > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call returned %v", err)
	}

	// The cancellation went through the other replica, and the provider
	// saw it.
	checkCancelCrossed(t, w)
	waitCancelled(t, cs, key)
	checkReplayEnds(t, w, urls[1], cs.ID())
}

// checkCancelCrossed waits for the client's notifications/cancelled and
// checks that the second replica accepted it.
func checkCancelCrossed(t *testing.T, w *wire) {
	t.Helper()
	log := w.waitFor(t, "notifications/cancelled", func(log []exchange) bool {
		return slices.ContainsFunc(log, func(x exchange) bool {
			return x.RPC.Method == "notifications/cancelled" && x.Status != 0
		})
	})
	for _, x := range log {
		if x.RPC.Method == "notifications/cancelled" && (x.Host != w.hosts[1] || x.Status != 202) {
			t.Errorf("notifications/cancelled went to %s, status %d; want %s, 202", x.Host,
				x.Status, w.hosts[1])
		}
	}
}

// checkReplayEnds resumes the cancelled count call's stream from its
// start: the replay holds its progress, no response, and ends.
func checkReplayEnds(t *testing.T, w *wire, url, session string) {
	t.Helper()
	events := callStream(t, w, "demo__count", 0)
	stream, _, _ := strings.Cut(events[0].ID, ":")
	resp := rawSend(t, w, http.MethodGet, url, session, "",
		map[string]string{"Last-Event-ID": stream + ":0"})
	defer resp.Body.Close()
	msgs := readMessages(t, resp)
	if len(msgs) == 0 {
		t.Error("resuming the cancelled call replayed nothing")
	}
	for _, m := range msgs {
		if m.Method != "notifications/progress" {
			t.Errorf("resuming the cancelled call replayed %+v, want only progress", m)
		}
	}
}

// waitCancelled polls demo__cancelled until the provider reports that
// the count call with key saw its context cancelled.
func waitCancelled(t *testing.T, cs *mcp.ClientSession, key string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := mustCall(t, cs, &mcp.CallToolParams{Name: "demo__cancelled",
			Arguments: map[string]any{"key": key}})
		if txt := texts(res.Content); len(txt) == 1 && txt[0] == `{"cancelled":true}` {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider did not see call %s cancelled within 20s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testCancelWithdrawsRequests cancels a call while its request to the
// client is unanswered: the registry withdraws the request with
// notifications/cancelled before the stream ends.
func testCancelWithdrawsRequests(t *testing.T, urls []string) {
	w := newWire(t, urls)
	w.setRoute(pinCalls)
	asked, release := make(chan struct{}), make(chan struct{})
	cs := goClient(t, w, urls[0], &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, _ *mcp.CreateMessageRequest) (
			*mcp.CreateMessageResult, error) {
			close(asked)
			select {
			case <-ctx.Done():
			case <-release:
			}
			return nil, errors.New("not answered")
		},
	})
	// The handler may never hear of the withdrawal (its stream is gone);
	// release it before the session closes.
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(opCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling",
			Arguments: map[string]any{"prompt": "never answered"}})
		done <- err
	}()
	<-asked
	cancel()
	<-done

	events := callStream(t, w, "test_sampling", 0)
	var request rpcMessage
	for _, ev := range events {
		if m, ok := ev.message(); ok && m.Method == "sampling/createMessage" {
			request = m
		}
	}
	stream, _, _ := strings.Cut(events[0].ID, ":")
	// The resumed stream follows the call until its final marker.
	resp := rawSend(t, w, http.MethodGet, urls[1], cs.ID(), "",
		map[string]string{"Last-Event-ID": stream + ":0"})
	defer resp.Body.Close()
	msgs := readMessages(t, resp)
	if len(msgs) != 2 || msgs[1].Method != "notifications/cancelled" {
		t.Fatalf("the cancelled call's stream holds %+v, want the request and its withdrawal", msgs)
	}
	var p struct{ RequestID json.RawMessage }
	json.Unmarshal(msgs[1].Params, &p)
	if compact(p.RequestID) != compact(request.ID) {
		t.Errorf("withdrew request %s, want %s", p.RequestID, request.ID)
	}
}
