package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/suite"
)

// TestTypeScriptSDKFeatures runs tsclient/features.mjs, the official
// TypeScript SDK client driving every feature, against two replicas. The
// client talks to a reverse proxy in the test whose transport is a wire:
// tool calls go to the first replica, what answers, cancels or resumes
// them to the second, every message the gateways emit is validated, and
// one call's stream is cut after its second progress.
func TestTypeScriptSDKFeatures(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the TypeScript SDK client needs it")
	}
	dir := filepath.Join(root, "e2e", "tsclient")
	sdk := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")
	if _, err := os.Stat(sdk); err != nil {
		t.Fatalf("the TypeScript SDK is not installed in %s: run make tsdeps", dir)
	}
	s := featureSuite(t)
	w := newWire(t, s.MCPURLs())
	w.setRoute(pinCalls)
	w.setCut(func(x *exchange, ev sseEvent) bool {
		m, ok := ev.message()
		return ok && x.RPC.Method == "tools/call" &&
			strings.Contains(string(x.RPC.Params), `"steps":4`) &&
			m.Method == "notifications/progress" && strings.Contains(string(m.Params), `"progress":2,`)
	})
	proxy := proxyTo(t, w, s.MCPURLs()[0])

	out := runTSFeatures(t, node, dir, proxy+"/mcp", func() {
		_, err := s.AddProvider(t.Context(), suite.Provider{Name: "extra"})
		if err != nil {
			t.Errorf("add provider: %v", err)
		}
	})
	if string(out["protocolVersion"]) != `"`+protocolVersion+`"` {
		t.Errorf("negotiated protocol %s, want %s", out["protocolVersion"], protocolVersion)
	}
	for _, c := range tsChecks {
		t.Run(c.step, func(t *testing.T) {
			raw := out[c.step]
			var failed struct{ Error string }
			if json.Unmarshal(raw, &failed) == nil && failed.Error != "" {
				t.Fatalf("step failed in the client: %s", failed.Error)
			}
			c.check(t, raw)
		})
	}
	t.Run("wire", func(t *testing.T) {
		checkAnswersCrossed(t, w, 4)
		checkProgressTokens(t, w)
		// The session, and so its event log, is gone: check the order.
		checkOrdered(t, callStream(t, w, "demo__count", 1))
		cut := false
		for _, x := range w.exchanges() {
			cut = cut || x.Cut
		}
		if !cut {
			t.Error("the wire never cut the count call's stream")
		}
	})
	t.Logf("client transport errors: %s", out["transportErrors"])
}

// proxyTo serves a reverse proxy on loopback whose transport is w, and
// returns its base URL.
func proxyTo(t *testing.T, w *wire, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = ""
	srv := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     w,
		FlushInterval: -1,
		// A cut stream is the point of some tests, not worth a line.
		ErrorLog: log.New(io.Discard, "", 0),
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

// runTSFeatures runs features.mjs, calls onAwait when the script waits
// for a provider, and returns the script's result by step.
func runTSFeatures(t *testing.T, node, dir, mcpURL string,
	onAwait func()) map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "features.mjs", mcpURL)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	var last []byte
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if sc.Text() == `{"await":"provider"}` {
			onAwait()
			io.WriteString(stdin, "go\n")
			continue
		}
		last = slices.Clone(sc.Bytes())
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node features.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(last, &out); err != nil {
		t.Fatalf("decode client output: %v\n%s\nstderr:\n%s", err, last, stderr.String())
	}
	return out
}

// checkProgressTokens checks that every progress notification on a
// call's stream carries the progress token of the call's request, byte
// for byte.
func checkProgressTokens(t *testing.T, w *wire) {
	t.Helper()
	tokens := map[string]string{} // stream -> token
	n := 0
	for _, x := range w.exchanges() {
		var p struct {
			Meta struct{ ProgressToken json.RawMessage } `json:"_meta"`
		}
		json.Unmarshal(x.RPC.Params, &p)
		if x.RPC.Method == "tools/call" && len(x.Events) > 0 && p.Meta.ProgressToken != nil {
			stream, _, _ := strings.Cut(x.Events[0].ID, ":")
			tokens[stream] = compact(p.Meta.ProgressToken)
		}
	}
	for _, x := range w.exchanges() {
		for _, ev := range x.Events {
			m, ok := ev.message()
			if !ok || m.Method != "notifications/progress" {
				continue
			}
			n++
			var p struct{ ProgressToken json.RawMessage }
			json.Unmarshal(m.Params, &p)
			stream, _, _ := strings.Cut(ev.ID, ":")
			if got := compact(p.ProgressToken); got != tokens[stream] {
				t.Errorf("progress on stream %s has token %s, want the request's %s", stream, got,
					tokens[stream])
			}
		}
	}
	if n == 0 {
		t.Error("no progress notification on the wire")
	}
}

// tsCheck checks one step of features.mjs.
type tsCheck struct {
	step  string
	check func(t *testing.T, raw json.RawMessage)
}

// wantJSON fails the test unless raw holds the same JSON as want.
func wantJSON(want string) func(t *testing.T, raw json.RawMessage) {
	return func(t *testing.T, raw json.RawMessage) {
		t.Helper()
		if !sameJSON(want, string(raw)) {
			t.Errorf("got  %s\nwant %s", raw, want)
		}
	}
}

var tsChecks = []tsCheck{
	{"tools", func(t *testing.T, raw json.RawMessage) {
		var got struct {
			Names           []string
			Echo            json.RawMessage
			MetaIcons       json.RawMessage
			AddOutputSchema bool
		}
		json.Unmarshal(raw, &got)
		for _, want := range slices.Concat(demoTools, conformanceTools) {
			if !slices.Contains(got.Names, want) {
				t.Errorf("tools lack %s: %q", want, got.Names)
			}
		}
		wantJSON(`{"title":"Echo",`+
			`"annotations":{"readOnlyHint":true,"openWorldHint":false}}`)(t, got.Echo)
		wantJSON(`[{"src":"`+metaIcon+`","mimeType":"image/gif","sizes":["1x1"]}]`)(t, got.MetaIcons)
		if !got.AddOutputSchema {
			t.Error("demo__add has no outputSchema")
		}
	}},
	{"content", wantJSON(`{
		"image": {"type": "image", "mimeType": "image/png", "head": "\u0089PNG"},
		"audio": {"type": "audio", "mimeType": "audio/wav", "head": "RIFF"},
		"link": {"type": "resource_link", "uri": "test://static-text", "name": "linked",
			"mimeType": "text/plain"},
		"embedded": {"type": "resource", "resource": {"uri": "test://embedded-resource",
			"mimeType": "text/plain", "text": "This is an embedded resource content."}},
		"add": {"text": ["{\"sum\":42}"], "structuredContent": {"sum": 42}},
		"meta": {"text": ["{\"traceparent\":\"` + traceparent + `\"}"],
			"resultMeta": {"traceparent": "` + traceparent + `"}}}`)},
	{"resources", wantJSON(`{
		"uris": ["test://static-binary", "test://static-text", "test://watched-resource"],
		"templates": ["test://template/{id}/data"],
		"text": "This is the content of the static text resource.",
		"blob": {"mimeType": "image/png", "head": "\u0089PNG"},
		"templated": "{\"id\":\"7\",\"templateTest\":true,\"data\":\"Data for ID: 7\"}"}`)},
	{"prompts", wantJSON(`{
		"names": ["test_input_required_result_prompt", "test_prompt_with_arguments",
			"test_prompt_with_embedded_resource", "test_prompt_with_image", "test_simple_prompt"],
		"text": ["Prompt with arguments: arg1='a', arg2='b'"],
		"imageTypes": ["image", "text"],
		"promptCompletion": ["paris", "park", "party"],
		"templateCompletion": ["123"]}`)},
	{"logging", wantJSON(`{"text": ["logged 8 messages"],
		"levels": ["error", "critical", "alert", "emergency"]}`)},
	{"progress", func(t *testing.T, raw json.RawMessage) {
		var got struct {
			Text     []string
			Progress []struct {
				Progress, Total float64
				Message         string
			}
		}
		json.Unmarshal(raw, &got)
		// The SDK's token is its request id: the tool echoes it.
		if len(got.Text) != 1 || strings.Trim(got.Text[0], "0123456789") != "" {
			t.Errorf("tool saw token %q, want the SDK's numeric one", got.Text)
		}
		var steps []float64
		for _, p := range got.Progress {
			steps = append(steps, p.Progress)
		}
		if diff := cmp.Diff([]float64{0, 50, 100}, steps); diff != "" {
			t.Errorf("progress (-want +got):\n%s", diff)
		}
	}},
	{"clientRequests", wantJSON(`{
		"sampling": ["LLM response: echo: What is 2+2?"],
		"elicitation": ["User response: action=accept, ` +
		`content={\"username\":\"ts\",\"email\":\"ts@example.com\"}"],
		"declined": ["Elicitation completed: action=decline, content={}"],
		"roots": ["[{\"uri\":\"file:///ts/project\",\"name\":\"project\"}]"]}`)},
	{"cancel", func(t *testing.T, raw json.RawMessage) {
		var got struct {
			Aborted string
			Seen    json.RawMessage
		}
		json.Unmarshal(raw, &got)
		if got.Aborted == "" || !sameJSON(`{"cancelled":true}`, string(got.Seen)) {
			t.Errorf("cancel = %s, want the call aborted and the provider to see it", raw)
		}
	}},
	{"subscribe", wantJSON(`{"updated": ["test://static-text"]}`)},
	{"resumeCut", wantJSON(`{"text": ["counted 4"], "progress": [1, 2, 3, 4]}`)},
	{"resumeClosed", wantJSON(`{"text": ["Reconnection test completed successfully. If you received ` +
		`this, the client properly reconnected after stream closure."]}`)},
	{"listChanged", func(t *testing.T, raw json.RawMessage) {
		var got struct{ Extra []string }
		json.Unmarshal(raw, &got)
		for _, want := range demoTools {
			want = "extra__" + strings.TrimPrefix(want, "demo__")
			if !slices.Contains(got.Extra, want) {
				t.Errorf("after list_changed, tools lack %s: %q", want, got.Extra)
			}
		}
	}},
}
