package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// hashed is what exposedName makes of a name it must shorten or clean:
// the cleaned head and 8 hex digits of the full name's SHA-256.
func hashed(head, full string) string {
	sum := sha256.Sum256([]byte(full))
	return head + "_" + hex.EncodeToString(sum[:])[:8]
}

func TestExposedName(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name, prefix, tool, want string
	}{
		{"bare", "", "echo", "echo"},
		{"prefixed", "demo", "echo", "demo__echo"},
		{"dots and dashes kept", "p", "files.read-all", "p__files.read-all"},
		{"exactly 64", "", strings.Repeat("b", 64), strings.Repeat("b", 64)},
		{"65 shortened", "", strings.Repeat("b", 65),
			hashed(strings.Repeat("b", 55), strings.Repeat("b", 65))},
		{"long with prefix", "pre", long, hashed("pre__"+long[:50], "pre__"+long)},
		{"space replaced", "", "get weather", hashed("get_weather", "get weather")},
		{"slash replaced", "p", "a/b", hashed("p__a_b", "p__a/b")},
		{"non-ASCII replaced by one _ each", "", "café", hashed("caf_", "café")},
		{"underscore form of a replaced name", "", "get_weather", "get_weather"},
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := exposedName(tc.prefix, tc.tool)
			if got != tc.want {
				t.Errorf("exposedName(%q, %q) = %q, want %q", tc.prefix, tc.tool, got, tc.want)
			}
			if !valid.MatchString(got) {
				t.Errorf("exposedName(%q, %q) = %q, outside the tool-name rules",
					tc.prefix, tc.tool, got)
			}
		})
	}
	// Names alike in their first 55 characters stay apart.
	if exposedName("", long+"x") == exposedName("", long+"y") {
		t.Error("two long names with one head map to one exposed name")
	}
}

// TestShortenedNamesRoute registers tools and prompts whose names need
// shortening or cleaning, and calls them by their exposed names.
func TestShortenedNamesRoute(t *testing.T) {
	f := startRegistry(t)
	long := "summarise_" + strings.Repeat("x", 60)
	prompt := &providerv1.Prompt{Name: "plan trip", DefinitionJson: `{"name":"plan trip"}`}
	p := startProvider(t, &testProvider{name: "p", tools: tools(long, "get weather"),
		prompts: []*providerv1.Prompt{prompt}})
	f.register(t, p, nil, 0)

	wantTools := map[string]string{
		hashed(("p__" + long)[:55], "p__"+long):    long,
		hashed("p__get_weather", "p__get weather"): "get weather",
	}
	for _, ct := range f.listAll(t) {
		exposed := ct.GetTool().GetName()
		own, ok := wantTools[exposed]
		if !ok || ct.GetProviderToolName() != own {
			t.Errorf("catalogue has %q for %q", exposed, ct.GetProviderToolName())
			continue
		}
		res, err := f.call(t.Context(), &registryv1.CallToolRequest{Name: exposed})
		if err != nil {
			t.Fatalf("call %q: %v", exposed, err)
		}
		if want := `"text":"p:` + own + `"`; !strings.Contains(res.GetContentJson(), want) {
			t.Errorf("call %q reached %s, want the provider's %q", exposed, res.GetContentJson(), own)
		}
	}

	exposedPrompt := hashed("p__plan_trip", "p__plan trip")
	resp, err := f.client.GetPrompt(t.Context(), &registryv1.GetPromptRequest{Name: exposedPrompt})
	if err != nil {
		t.Fatalf("get prompt %q: %v", exposedPrompt, err)
	}
	if !strings.Contains(resp.GetResultJson(), "p:plan trip:") {
		t.Errorf("prompt %q reached %s, want the provider's %q", exposedPrompt,
			resp.GetResultJson(), "plan trip")
	}
}

// TestShortenedNameCollisions checks that a shortened name that meets
// another name is refused like any collision.
func TestShortenedNameCollisions(t *testing.T) {
	f := startRegistry(t)
	empty := ""
	a := startProvider(t, &testProvider{name: "a", tools: tools("get weather")})
	f.register(t, a, &empty, 0)
	// b names a tool exactly as a's is exposed.
	b := startProvider(t, &testProvider{name: "b", tools: tools(exposedName("", "get weather"))})
	_, err := f.client.RegisterProvider(t.Context(), regReq("b", b.addr, &empty, 0))
	wantCode(t, err, codes.FailedPrecondition, `from provider "b"`, `from provider "a"`,
		`(tool "get weather")`)

	// Within one provider the clash is named by both tools.
	c := startProvider(t, &testProvider{name: "c",
		tools: tools("get weather", exposedName("", "get weather"))})
	_, err = f.client.RegisterProvider(t.Context(), regReq("c", c.addr, &empty, 0))
	wantCode(t, err, codes.InvalidArgument, `tools "get weather" and`, "are both exposed as")
}
