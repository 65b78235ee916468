package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// countProgress returns the progress a count call of n steps reports.
func countProgress(token any, n int) []progress {
	var out []progress
	for i := 1; i <= n; i++ {
		out = append(out, progress{token, float64(i), float64(n), "step " + jsonInt(i) + " of " +
			jsonInt(n)})
	}
	return out
}

// startCount calls demo__count with a progress token in the background
// and returns a channel that gets the call's outcome.
func startCount(t *testing.T, cs *mcp.ClientSession, steps, ms int, token string) <-chan error {
	t.Helper()
	params := &mcp.CallToolParams{Name: "demo__count",
		Arguments: map[string]any{"steps": steps, "ms": ms}}
	params.SetProgressToken(token)
	done := make(chan error, 1)
	ctx := opCtx(t)
	go func() {
		res, err := cs.CallTool(ctx, params)
		want := "counted " + jsonInt(steps)
		if err == nil && (res.IsError || strings.Join(texts(res.Content), "") != want) {
			err = &unexpected{res}
		}
		done <- err
	}()
	return done
}

// unexpected is a tool result that a test did not expect.
type unexpected struct{ res *mcp.CallToolResult }

func (u *unexpected) Error() string {
	return "unexpected result: " + strings.Join(texts(u.res.Content), "\n")
}

// checkResumed checks a count call that lost its stream once: the client
// got every progress once and in order, the events of the stream match
// the session's event log one for one, and the stream was resumed on the
// second replica with the id of the last event that the first delivered.
func checkResumed(t *testing.T, w *wire, logged []logEntry, got []progress, want []progress) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress the client got (-want +got):\n%s", diff)
	}
	events := callStream(t, w, "demo__count", 0)
	checkIDs(t, logged, events)
	wantMethods := make([]string, len(want), len(want)+1)
	for i := range want {
		wantMethods[i] = "notifications/progress"
	}
	if diff := cmp.Diff(append(wantMethods, "response"), methodsOf(events)); diff != "" {
		t.Errorf("messages on the call's stream (-want +got):\n%s", diff)
	}
	var post, resumed *exchange
	for _, x := range w.exchanges() {
		switch {
		case x.RPC.Method == "tools/call":
			post = &x
		case x.Method == http.MethodGet && x.LastEventID != "":
			resumed = &x
		}
	}
	if post == nil || resumed == nil {
		t.Fatalf("want a tools/call POST and a resuming GET; exchanges:\n%s", describe(w.exchanges()))
	}
	last := post.Events[len(post.Events)-1].ID
	if resumed.LastEventID != last || resumed.Host != w.hosts[1] || resumed.Status != http.StatusOK {
		t.Errorf("resumed on %s (status %d) after %q, want %s (200) after %q", resumed.Host,
			resumed.Status, resumed.LastEventID, w.hosts[1], last)
	}
}

// testResumeCut cuts a call's SSE stream after its second progress, as a
// broken connection would; the client resumes it with Last-Event-ID on
// the other replica and misses nothing, nor gets anything twice.
func testResumeCut(t *testing.T, s suiteInfo) {
	w := newWire(t, s.urls)
	w.setRoute(pinCalls)
	w.setCut(func(x *exchange, ev sseEvent) bool {
		m, ok := ev.message()
		return ok && x.RPC.Method == "tools/call" && m.Method == "notifications/progress" &&
			strings.Contains(string(m.Params), `"progress":2,`)
	})
	var got inbox[progress]
	cs := goClient(t, w, s.urls[0], progressInbox(&got))
	token := "cut-" + randomKey()
	if err := <-startCount(t, cs, 5, 50, token); err != nil {
		t.Fatalf("count across the cut: %v", err)
	}
	events := callStream(t, w, "demo__count", 0)
	stream, _, _ := strings.Cut(events[0].ID, ":")
	checkResumed(t, w, eventLog(t, s.suite, cs.ID(), stream), got.all(), countProgress(token, 5))
}

// testServerCloseStream runs the tool that makes the gateway end the
// call's stream on purpose (SSE polling, SEP-1699): the client resumes it
// on the other replica after the retry delay and gets the result.
func testServerCloseStream(t *testing.T, s suiteInfo) {
	w := newWire(t, s.urls)
	w.setRoute(pinCalls)
	cs := goClient(t, w, s.urls[0], nil)
	txt, isErr := callText(t, cs, "test_reconnection", nil)
	want := "Reconnection test completed successfully. If you received this, " +
		"the client properly reconnected after stream closure."
	if txt != want || isErr {
		t.Errorf("test_reconnection = %q (isError %v), want %q", txt, isErr, want)
	}
	var post *exchange
	resumed := 0
	for _, x := range w.exchanges() {
		if x.RPC.Method == "tools/call" {
			post = &x
		}
		if x.Method == http.MethodGet && x.LastEventID != "" && x.Host == w.hosts[1] {
			resumed++
		}
	}
	if post == nil || post.Cut || methodsOf(post.Events) != nil {
		t.Errorf("the POST stream was not ended by the gateway before the response: %+v", post)
	} else if last := post.Events[len(post.Events)-1]; last.Retry != "10" {
		// The tool asks for 10ms (CloseStream.retry_ms); only zero means
		// the gateway's own default.
		t.Errorf("the gateway ended the stream with retry %q, want the tool's 10", last.Retry)
	}
	if resumed != 1 {
		t.Errorf("%d resuming GETs on the other replica, want 1:\n%s", resumed, describe(w.exchanges()))
	}
}

// testHeartbeat checks that idle streams carry SSE comments: the
// standalone stream, and a call's stream while the tool is silent.
func testHeartbeat(t *testing.T, s suiteInfo) {
	w := newWire(t, s.urls)
	session := rawSession(t, w, s.urls[0], `{}`)
	if n := standaloneHeartbeats(t, w, s.urls[1], session, 2); n < 2 {
		t.Errorf("the standalone stream ended after %d heartbeats, want 2", n)
	}

	msgs := rawRPC(t, w, s.urls[0], session, `{"jsonrpc":"2.0","id":1,"method":"tools/call",`+
		`"params":{"name":"demo__sleep","arguments":{"ms":700}}}`)
	if len(msgs) != 1 || len(msgs[0].Result) == 0 {
		t.Fatalf("sleep: %+v", msgs)
	}
	comments := 0
	for _, x := range w.exchanges() {
		if x.RPC.Method != "tools/call" {
			continue
		}
		for _, ev := range x.Events {
			if ev.Comment == "heartbeat" {
				comments++
			}
		}
	}
	if comments < 2 {
		t.Errorf("%d heartbeats during a silent 700ms call, 200ms apart; want 2 or more", comments)
	}
}

// standaloneHeartbeats opens the session's standalone stream and reads
// it until want heartbeat comments came, or it ended; it returns how
// many came.
func standaloneHeartbeats(t *testing.T, w *wire, url, session string, want int) int {
	t.Helper()
	resp := rawSend(t, w, http.MethodGet, url, session, "", nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for n < want && sc.Scan() {
		if sc.Text() == ": heartbeat" {
			n++
		}
	}
	return n
}
