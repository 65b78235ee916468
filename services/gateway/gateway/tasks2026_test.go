package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"switchboard.dev/pkg/mcperr"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

func TestTaskHandle(t *testing.T) {
	h := &Handler{cfg: &Config{RequestStateKey: "k1"}}
	other := &Handler{cfg: &Config{RequestStateKey: "k2"}}
	want := taskHandle{session: "Qm9vLWJhcl9iYXotcXV4LXh5ei0xMjM0NTY3",
		task: "ABCDEFGH234567ABCDEFGH2345"}
	id := h.sealTask(want)
	for _, c := range id {
		if c <= 0x20 || c >= 0x7f {
			t.Fatalf("taskId %q has %q, which Mcp-Name cannot carry as it is", id, c)
		}
	}
	got, ok := h.openTask(id)
	if !ok || got != want {
		t.Fatalf("openTask(sealTask(%v)) = %v, %v", want, got, ok)
	}

	parts := strings.Split(id, ".")
	swapped := taskHandle{session: "c2Vzc2lvbi1vZi1zb21lb25lLWVsc2UtMTIz", task: want.task}
	tests := map[string]string{
		"other key":       other.sealTask(want),
		"other session":   parts[0] + "." + swapped.session + "." + parts[2],
		"other task":      "ZZZZ" + parts[0][4:] + "." + parts[1] + "." + parts[2],
		"no mac":          parts[0] + "." + parts[1],
		"empty mac":       parts[0] + "." + parts[1] + ".",
		"mac not base64":  parts[0] + "." + parts[1] + ".!!",
		"extra part":      id + ".x",
		"empty":           "",
		"probe":           "tasks-conformance-nonexistent-12345",
		"a 2025-11-25 id": want.task,
	}
	for name, id := range tests {
		if got, ok := h.openTask(id); ok {
			t.Errorf("%s: openTask(%q) = %v, want refused", name, id, got)
		}
	}
}

func TestTasksDeclared(t *testing.T) {
	tests := map[string]bool{
		`{}`:                false,
		`{"extensions":{}}`: false,
		`{"extensions":{"io.modelcontextprotocol/tasks":{}}}`:      true,
		`{"extensions":{"io.modelcontextprotocol/tasks":{"a":1}}}`: true,
		`{"extensions":{"io.modelcontextprotocol/tasks":null}}`:    false,
		`{"extensions":{"io.modelcontextprotocol/tasks":true}}`:    false,
		`{"extensions":{"io.modelcontextprotocol/other":{}}}`:      false,
		`{"tasks":{"requests":{"tools":{"call":{}}}}}`:             false,
		`{"experimental":{"io.modelcontextprotocol/tasks":{}}}`:    false,
		``: false,
	}
	for caps, want := range tests {
		if got := tasksDeclared(caps); got != want {
			t.Errorf("tasksDeclared(%s) = %v, want %v", caps, got, want)
		}
	}
}

func TestStatelessRefusal(t *testing.T) {
	mismatch := mcperr.New(codeHeaderMismatch, "header Mcp-Param-Region is required").
		Status(codes.InvalidArgument)
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"header mismatch", mismatch.Err(), codeHeaderMismatch},
		{"tool runs only as a task", status.Error(codes.FailedPrecondition, "must be called as a task"),
			codeMissingCapability},
		{"unknown tool", status.Error(codes.NotFound, "no tool"), 0},
		{"invalid arguments", status.Error(codes.InvalidArgument, "bad"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statelessRefusal(tt.err)
			switch {
			case tt.code == 0 && got != nil:
				t.Fatalf("statelessRefusal = %v, want nil", got)
			case tt.code != 0 && (got == nil || got.Code != tt.code):
				t.Fatalf("statelessRefusal = %v, want code %d", got, tt.code)
			}
			if tt.code != codeMissingCapability {
				return
			}
			want := `{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}`
			if string(got.Data) != want {
				t.Errorf("data %s, want %s", got.Data, want)
			}
		})
	}
}

func TestExtTaskView(t *testing.T) {
	at := time.Date(2026, 7, 28, 10, 30, 0, 0, time.UTC)
	task := func(status string, pending ...string) *registryv1.Task {
		return &registryv1.Task{TaskId: "T", Status: status, StatusMessage: "msg",
			CreateTime: timestamppb.New(at), UpdateTime: timestamppb.New(at.Add(time.Second)),
			Ttl: durationpb.New(time.Hour), PollInterval: durationpb.New(time.Second),
			PendingRequestsJson: pending}
	}
	const base = `"taskId":"ID","statusMessage":"msg","createdAt":"2026-07-28T10:30:00.000Z",` +
		`"lastUpdatedAt":"2026-07-28T10:30:01.000Z","ttlMs":3600000,"pollIntervalMs":1000`
	related := `"io.modelcontextprotocol/related-task":{"taskId":"T"}`
	ask := `{"jsonrpc":"2.0","id":"sb/i/c/1/confirm","method":"elicitation/create",` +
		`"params":{"message":"Sure?","_meta":{` + related + `}}}`
	tests := []struct {
		name     string
		state    taskState
		detailed bool
		want     string
	}{
		{"created", taskState{task: task("working")}, false,
			`{"resultType":"task",` + base + `,"status":"working"}`},
		{"created, finished at once", taskState{task: task("failed"),
			result: `{"content":[],"isError":true}`}, false,
			`{"resultType":"task",` + base + `,"status":"completed"}`},
		{"working", taskState{task: task("working")}, true, `{` + base + `,"status":"working"}`},
		{"input required", taskState{task: task("input_required", ask)}, true,
			`{` + base + `,"status":"input_required","inputRequests":{"sb/i/c/1/confirm":` +
				`{"method":"elicitation/create","params":{"message":"Sure?"}}}}`},
		{"completed", taskState{task: task("completed"),
			result: `{"content":[{"type":"text","text":"ok"}],"_meta":{` + related + `,"x":1}}`}, true,
			`{` + base + `,"status":"completed",` +
				`"result":{"content":[{"type":"text","text":"ok"}],"_meta":{"x":1}}}`},
		{"tool error completes", taskState{task: task("failed"),
			result: `{"content":[{"type":"text","text":"no"}],"isError":true,"_meta":{` + related + `}}`},
			true, `{` + base + `,"status":"completed",` +
				`"result":{"content":[{"type":"text","text":"no"}],"isError":true}}`},
		{"protocol error fails", taskState{task: task("failed"),
			error: `{"code":-32603,"message":"boom"}`}, true,
			`{` + base + `,"status":"failed","error":{"code":-32603,"message":"boom"}}`},
		{"cancelled", taskState{task: task("cancelled"),
			error: `{"code":-32603,"message":"the task was cancelled"}`}, true,
			`{` + base + `,"status":"cancelled"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.state.view("ID", tt.detailed))
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("view (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithoutMeta(t *testing.T) {
	const key = "io.modelcontextprotocol/related-task"
	tests := map[string]string{
		`{"a":1,"_meta":{"` + key + `":{"taskId":"T"}}}`:       `{"a":1}`,
		`{"a":1,"_meta":{"` + key + `":{"taskId":"T"},"b":2}}`: `{"_meta":{"b":2},"a":1}`,
		`{"a":1,"_meta":{"b":2}}`:                              `{"a":1,"_meta":{"b":2}}`,
		`{"a":1}`:                                              `{"a":1}`,
		`{"_meta":null}`:                                       `{"_meta":null}`,
		`[1]`:                                                  `[1]`,
		``:                                                     ``,
	}
	for in, want := range tests {
		if got := withoutMeta(json.RawMessage(in), key); string(got) != want {
			t.Errorf("withoutMeta(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestDiscoverAdvertisesTasks(t *testing.T) {
	b, err := json.Marshal(discoverResult())
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Capabilities map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if got := string(d.Capabilities["extensions"]); got != `{"io.modelcontextprotocol/tasks":{}}` {
		t.Errorf("capabilities.extensions = %s, want the tasks extension", got)
	}
	// The 2025-11-25 slot is replaced by the extension (SEP-2663).
	if _, ok := d.Capabilities["tasks"]; ok {
		t.Errorf("capabilities carry the 2025-11-25 tasks slot: %s", b)
	}
}

func TestPassedOn(t *testing.T) {
	related := `"io.modelcontextprotocol/related-task":{"taskId":"T"}`
	tests := []struct {
		msg, want string
		ok        bool
	}{
		{`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"_meta":{` +
			related + `}}}`,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, true},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}}`, ``, false},
		{`{"jsonrpc":"2.0","id":"x","method":"roots/list"}`, ``, false},
		{``, ``, false},
	}
	for _, tt := range tests {
		got, ok := passedOn(&sessionv1.Event{MessageJson: tt.msg})
		if ok != tt.ok {
			t.Errorf("passedOn(%s) ok = %v, want %v", tt.msg, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		var g, w any
		json.Unmarshal(got, &g)
		json.Unmarshal([]byte(tt.want), &w)
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("passedOn(%s) (-want +got):\n%s", tt.msg, diff)
		}
	}
}
