package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestUpstreamSideBySide serves a stdio upstream (the everything server),
// an HTTP upstream (a Go SDK server in the test process) and the gRPC
// demo provider in one catalogue, and calls a tool of each.
func TestUpstreamSideBySide(t *testing.T) {
	web := startGoUpstream(t, "web", false, nil)
	s := upstreamSuite(t, 2, []upstreamDecl{
		everythingDecl(t, "everything", "every"),
		httpDecl("web", "web", web.URL()),
	})
	urls := s.MCPURLs()
	cs := goClient(t, newWire(t, urls), urls[0], nil)

	waitListed(t, cs, []string{"every__echo", "web__whoami", "web__nap", "demo__echo"}, true)
	wantText(t, cs, "every__echo", map[string]any{"message": "from stdio"}, "Echo: from stdio")
	wantText(t, cs, "web__whoami", map[string]any{}, "I am web")
	wantText(t, cs, "demo__echo", map[string]any{"text": "from grpc"}, "from grpc")
}

// TestUpstreamClash declares a second upstream whose tools have the names
// of the first's under the same empty prefix: the registry refuses it and
// says why, the first keeps serving, and the second, given a prefix of
// its own, serves beside it.
func TestUpstreamClash(t *testing.T) {
	first := startGoUpstream(t, "first", false, nil)
	second := startGoUpstream(t, "second", false, nil)
	s := upstreamSuite(t, 1, []upstreamDecl{httpDecl("first", "", first.URL())})
	urls := s.MCPURLs()
	cs := goClient(t, newWire(t, urls), urls[0], nil)
	waitListed(t, cs, []string{"whoami", "nap"}, true)

	if code, body := admin(t, s, http.MethodPost, "/v1/upstreams", "",
		httpDecl("second", "", second.URL())); code != http.StatusOK {
		t.Fatalf("add the second upstream: %d %s", code, body)
	}
	st := waitHealth(t, s, "second", "", "refused for the collision", func(st upstreamStatus) bool {
		return st.Health.State == "refused" && strings.Contains(st.Health.Reason, "collides")
	})
	if st.Source != "api" {
		t.Errorf("source %q, want api", st.Source)
	}
	for _, want := range []string{`provider "first"`, `provider "second"`} {
		if !strings.Contains(st.Health.Reason, want) {
			t.Errorf("reason %q does not name %s", st.Health.Reason, want)
		}
	}
	wantText(t, cs, "whoami", map[string]any{}, "I am first")

	if code, body := admin(t, s, http.MethodPost, "/v1/upstreams", "",
		httpDecl("second", "second", second.URL())); code != http.StatusOK {
		t.Fatalf("replace the second upstream: %d %s", code, body)
	}
	waitListed(t, cs, []string{"whoami", "second__whoami", "second__nap"}, true)
	waitHealth(t, s, "second", "", "up", func(st upstreamStatus) bool {
		return st.Health.State == "up"
	})
	wantText(t, cs, "whoami", map[string]any{}, "I am first")
	wantText(t, cs, "second__whoami", map[string]any{}, "I am second")
}
