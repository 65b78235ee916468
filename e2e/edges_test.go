package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// replay resumes a session stream after lastEventID and returns the data
// of every event until the stream ends.
func replay(t *testing.T, w *wire, url, session, lastEventID string) (int, []string) {
	t.Helper()
	resp := rawSend(t, w, http.MethodGet, url, session, "",
		map[string]string{"Last-Event-ID": lastEventID})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "" {
			out = append(out, data)
		}
	}
	return resp.StatusCode, out
}

// testResumeEdges finishes a call, then resumes its stream after each of
// its events on alternating replicas: each replay holds exactly the
// events after that one, byte for byte, and ends; after the response it
// holds nothing. Last-Event-IDs the gateway never issued are refused.
func testResumeEdges(t *testing.T, urls []string) {
	w := newWire(t, urls)
	session := rawSession(t, w, urls[0], `{}`)
	rawRPC(t, w, urls[0], session, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`+
		`{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"edges"}}}`)
	events := callStream(t, w, "test_tool_with_progress", 0)
	if len(events) != 5 {
		t.Fatalf("%d events on the call's stream, want priming, 3 progress, response: %+v",
			len(events), events)
	}
	for k, ev := range events {
		status, got := replay(t, w, urls[k%len(urls)], session, ev.ID)
		var want []string
		for _, later := range events[k+1:] {
			want = append(want, later.Data)
		}
		if diff := cmp.Diff(want, got); diff != "" || status != http.StatusOK {
			t.Errorf("resume after %s: status %d, events (-want +got):\n%s", ev.ID, status, diff)
		}
	}
	for _, bad := range []string{"nonsense", "no/such:1", ":1"} {
		if status, _ := replay(t, w, urls[0], session, bad); status != http.StatusBadRequest {
			t.Errorf("resume after %q: status %d, want 400", bad, status)
		}
	}
}

// testStrayMessages sends answers to requests the server never made, and
// a cancellation of a request that does not run: each is accepted and
// dropped (a client must not learn what other sessions run), and the
// session goes on.
func testStrayMessages(t *testing.T, urls []string) {
	w := newWire(t, urls)
	session := rawSession(t, w, urls[0], `{}`)
	for i, body := range []string{
		`{"jsonrpc":"2.0","id":"sb/nobody/1/1","result":{}}`,
		`{"jsonrpc":"2.0","id":"not-ours","result":{"roots":[]}}`,
		`{"jsonrpc":"2.0","id":42,"error":{"code":-32603,"message":"no"}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}}`,
	} {
		resp := rawSend(t, w, http.MethodPost, urls[i%len(urls)], session, body, nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s: status %d, want 202", body, resp.StatusCode)
		}
	}
	msgs := rawRPC(t, w, urls[1], session, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if len(msgs) != 1 || string(msgs[0].Result) != "{}" {
		t.Errorf("ping after stray messages: %+v", msgs)
	}
}

// testJSONOnlyCalls calls tools from a client that accepts only JSON:
// the call is bound to its request, so the answer is one JSON response,
// its progress is dropped and its requests to the client are refused.
func testJSONOnlyCalls(t *testing.T, urls []string) {
	w := newWire(t, urls)
	session := rawSession(t, w, urls[0], `{"sampling":{}}`)
	for _, tc := range []struct {
		body, want string
		isError    bool
	}{
		{`{"name":"demo__echo","arguments":{"text":"json"}}`, "json", false},
		{`{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"j"}}`, "j", false},
		{`{"name":"test_sampling","arguments":{"prompt":"q"}}`,
			"sampling failed: client error -32603: this call has no stream to the client", true},
	} {
		resp := rawSend(t, w, http.MethodPost, urls[1], session,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`+tc.body+`}`,
			map[string]string{"Accept": "application/json"})
		defer resp.Body.Close()
		ct := resp.Header.Get("Content-Type")
		msgs := readMessages(t, resp)
		var r struct {
			Content []struct{ Text string }
			IsError bool
		}
		if len(msgs) == 1 {
			json.Unmarshal(msgs[0].Result, &r)
		}
		if ct != "application/json" || len(r.Content) != 1 || r.Content[0].Text != tc.want ||
			r.IsError != tc.isError {
			t.Errorf("%s: %s %+v, want one JSON result %q (isError %v)", tc.body, ct, msgs,
				tc.want, tc.isError)
		}
	}
}

// testStandaloneTakeover opens the session's standalone stream on one
// replica, then again on the other: the older stream ends, and a
// notification goes to the newer one only (MCP: each message goes to one
// stream).
func testStandaloneTakeover(t *testing.T, urls []string) {
	w := newWire(t, urls)
	session := rawSession(t, w, urls[0], `{}`)
	rawRPC(t, w, urls[0], session,
		`{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"test://takeover"}}`)
	older := openLines(t, w, urls[0], session)
	older.until(t, "a heartbeat on the older stream", func(l string) bool { return l == ": heartbeat" })
	newer := openLines(t, w, urls[1], session)
	newer.until(t, "a heartbeat on the newer stream", func(l string) bool { return l == ": heartbeat" })
	older.ends(t)

	rawRPC(t, w, urls[0], session, `{"jsonrpc":"2.0","id":2,"method":"tools/call",`+
		`"params":{"name":"demo__touch","arguments":{"uri":"test://takeover"}}}`)
	newer.until(t, "the update on the newer stream", func(l string) bool {
		return strings.Contains(l, `"notifications/resources/updated"`) &&
			strings.Contains(l, `"test://takeover"`)
	})
}

// lineStream reads an SSE response line by line in the background.
type lineStream struct {
	lines chan string // closed when the stream ends
}

// openLines opens the session's standalone stream; the test's end
// closes it.
func openLines(t *testing.T, w *wire, url, session string) *lineStream {
	t.Helper()
	resp := rawSend(t, w, http.MethodGet, url, session, "", nil)
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d", resp.StatusCode)
	}
	ls := &lineStream{lines: make(chan string, 64)}
	go func() {
		defer close(ls.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			ls.lines <- sc.Text()
		}
	}()
	return ls
}

// until reads lines until match holds for one.
func (ls *lineStream) until(t *testing.T, what string, match func(string) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-ls.lines:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if match(l) {
				return
			}
		case <-deadline:
			t.Fatalf("waited 20s for %s", what)
		}
	}
}

// ends waits until the stream ends, failing the test if a message comes
// first.
func (ls *lineStream) ends(t *testing.T) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-ls.lines:
			if !ok {
				return
			}
			if strings.HasPrefix(l, "data: ") {
				t.Errorf("the replaced stream got %s", l)
			}
		case <-deadline:
			t.Fatal("the older standalone stream still runs 20s after a newer one opened")
		}
	}
}
