package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// TestCallSurvivesReplicaKill kills the replica that streams a tool
// call's answer after the call's second progress. The client resumes the
// stream on the other replica with the id of the last event it got, and
// gets every later progress and the result exactly once: the ids it
// received are those of the session's event log, in order, none twice.
func TestCallSurvivesReplicaKill(t *testing.T) {
	s := startSuiteWith(t, suite.Config{Gateways: 2, ExtraArgs: map[string][]string{
		suite.GatewayBin: {"-sse-retry=100ms"},
	}})
	urls := s.MCPURLs()
	w := newWire(t, urls)
	// Only the call goes to the replica that dies; the standalone stream
	// and the resumption go to the one that lives.
	w.setRoute(func(x *exchange) int {
		if x.RPC.Method == "tools/call" {
			return 0
		}
		return 1
	})
	var got inbox[progress]
	cs := goClient(t, w, urls[1], progressInbox(&got))
	token := "kill-" + randomKey()
	done := startCount(t, cs, 6, 150, token)
	got.wait(t, "two progress notifications", func(p []progress) bool { return len(p) >= 2 })
	s.Gateways[0].Kill()
	if err := <-done; err != nil {
		t.Fatalf("count across the kill: %v", err)
	}
	events := callStream(t, w, "demo__count", 0)
	stream, _, _ := strings.Cut(events[0].ID, ":")
	checkResumed(t, w, eventLog(t, s, cs.ID(), stream), got.all(), countProgress(token, 6))
}

// TestListChanged starts a second provider while two sessions, whose
// standalone streams are open on different replicas, listen: both get
// tools, resources and prompts list_changed, and the new entries are
// listed; when the provider stops, both are told again and the entries
// are gone.
func TestListChanged(t *testing.T) {
	s := startSuiteWith(t, suite.Config{Gateways: 2})
	urls := s.MCPURLs()
	type listener struct {
		w       *wire
		cs      *mcp.ClientSession
		changed *inbox[string]
	}
	var ls []listener
	for i := range urls {
		w := newWire(t, urls)
		// Each session keeps its standalone stream on a replica of its own.
		w.setRoute(func(x *exchange) int {
			if x.Method == "GET" {
				return i
			}
			return -1
		})
		changed := &inbox[string]{}
		note := func(kind string) { changed.add(kind) }
		cs := goClient(t, w, urls[i], &mcp.ClientOptions{
			ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { note("tools") },
			ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) {
				note("resources")
			},
			PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) {
				note("prompts")
			},
		})
		standaloneOpen(t, w)
		ls = append(ls, listener{w, cs, changed})
	}

	prefix := "extra"
	p, err := s.AddProvider(t.Context(), suite.Provider{Name: "extra",
		Bin: suite.ConformanceProviderBin, Prefix: &prefix})
	if err != nil {
		t.Fatalf("add provider: %v", err)
	}
	for i, l := range ls {
		checkChanged(t, i, l.changed, 3)
		checkListed(t, l.cs, true)
	}

	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("stop provider: %v", err)
	}
	for i, l := range ls {
		checkChanged(t, i, l.changed, 6)
		checkListed(t, l.cs, false)
		checkBroadcasts(t, l.w)
	}
}

// checkChanged waits for a session's n-th list_changed and checks that
// they came in rounds of tools, resources and prompts.
func checkChanged(t *testing.T, i int, changed *inbox[string], n int) {
	t.Helper()
	got := changed.wait(t, "list_changed notifications", func(k []string) bool { return len(k) >= n })
	var want []string
	for range n / 3 {
		want = append(want, "prompts", "resources", "tools")
	}
	for r := 0; r < len(got); r += 3 {
		slices.Sort(got[r:min(r+3, len(got))])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("session %d: list_changed kinds (-want +got):\n%s", i, diff)
	}
}

// checkListed checks that the extra provider's entries are listed, or
// not.
func checkListed(t *testing.T, cs *mcp.ClientSession, want bool) {
	t.Helper()
	var tools, prompts, resources []string
	for tool, err := range cs.Tools(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		tools = append(tools, tool.Name)
	}
	for p, err := range cs.Prompts(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list prompts: %v", err)
		}
		prompts = append(prompts, p.Name)
	}
	for r, err := range cs.Resources(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list resources: %v", err)
		}
		resources = append(resources, r.URI)
	}
	for _, c := range []struct {
		list []string
		name string
	}{
		{tools, "extra__test_simple_text"}, {prompts, "extra__test_simple_prompt"},
		{resources, "test://static-text"}, {tools, "demo__echo"},
	} {
		if slices.Contains(c.list, c.name) != (want || c.name == "demo__echo") {
			t.Errorf("listed %q; want %s listed: %v", c.list, c.name, want)
		}
	}
}

// checkBroadcasts checks that list_changed came on the standalone stream
// without event ids: broadcasts are not logged, so they cannot be resumed.
func checkBroadcasts(t *testing.T, w *wire) {
	t.Helper()
	n := 0
	for _, x := range w.exchanges() {
		for _, ev := range x.Events {
			m, ok := ev.message()
			if !ok || !strings.HasSuffix(m.Method, "/list_changed") {
				continue
			}
			n++
			if x.Method != "GET" || x.LastEventID != "" || ev.HasID {
				t.Errorf("%s on %s (Last-Event-ID %q) with id %q, want the standalone stream, no id",
					m.Method, x.Method, x.LastEventID, ev.ID)
			}
		}
	}
	if n != 6 {
		t.Errorf("%d list_changed on the wire, want 6", n)
	}
}
