package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connectGo opens an MCP session with the official Go SDK client, pinned
// to protocolVersion, sending its requests through rt.
func connectGo(t *testing.T, endpoint string, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "switchboard-e2e-go", Version: "1.0.0"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: rt},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The client asks for the newest revision it knows unless told
	// otherwise; Switchboard serves 2025-11-25.
	opts := &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion}
	cs, err := client.Connect(ctx, transport, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != protocolVersion {
		t.Errorf("negotiated protocol %q, want %q", got, protocolVersion)
	}
	if cs.ID() == "" {
		t.Fatal("no Mcp-Session-Id after initialize")
	}
	return cs
}

// toolCall is one tools/call and the text and error flag it must return.
type toolCall struct {
	name    string
	args    map[string]any
	text    string
	isError bool
}

var demoCalls = []toolCall{
	{"demo__echo", map[string]any{"text": "hello from go"}, "hello from go", false},
	// Past 2^53: the sum survives only if every hop passes JSON verbatim.
	{"demo__add", map[string]any{"a": int64(9007199254740993), "b": int64(2)},
		`{"sum":9007199254740995}`, false},
	{"demo__fail", map[string]any{"message": "boom"}, "boom", true},
}

// callTools runs calls on cs and checks each result.
func callTools(t *testing.T, cs *mcp.ClientSession, calls []toolCall) {
	t.Helper()
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.name, Arguments: c.args})
		cancel()
		if err != nil {
			t.Errorf("call %s: %v", c.name, err)
			continue
		}
		if res.IsError != c.isError {
			t.Errorf("call %s: IsError = %v, want %v", c.name, res.IsError, c.isError)
		}
		if diff := cmp.Diff([]string{c.text}, texts(res.Content)); diff != "" {
			t.Errorf("call %s: text content (-want +got):\n%s", c.name, diff)
		}
	}
}

func texts(content []mcp.Content) []string {
	var out []string
	for _, c := range content {
		if tc, ok := c.(*mcp.TextContent); ok {
			out = append(out, strings.TrimSpace(tc.Text))
		}
	}
	return out
}

// listToolNames returns the names of every tool, following pagination.
func listToolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func TestGoSDKAcrossReplicas(t *testing.T) {
	s := startSuite(t, 2)
	urls := s.MCPURLs()
	sp := newSpreader(t, urls)
	cs := connectGo(t, urls[0], sp)
	sessionID := cs.ID()

	names := listToolNames(t, cs)
	for _, want := range []string{"demo__echo", "demo__add", "demo__fail"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %q", want, names)
		}
	}
	callTools(t, cs, demoCalls)
	checkSpread(t, sp, sessionID)

	if err := cs.Close(); err != nil {
		t.Fatalf("close session: %v", err)
	}
	checkDeleted(t, sp, sessionID)
	checkSessionGone(t, urls, sessionID)
}

// checkDeleted fails the test unless the client ended the session with a
// DELETE that a gateway accepted.
func checkDeleted(t *testing.T, sp *spreader, sessionID string) {
	t.Helper()
	for _, r := range sp.sent() {
		if r.Method == http.MethodDelete && r.SessionID == sessionID && r.Status/100 == 2 {
			return
		}
	}
	t.Errorf("no accepted DELETE for session %s; requests: %+v", sessionID, sp.sent())
}
