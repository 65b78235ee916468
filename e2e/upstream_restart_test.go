package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUpstreamKilledMidCall kills an HTTP upstream while a tool call
// runs on it: the caller gets an error soon, not when the call would
// time out. Started again on the same port, the upstream's tools come
// back, and both a session client and a stateless client listening with
// subscriptions/listen hear that the tool list changed.
func TestUpstreamKilledMidCall(t *testing.T) {
	web := startGoUpstream(t, "web", false, nil)
	s := upstreamSuite(t, 2, []upstreamDecl{httpDecl("web", "web", web.URL())})
	urls := s.MCPURLs()
	tools := []string{"web__whoami", "web__nap"}

	var sessionChanged, statelessChanged inbox[string]
	w := newWire(t, urls)
	session := goClient(t, w, urls[0], &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			sessionChanged.add("tools")
		},
	})
	waitListed(t, session, tools, true)
	standaloneOpen(t, w)
	stateless := statelessClient(t, newWire(t, urls), urls[0], &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			statelessChanged.add("tools")
		},
	})

	// The call fails within a generous bound, far below the registry's
	// five-minute call timeout.
	failed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		failed <- callFailure(ctx, session, "web__nap")
	}()
	select {
	case <-web.napping:
	case <-time.After(30 * time.Second):
		t.Fatal("the nap never started on the upstream")
	}
	web.Stop()
	select {
	case err := <-failed:
		// A tool whose server is gone is a tool failure the model can
		// see (isError), not a protocol error.
		if err == nil || !strings.HasPrefix(err.Error(), "isError result") {
			t.Errorf("a call to a killed upstream ended with %v, want an isError result", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a call to a killed upstream still hangs after 30s")
	}

	// The tools leave with the upstream, and both clients hear of it;
	// then they come back with it.
	waitListed(t, session, tools, false)
	for _, c := range []*inbox[string]{&sessionChanged, &statelessChanged} {
		c.wait(t, "tools/list_changed for the upstream's loss", func(got []string) bool {
			return len(got) > 0
		})
	}
	before := []int{len(sessionChanged.all()), len(statelessChanged.all())}
	web.Restart(t)
	waitListed(t, session, tools, true)
	for i, c := range []*inbox[string]{&sessionChanged, &statelessChanged} {
		c.wait(t, "tools/list_changed for the upstream's return", func(got []string) bool {
			return len(got) > before[i]
		})
	}
	wantText(t, session, "web__whoami", map[string]any{}, "I am web")
	if names := listToolNames(t, stateless); !containsAll(names, tools) {
		t.Errorf("stateless tools/list after the change %q lacks %q", names, tools)
	}
}
