package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func testResourceLists(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)

	var resources []*mcp.Resource
	for r, err := range cs.Resources(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list resources: %v", err)
		}
		resources = append(resources, r)
	}
	wantResources := []*mcp.Resource{
		{URI: "test://static-binary", Name: "static-binary", Title: "Static Binary Resource",
			Description: "A static binary resource (image) for testing", MIMEType: "image/png"},
		{URI: "test://static-text", Name: "static-text", Title: "Static Text Resource",
			Description: "A static text resource for testing", MIMEType: "text/plain"},
		{URI: "test://watched-resource", Name: "watched-resource", Title: "Watched Resource",
			Description: "A resource that auto-updates every 3 seconds", MIMEType: "text/plain"},
	}
	if diff := cmp.Diff(wantResources, resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	checkPaged(t, w, "resources/list", 1)

	var templates []*mcp.ResourceTemplate
	for rt, err := range cs.ResourceTemplates(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list resource templates: %v", err)
		}
		templates = append(templates, rt)
	}
	wantTemplates := []*mcp.ResourceTemplate{{URITemplate: "test://template/{id}/data",
		Name: "template", Title: "Resource Template", MIMEType: "application/json",
		Description: "A resource template with parameter substitution"}}
	if diff := cmp.Diff(wantTemplates, templates); diff != "" {
		t.Errorf("resource templates (-want +got):\n%s", diff)
	}
}

func testResourceReads(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	for _, tc := range []struct {
		uri  string
		want *mcp.ResourceContents
	}{
		{"test://static-text", &mcp.ResourceContents{URI: "test://static-text", MIMEType: "text/plain",
			Text: "This is the content of the static text resource."}},
		{"test://template/42/data", &mcp.ResourceContents{URI: "test://template/42/data",
			MIMEType: "application/json",
			Text:     `{"id":"42","templateTest":true,"data":"Data for ID: 42"}`}},
	} {
		res, err := cs.ReadResource(opCtx(t), &mcp.ReadResourceParams{URI: tc.uri})
		if err != nil {
			t.Errorf("read %s: %v", tc.uri, err)
			continue
		}
		if diff := cmp.Diff([]*mcp.ResourceContents{tc.want}, res.Contents); diff != "" {
			t.Errorf("read %s (-want +got):\n%s", tc.uri, diff)
		}
	}

	res, err := cs.ReadResource(opCtx(t), &mcp.ReadResourceParams{URI: "test://static-binary"})
	switch {
	case err != nil:
		t.Errorf("read test://static-binary: %v", err)
	case len(res.Contents) != 1 || res.Contents[0].MIMEType != "image/png" ||
		!bytes.HasPrefix(res.Contents[0].Blob, pngMagic) || res.Contents[0].Text != "":
		t.Errorf("read test://static-binary = %+v, want one PNG blob", res.Contents)
	}

	// 2025-11-25, Resources, Error Handling: an unknown resource is
	// -32002 with the URI in data.
	_, err = cs.ReadResource(opCtx(t), &mcp.ReadResourceParams{URI: "test://no-such-thing"})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != -32002 ||
		!strings.Contains(string(werr.Data), `"uri":"test://no-such-thing"`) {
		t.Errorf("read an unknown resource: %v, want error -32002 naming the URI", err)
	}
}

func testSubscribe(t *testing.T, urls []string) {
	w := newWire(t, urls)
	var updates inbox[string]
	cs := goClient(t, w, urls[0], &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			updates.add(r.Params.URI)
		},
	})
	standaloneOpen(t, w)
	subscribe := func(uri string) {
		t.Helper()
		if err := cs.Subscribe(opCtx(t), &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe %s: %v", uri, err)
		}
	}
	count := func(items []string, uri string) int {
		return len(slices.DeleteFunc(slices.Clone(items), func(u string) bool { return u != uri }))
	}

	// The conformance provider reports this one as changed every 3s.
	subscribe("test://watched-resource")
	updates.wait(t, "an update of test://watched-resource", func(u []string) bool {
		return count(u, "test://watched-resource") > 0
	})

	// demo__touch reports a change at once, so that unsubscribing is
	// checked without waiting: an update of static-text, had it been
	// sent, would come before the one of static-binary on the same stream.
	subscribe("test://static-text")
	subscribe("test://static-binary")
	callText(t, cs, "demo__touch", map[string]any{"uri": "test://static-text"})
	updates.wait(t, "an update of test://static-text", func(u []string) bool {
		return count(u, "test://static-text") == 1
	})
	if err := cs.Unsubscribe(opCtx(t), &mcp.UnsubscribeParams{URI: "test://static-text"}); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	callText(t, cs, "demo__touch", map[string]any{"uri": "test://static-text"})
	callText(t, cs, "demo__touch", map[string]any{"uri": "test://static-binary"})
	got := updates.wait(t, "an update of test://static-binary", func(u []string) bool {
		return count(u, "test://static-binary") == 1
	})
	if n := count(got, "test://static-text"); n != 1 {
		t.Errorf("%d updates of test://static-text, want 1 (none after unsubscribe): %q", n, got)
	}
	checkUpdatesLogged(t, w)
}

// checkUpdatesLogged checks that resources/updated came on the standalone
// stream with event ids: they are logged, so they can be resumed.
func checkUpdatesLogged(t *testing.T, w *wire) {
	t.Helper()
	for _, x := range w.exchanges() {
		for _, ev := range x.Events {
			if m, ok := ev.message(); ok && m.Method == "notifications/resources/updated" &&
				(x.Method != "GET" || !strings.HasPrefix(ev.ID, "_:")) {
				t.Errorf("resources/updated on %s with event id %q, want the standalone stream",
					x.Method, ev.ID)
			}
		}
	}
}

// standaloneOpen waits until the client's standalone GET stream is open,
// so that notifications sent from now on reach it.
func standaloneOpen(t *testing.T, w *wire) {
	t.Helper()
	w.waitFor(t, "the standalone SSE stream", func(log []exchange) bool {
		for _, x := range log {
			if x.Method == "GET" && x.LastEventID == "" && x.Status == 200 && !x.Done {
				return true
			}
		}
		return false
	})
}

func testPromptList(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	var names []string
	for p, err := range cs.Prompts(opCtx(t), nil) {
		if err != nil {
			t.Fatalf("list prompts: %v", err)
		}
		names = append(names, p.Name)
		if p.Name == "test_prompt_with_arguments" {
			want := []*mcp.PromptArgument{
				{Name: "arg1", Description: "First test argument", Required: true},
				{Name: "arg2", Description: "Second test argument", Required: true},
			}
			if diff := cmp.Diff(want, p.Arguments); diff != "" || p.Title != "Prompt With Arguments" {
				t.Errorf("%s title %q, arguments (-want +got):\n%s", p.Name, p.Title, diff)
			}
		}
	}
	want := []string{"test_input_required_result_prompt", "test_prompt_with_arguments",
		"test_prompt_with_embedded_resource", "test_prompt_with_image", "test_simple_prompt"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("prompts (-want +got):\n%s", diff)
	}
	checkPaged(t, w, "prompts/list", 2)
}

func testPromptGet(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	get := func(name string, args map[string]string) []*mcp.PromptMessage {
		t.Helper()
		res, err := cs.GetPrompt(opCtx(t), &mcp.GetPromptParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return res.Messages
	}
	msgs := get("test_prompt_with_arguments", map[string]string{"arg1": "paris", "arg2": "park"})
	wantMsgs := []*mcp.PromptMessage{{Role: "user",
		Content: &mcp.TextContent{Text: "Prompt with arguments: arg1='paris', arg2='park'"}}}
	if diff := cmp.Diff(wantMsgs, msgs); diff != "" {
		t.Errorf("prompt with arguments (-want +got):\n%s", diff)
	}

	msgs = get("test_prompt_with_embedded_resource", map[string]string{"resourceUri": "test://doc"})
	wantMsgs = []*mcp.PromptMessage{
		{Role: "user", Content: &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI: "test://doc", MIMEType: "text/plain", Text: "Embedded resource content for testing."}}},
		{Role: "user", Content: &mcp.TextContent{Text: "Please process the embedded resource above."}},
	}
	if diff := cmp.Diff(wantMsgs, msgs); diff != "" {
		t.Errorf("prompt with embedded resource (-want +got):\n%s", diff)
	}

	msgs = get("test_prompt_with_image", nil)
	if len(msgs) != 2 {
		t.Fatalf("prompt with image: %d messages, want 2", len(msgs))
	}
	img, ok := msgs[0].Content.(*mcp.ImageContent)
	if !ok || img.MIMEType != "image/png" || !bytes.HasPrefix(img.Data, pngMagic) {
		t.Errorf("prompt with image: first message %+v, want a PNG", msgs[0].Content)
	}
}

func testComplete(t *testing.T, urls []string) {
	w := newWire(t, urls)
	cs := goClient(t, w, urls[0], nil)
	for _, tc := range []struct {
		name string
		ref  *mcp.CompleteReference
		arg  mcp.CompleteParamsArgument
		want mcp.CompletionResultDetails
	}{
		{"prompt argument", &mcp.CompleteReference{Type: "ref/prompt",
			Name: "test_prompt_with_arguments"},
			mcp.CompleteParamsArgument{Name: "arg1", Value: "pa"},
			mcp.CompletionResultDetails{Values: []string{"paris", "park", "party"}, Total: 3}},
		{"narrower prompt argument", &mcp.CompleteReference{Type: "ref/prompt",
			Name: "test_prompt_with_arguments"},
			mcp.CompleteParamsArgument{Name: "arg2", Value: "PAR"},
			mcp.CompletionResultDetails{Values: []string{"paris", "park", "party"}, Total: 3}},
		{"template variable", &mcp.CompleteReference{Type: "ref/resource",
			URI: "test://template/{id}/data"},
			mcp.CompleteParamsArgument{Name: "id", Value: "1"},
			mcp.CompletionResultDetails{Values: []string{"1", "123"}, Total: 2}},
		{"no match", &mcp.CompleteReference{Type: "ref/resource", URI: "test://template/{id}/data"},
			mcp.CompleteParamsArgument{Name: "id", Value: "9"},
			mcp.CompletionResultDetails{Values: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.Complete(opCtx(t), &mcp.CompleteParams{Ref: tc.ref, Argument: tc.arg})
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			if diff := cmp.Diff(tc.want, res.Completion, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("completion (-want +got):\n%s", diff)
			}
		})
	}
}

// testBadCursor sends cursors that no gateway issued to every list
// method: each is invalid params (2025-11-25, Pagination).
func testBadCursor(t *testing.T, urls []string) {
	w := newWire(t, urls)
	session := rawSession(t, w, urls[0], `{}`)
	for i, method := range []string{"tools/list", "resources/list", "resources/templates/list",
		"prompts/list"} {
		for j, cursor := range []string{`"!!bad!!"`, `""`, `"AQ"`} {
			id := i*10 + j + 1
			body := `{"jsonrpc":"2.0","id":` + jsonInt(id) + `,"method":"` + method +
				`","params":{"cursor":` + cursor + `}}`
			msgs := rawRPC(t, w, urls[(i+j)%len(urls)], session, body)
			var e struct{ Code int }
			if len(msgs) != 1 || json.Unmarshal(msgs[0].Error, &e) != nil || e.Code != -32602 ||
				compact(msgs[0].ID) != jsonInt(id) {
				t.Errorf("%s with cursor %s: %+v, want error -32602 with id %d", method, cursor, msgs, id)
			}
		}
	}
}

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }
