package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestUpstreamEverythingOverStdio federates the official everything
// server, run by the registry as a stdio process, under the prefix
// "every": its tools are listed as every__<tool>, and its echo tool
// answers a client of either protocol generation.
func TestUpstreamEverythingOverStdio(t *testing.T) {
	s := upstreamSuite(t, 1, []upstreamDecl{everythingDecl(t, "everything", "every")})
	urls := s.MCPURLs()

	w := newWire(t, urls)
	session := goClient(t, w, urls[0], nil)
	names := waitListed(t, session, []string{"every__echo", "every__get-sum"}, true)
	for _, n := range names {
		if !strings.HasPrefix(n, "every__") && !strings.HasPrefix(n, "demo__") {
			t.Errorf("tool %q has neither the upstream's prefix nor the provider's", n)
		}
	}
	wantText(t, session, "every__echo", map[string]any{"message": "hello over 2025-11-25"},
		"Echo: hello over 2025-11-25")

	stateless := statelessClient(t, w, urls[0], nil)
	if got := listToolNames(t, stateless); !slices.Equal(got, names) {
		t.Errorf("stateless tools/list %q, want the session's %q", got, names)
	}
	wantText(t, stateless, "every__echo", map[string]any{"message": "hello over 2026-07-28"},
		"Echo: hello over 2026-07-28")
	wantText(t, stateless, "every__get-sum", map[string]any{"a": 2, "b": 40},
		"The sum of 2 and 40 is 42.")
}
