package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// TestFeatures drives the whole MCP 2025-11-25 server surface through
// two gateway replicas with the official Go SDK client: every request
// goes to the next replica in turn unless a subtest pins it, and every
// message the gateways emit is validated against the official schema.
// The subtests share one suite; none changes the catalogue.
func TestFeatures(t *testing.T) {
	s := suiteInfo{suite: featureSuite(t)}
	s.urls = s.suite.MCPURLs()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s suiteInfo)
	}{
		{"tools/list", byURLs(testToolsList)},
		{"tools/call content", byURLs(testToolContent)},
		{"tools/call _meta", byURLs(testToolMeta)},
		{"resources/list", byURLs(testResourceLists)},
		{"resources/read", byURLs(testResourceReads)},
		{"resources/subscribe", byURLs(testSubscribe)},
		{"prompts/list", byURLs(testPromptList)},
		{"prompts/get", byURLs(testPromptGet)},
		{"completion/complete", byURLs(testComplete)},
		{"bad cursor", byURLs(testBadCursor)},
		{"progress", byURLs(testProgress)},
		{"logging", byURLs(testLogging)},
		{"sampling, elicitation, roots", byURLs(testClientRequests)},
		{"missing capability", byURLs(testMissingCapability)},
		{"cancel", byURLs(testCancel)},
		{"cancel withdraws requests", byURLs(testCancelWithdrawsRequests)},
		{"resume a cut stream", testResumeCut},
		{"resume a stream the gateway closed", testServerCloseStream},
		{"heartbeats", testHeartbeat},
		{"resume after each event", byURLs(testResumeEdges)},
		{"stray messages", byURLs(testStrayMessages)},
		{"standalone stream takeover", byURLs(testStandaloneTakeover)},
		{"JSON-only tool calls", byURLs(testJSONOnlyCalls)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

// suiteInfo is what TestFeatures' subtests get: the running suite and its
// MCP endpoints.
type suiteInfo struct {
	suite *suite.Suite
	urls  []string
}

// byURLs adapts a subtest that needs only the endpoints.
func byURLs(f func(t *testing.T, urls []string)) func(t *testing.T, s suiteInfo) {
	return func(t *testing.T, s suiteInfo) { f(t, s.urls) }
}

// demoTools and conformanceTools are tools of featureSuite's catalogue.
var (
	demoTools = []string{"demo__add", "demo__cancelled", "demo__count", "demo__echo", "demo__fail",
		"demo__link", "demo__log", "demo__meta", "demo__roots", "demo__sleep", "demo__touch",
		"demo__weather"}
	conformanceTools = []string{"json_schema_2020_12_tool", "test_audio_content",
		"test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums",
		"test_embedded_resource", "test_error_handling", "test_image_content",
		"test_multiple_content_types", "test_reconnection", "test_sampling", "test_simple_text",
		"test_tool_with_logging", "test_tool_with_progress"}
)

func testToolsList(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	byName := map[string]*mcp.Tool{}
	var names []string
	for tool, err := range cs.Tools(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		names = append(names, tool.Name)
		byName[tool.Name] = tool
	}
	// Other tools may join the demo provider; these must be there, and
	// the whole list ordered by name, each once.
	for _, want := range slices.Concat(demoTools, conformanceTools) {
		if byName[want] == nil {
			t.Errorf("tools/list lacks %s", want)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("tools/list is not ordered by name without repeats: %q", names)
	}

	echo := byName["demo__echo"]
	if echo == nil || echo.Title != "Echo" || echo.Annotations == nil ||
		echo.Annotations.ReadOnlyHint != true || echo.Annotations.OpenWorldHint == nil ||
		*echo.Annotations.OpenWorldHint {
		t.Errorf("demo__echo = %+v, want title Echo, read-only and closed-world annotations", echo)
	}
	if add := byName["demo__add"]; add == nil || add.OutputSchema == nil {
		t.Errorf("demo__add has no output schema: %+v", add)
	}
	// The JSON of the declarations passes every hop verbatim.
	raw := listedTools(t, w)
	wantIcons := `[{"src":"` + metaIcon + `","mimeType":"image/gif","sizes":["1x1"]}]`
	if got := compact(raw["demo__meta"]["icons"]); got != wantIcons {
		t.Errorf("demo__meta icons = %s, want %s", got, wantIcons)
	}
	schema := string(raw["json_schema_2020_12_tool"]["inputSchema"])
	for _, want := range []string{`"$schema":"https://json-schema.org/draft/2020-12/schema"`,
		`"$anchor":"addressDef"`, `"$ref":"#/$defs/address"`, `"additionalProperties":false`} {
		if !strings.Contains(schema, want) {
			t.Errorf("json_schema_2020_12_tool inputSchema lacks %s: %s", want, schema)
		}
	}
	checkPaged(t, w, "tools/list", (len(names)+2)/3)
}

// metaIcon is the demo meta tool's icon.
const metaIcon = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

// listedTools returns the raw JSON of every tool that tools/list
// results on the wire carried, by name and member.
func listedTools(t *testing.T, w *wire) map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	for _, m := range results(w, "tools/list") {
		var r struct{ Tools []map[string]json.RawMessage }
		if err := json.Unmarshal(m.Result, &r); err != nil {
			t.Fatalf("decode tools/list result: %v", err)
		}
		for _, tool := range r.Tools {
			var name string
			json.Unmarshal(tool["name"], &name)
			out[name] = tool
		}
	}
	return out
}

// results returns the messages answering the client's requests of the
// given method, in the order they arrived.
func results(w *wire, method string) []rpcMessage {
	var out []rpcMessage
	for _, x := range w.exchanges() {
		if x.RPC.Method != method || x.Kind != "request" {
			continue
		}
		for _, ev := range x.Events {
			if m, ok := ev.message(); ok && compact(m.ID) == compact(x.RPC.ID) {
				out = append(out, m)
			}
		}
	}
	return out
}

// checkPaged checks that listing took pages pages, each after the first
// sent with the cursor the previous one returned, and that both replicas
// served some.
func checkPaged(t *testing.T, w *wire, method string, pages int) {
	t.Helper()
	served := map[string]bool{}
	var cursors, nexts []string
	for _, x := range w.exchanges() {
		if x.RPC.Method != method {
			continue
		}
		served[x.Host] = true
		var p struct{ Cursor string }
		json.Unmarshal(x.RPC.Params, &p)
		cursors = append(cursors, p.Cursor)
	}
	for _, m := range results(w, method) {
		var r struct{ NextCursor string }
		json.Unmarshal(m.Result, &r)
		nexts = append(nexts, r.NextCursor)
	}
	if len(cursors) != pages || len(nexts) != pages {
		t.Fatalf("%s: %d requests, %d results, want %d pages", method, len(cursors), len(nexts), pages)
	}
	if diff := cmp.Diff(append([]string{""}, nexts[:pages-1]...), cursors); diff != "" {
		t.Errorf("%s cursors sent, want each page's nextCursor (-want +got):\n%s", method, diff)
	}
	if nexts[pages-1] != "" {
		t.Errorf("%s: the last page has nextCursor %q", method, nexts[pages-1])
	}
	if pages > 1 && len(served) != len(w.hosts) {
		t.Errorf("%s pages were served by %v only", method, served)
	}
}

// contentCheck checks one tools/call result.
type contentCheck struct {
	tool  string
	args  map[string]any
	check func(t *testing.T, res *mcp.CallToolResult)
}

var pngMagic, wavMagic = []byte("\x89PNG\r\n\x1a\n"), []byte("RIFF")

var contentChecks = []contentCheck{
	{"test_simple_text", nil, func(t *testing.T, res *mcp.CallToolResult) {
		want := []string{"This is a simple text response for testing."}
		if diff := cmp.Diff(want, texts(res.Content)); diff != "" {
			t.Errorf("text (-want +got):\n%s", diff)
		}
	}},
	{"test_image_content", nil, func(t *testing.T, res *mcp.CallToolResult) {
		img, ok := onlyBlock[*mcp.ImageContent](t, res.Content)
		if ok && (img.MIMEType != "image/png" || !bytes.HasPrefix(img.Data, pngMagic)) {
			t.Errorf("image %s, %d bytes: want a PNG", img.MIMEType, len(img.Data))
		}
	}},
	{"test_audio_content", nil, func(t *testing.T, res *mcp.CallToolResult) {
		a, ok := onlyBlock[*mcp.AudioContent](t, res.Content)
		if ok && (a.MIMEType != "audio/wav" || !bytes.HasPrefix(a.Data, wavMagic)) {
			t.Errorf("audio %s, %d bytes: want a WAV file", a.MIMEType, len(a.Data))
		}
	}},
	{"demo__link", map[string]any{"uri": "test://static-text"}, func(t *testing.T,
		res *mcp.CallToolResult) {
		l, ok := onlyBlock[*mcp.ResourceLink](t, res.Content)
		if ok && (l.URI != "test://static-text" || l.Name != "linked" || l.MIMEType != "text/plain") {
			t.Errorf("resource link %+v, want test://static-text named linked", l)
		}
	}},
	{"test_embedded_resource", nil, func(t *testing.T, res *mcp.CallToolResult) {
		r, ok := onlyBlock[*mcp.EmbeddedResource](t, res.Content)
		want := &mcp.ResourceContents{URI: "test://embedded-resource", MIMEType: "text/plain",
			Text: "This is an embedded resource content."}
		if ok {
			if diff := cmp.Diff(want, r.Resource); diff != "" {
				t.Errorf("embedded resource (-want +got):\n%s", diff)
			}
		}
	}},
	{"test_multiple_content_types", nil, func(t *testing.T, res *mcp.CallToolResult) {
		var kinds []string
		for _, c := range res.Content {
			kinds = append(kinds, fmt.Sprintf("%T", c))
		}
		want := []string{"*mcp.TextContent", "*mcp.ImageContent", "*mcp.EmbeddedResource"}
		if diff := cmp.Diff(want, kinds); diff != "" {
			t.Errorf("content blocks (-want +got):\n%s", diff)
		}
	}},
	{"demo__add", map[string]any{"a": int64(9007199254740993), "b": int64(2)},
		func(t *testing.T, res *mcp.CallToolResult) {
			checkStructured(t, res, `{"sum":9007199254740995}`)
		}},
	{"demo__weather", map[string]any{"city": "Lisbon"}, func(t *testing.T, res *mcp.CallToolResult) {
		checkStructured(t, res,
			`{"city":"Lisbon","temperature_c":7.6,"conditions":"windy","humidity_pct":61}`)
	}},
	{"test_error_handling", nil, func(t *testing.T, res *mcp.CallToolResult) {
		want := []string{"This tool intentionally returns an error for testing"}
		if diff := cmp.Diff(want, texts(res.Content)); diff != "" || !res.IsError {
			t.Errorf("isError %v, text (-want +got):\n%s", res.IsError, diff)
		}
	}},
}

// only returns the single content block of a result as a T.
func onlyBlock[T mcp.Content](t *testing.T, content []mcp.Content) (T, bool) {
	t.Helper()
	var zero T
	if len(content) != 1 {
		t.Errorf("%d content blocks, want 1: %+v", len(content), content)
		return zero, false
	}
	c, ok := content[0].(T)
	if !ok {
		t.Errorf("content block is %T, want %T", content[0], zero)
	}
	return c, ok
}

// checkStructured checks a structured result: structuredContent and the
// text block that mirrors it both hold want.
func checkStructured(t *testing.T, res *mcp.CallToolResult, want string) {
	t.Helper()
	// The SDK decodes numbers as float64: compare the same way here, and
	// digit for digit in the text block.
	var lossy any
	json.Unmarshal([]byte(want), &lossy)
	if diff := cmp.Diff(lossy, res.StructuredContent); diff != "" {
		t.Errorf("structuredContent (-want +got):\n%s", diff)
	}
	if txt := texts(res.Content); len(txt) != 1 || !sameJSON(want, txt[0]) {
		t.Errorf("text = %q, want %s", txt, want)
	}
	if res.IsError {
		t.Error("isError set")
	}
}

func testToolContent(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	// Listing first lets the SDK check structured results against the
	// output schemas.
	for _, err := range cs.Tools(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
	}
	for _, c := range contentChecks {
		t.Run(c.tool, func(t *testing.T) {
			c.check(t, mustCall(t, cs, &mcp.CallToolParams{Name: c.tool, Arguments: c.args}))
		})
	}
	// The large sum is exact on the wire itself, not only after decoding.
	for _, m := range results(w, "tools/call") {
		if strings.Contains(string(m.Result), `"structuredContent":{"sum":`) &&
			!strings.Contains(string(m.Result), `{"sum":9007199254740995}`) {
			t.Errorf("demo__add result lost digits: %s", m.Result)
		}
	}
}

// traceparent is a W3C trace context header value (trace-context, 3.2).
const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func testToolMeta(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	meta := mcp.Meta{"traceparent": traceparent, "tracestate": "rojo=00f067aa0ba902b7",
		"example.com/request": map[string]any{"attempt": 2, "tags": []any{"a", "b"}}}
	res := mustCall(t, cs, &mcp.CallToolParams{Name: "demo__meta", Meta: meta})
	sent, _ := json.Marshal(meta)
	if txt := texts(res.Content); len(txt) != 1 || !sameJSON(string(sent), txt[0]) {
		t.Errorf("the provider got _meta %q, want %s", txt, sent)
	}
	if got, _ := json.Marshal(res.Meta); !sameJSON(string(sent), string(got)) {
		t.Errorf("result _meta = %s, want %s", got, sent)
	}

	// Over raw HTTP the bytes themselves must arrive, and come back,
	// unchanged: key order, a number past 2^53, escapes.
	const raw = `{"traceparent":"` + traceparent + `","z":1,` +
		`"a":{"big":123456789012345678901234567890,"s":"\u00e9\n"},"progressToken":"meta-1"}`
	session := rawSession(t, w, urls[1], `{}`)
	msgs := rawRPC(t, w, urls[1], session, `{"jsonrpc":"2.0","id":"m1","method":"tools/call",`+
		`"params":{"name":"demo__meta","arguments":{},"_meta":`+raw+`}}`)
	last := msgs[len(msgs)-1]
	var r struct {
		Content []struct{ Text string }
		Meta    json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(last.Result, &r); err != nil || len(r.Content) != 1 {
		t.Fatalf("result %s: %v", last.Result, err)
	}
	if r.Content[0].Text != raw {
		t.Errorf("the provider got _meta\n  %s\nwant\n  %s", r.Content[0].Text, raw)
	}
	if string(r.Meta) != raw {
		t.Errorf("result _meta\n  %s\nwant\n  %s", r.Meta, raw)
	}
}
