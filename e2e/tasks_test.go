package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// taskMsg is one JSON-RPC message of an answer, members left raw.
type taskMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// taskState is an MCP Task as the tests read it.
type taskState struct {
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	TTL           *int64 `json:"ttl"`
	PollInterval  int64  `json:"pollInterval"`
}

// taskRPC posts one request of the session to url and returns every
// message of the answer, the response last.
func taskRPC(t *testing.T, url, session, method, params string) []taskMsg {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":"` + method + `","method":"` + method + `","params":` +
		params + `}`
	resp := rawPost(t, url, session, body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", method, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read answer: %v", method, err)
	}
	texts := []string{string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		texts = nil
		for _, line := range strings.Split(string(b), "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok && data != "" {
				texts = append(texts, data)
			}
		}
	}
	var out []taskMsg
	for _, text := range texts {
		var m taskMsg
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("%s: decode %s: %v", method, text, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 || out[len(out)-1].Method != "" {
		t.Fatalf("%s: no response among %s", method, b)
	}
	return out
}

// taskResult posts a request and decodes its result into v, failing the
// test on a JSON-RPC error.
func taskResult(t *testing.T, url, session, method, params string, v any) {
	t.Helper()
	msgs := taskRPC(t, url, session, method, params)
	last := msgs[len(msgs)-1]
	if last.Error != nil {
		t.Fatalf("%s %s: error %d %s", method, params, last.Error.Code, last.Error.Message)
	}
	if err := json.Unmarshal(last.Result, v); err != nil {
		t.Fatalf("%s: decode result %s: %v", method, last.Result, err)
	}
}

// taskErrorCode posts a request that must fail and returns its error code.
func taskErrorCode(t *testing.T, url, session, method, params string) int {
	t.Helper()
	msgs := taskRPC(t, url, session, method, params)
	last := msgs[len(msgs)-1]
	if last.Error == nil {
		t.Fatalf("%s %s: result %s, want an error", method, params, last.Result)
	}
	return last.Error.Code
}

// startTask runs a task-augmented tools/call and returns the new task.
func startTask(t *testing.T, url, session, tool, args string) taskState {
	t.Helper()
	var created struct{ Task taskState }
	taskResult(t, url, session, "tools/call", `{"name":"`+tool+`","arguments":`+args+
		`,"task":{"ttl":60000},"_meta":{"progressToken":"p-`+tool+`"}}`, &created)
	task := created.Task
	if task.TaskID == "" || task.Status != "working" || task.TTL == nil || *task.TTL != 60000 ||
		task.PollInterval <= 0 || !validTime(task.CreatedAt) || !validTime(task.LastUpdatedAt) {
		t.Fatalf("created task %+v", task)
	}
	return task
}

func validTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// pollTask polls tasks/get until the task has the given status.
func pollTask(t *testing.T, url, session, id, status string) taskState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var task taskState
		taskResult(t, url, session, "tasks/get", `{"taskId":"`+id+`"}`, &task)
		if task.Status == status {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s, want %s", id, task.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reportState asks the demo provider how the slow_report with key went.
func reportState(t *testing.T, url, session, key string) string {
	t.Helper()
	var res struct {
		StructuredContent struct{ State string }
	}
	taskResult(t, url, session, "tools/call",
		`{"name":"demo__report_status","arguments":{"key":"`+key+`"}}`, &res)
	return res.StructuredContent.State
}

// awaitReport polls report_status until the report has the given state.
func awaitReport(t *testing.T, url, session, key, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for got := reportState(t, url, session, key); got != state; {
		if time.Now().After(deadline) {
			t.Fatalf("report %s is %s, want %s", key, got, state)
		}
		time.Sleep(20 * time.Millisecond)
		got = reportState(t, url, session, key)
	}
}

// TestTasks runs tasks (2025-11-25, Tasks) across two gateway replicas:
// each request of a session goes to either replica, as a load balancer
// would send it, since the tasks live in Redis and run in the registry.
func TestTasks(t *testing.T) {
	urls := startSuite(t, 2).MCPURLs()
	a, b := urls[0], urls[1]
	sid := initSession(t, a, protocolVersion)

	t.Run("capabilities", func(t *testing.T) { checkTaskCapabilities(t, b) })
	t.Run("lifecycle", func(t *testing.T) { checkTaskLifecycle(t, a, b, sid) })
	t.Run("streamed result", func(t *testing.T) { checkStreamedTaskResult(t, b, sid) })
	t.Run("input required", func(t *testing.T) { checkTaskInput(t, a, b) })
	t.Run("cancel", func(t *testing.T) { checkTaskCancel(t, a, b, sid) })
	t.Run("other session", func(t *testing.T) { checkTaskIsolation(t, a, b, sid) })
	t.Run("refused", func(t *testing.T) {
		// A tool without task support (2025-11-25, Tasks, Tool-Level
		// Negotiation), and task ids nobody issued.
		code := taskErrorCode(t, a, sid, "tools/call",
			`{"name":"demo__echo","arguments":{"text":"x"},"task":{}}`)
		if code != -32601 {
			t.Errorf("task of demo__echo: error %d, want -32601", code)
		}
		for _, m := range []string{"tasks/get", "tasks/result", "tasks/cancel"} {
			if code := taskErrorCode(t, b, sid, m, `{"taskId":"NOSUCHTASK"}`); code != -32602 {
				t.Errorf("%s of an unknown task: error %d, want -32602", m, code)
			}
		}
	})
}

// checkTaskCapabilities checks that initialize declares tasks and that
// tools/list shows which tools may run as tasks.
func checkTaskCapabilities(t *testing.T, url string) {
	resp := rawPost(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{`+
		`"protocolVersion":"`+protocolVersion+`","capabilities":{},`+
		`"clientInfo":{"name":"tasks","version":"1"}}}`)
	defer resp.Body.Close()
	var init struct {
		Result struct {
			Capabilities struct{ Tasks json.RawMessage }
		}
	}
	if err := json.Unmarshal(lastMessage(t, resp), &init); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	want := `{"cancel":{},"list":{},"requests":{"tools":{"call":{}}}}`
	if got := string(init.Result.Capabilities.Tasks); got != want {
		t.Errorf("tasks capability %s, want %s", got, want)
	}
}

// checkTaskLifecycle creates a task on one replica, polls it and fetches
// its result on the other, and finds it listed.
func checkTaskLifecycle(t *testing.T, a, b, sid string) {
	var tools struct {
		Tools []struct {
			Name      string
			Execution json.RawMessage
		}
	}
	taskResult(t, b, sid, "tools/list", `{}`, &tools)
	i := slices.IndexFunc(tools.Tools, func(x struct {
		Name      string
		Execution json.RawMessage
	}) bool {
		return x.Name == "demo__slow_report"
	})
	if i < 0 || string(tools.Tools[i].Execution) != `{"taskSupport":"optional"}` {
		t.Fatalf("demo__slow_report missing or without task support: %+v", tools.Tools)
	}

	task := startTask(t, a, sid, "demo__slow_report", `{"steps":3,"ms":50}`)
	done := pollTask(t, b, sid, task.TaskID, "completed")
	if done.CreatedAt != task.CreatedAt || done.LastUpdatedAt < task.LastUpdatedAt {
		t.Errorf("completed task %+v, created as %+v", done, task)
	}
	var res struct {
		Content []struct{ Text string }
		Meta    map[string]struct{ TaskID string } `json:"_meta"`
	}
	taskResult(t, b, sid, "tasks/result", `{"taskId":"`+task.TaskID+`"}`, &res)
	related := res.Meta["io.modelcontextprotocol/related-task"].TaskID
	if len(res.Content) != 1 || res.Content[0].Text != "report ready: 3 sections" ||
		related != task.TaskID {
		t.Errorf("tasks/result %+v, want the report and the related task %s", res, task.TaskID)
	}

	var list struct{ Tasks []taskState }
	taskResult(t, a, sid, "tasks/list", `{}`, &list)
	if !slices.ContainsFunc(list.Tasks, func(x taskState) bool {
		return x.TaskID == task.TaskID && x.Status == "completed"
	}) {
		t.Errorf("tasks/list %+v lacks the completed task %s", list.Tasks, task.TaskID)
	}
}

// checkStreamedTaskResult asks for the result of a running task with a
// client that takes SSE: the stream carries the call's progress, tied to
// the task, and ends with the result.
func checkStreamedTaskResult(t *testing.T, url, sid string) {
	status := openStandalone(t, url, sid)
	task := startTask(t, url, sid, "demo__slow_report", `{"steps":4,"ms":300}`)
	msgs := taskRPC(t, url, sid, "tasks/result", `{"taskId":"`+task.TaskID+`"}`)
	progress := 0
	for _, m := range msgs[:len(msgs)-1] {
		var p struct {
			ProgressToken string                             `json:"progressToken"`
			Meta          map[string]struct{ TaskID string } `json:"_meta"`
		}
		json.Unmarshal(m.Params, &p)
		if m.Method != "notifications/progress" || p.ProgressToken != "p-demo__slow_report" ||
			p.Meta["io.modelcontextprotocol/related-task"].TaskID != task.TaskID {
			t.Errorf("message before the result: %+v", m)
		}
		progress++
	}
	if progress == 0 {
		t.Errorf("no progress on the tasks/result stream")
	}
	last := msgs[len(msgs)-1]
	if string(last.ID) != `"tasks/result"` ||
		!strings.Contains(string(last.Result), "report ready") {
		t.Errorf("response %+v, want the report", last)
	}
	// The standalone stream hears that the task completed.
	status(func(m taskMsg) bool {
		var p taskState
		json.Unmarshal(m.Params, &p)
		return m.Method == "notifications/tasks/status" && p.TaskID == task.TaskID &&
			p.Status == "completed"
	})
}

// openStandalone opens the session's GET stream and returns a function
// that waits for a message on it that satisfies match.
func openStandalone(t *testing.T, url, sid string) func(match func(taskMsg) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", protocolVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %v %v", resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	next := sseReader(resp.Body)
	return func(match func(taskMsg) bool) {
		t.Helper()
		for {
			m, err := next()
			if err != nil {
				t.Errorf("GET stream ended before the awaited message: %v", err)
				return
			}
			if match(m) {
				return
			}
		}
	}
}

// sseReader returns a function that reads the next JSON-RPC message of
// an SSE body, as it arrives.
func sseReader(body io.Reader) func() (taskMsg, error) {
	lines := bufio.NewScanner(body)
	return func() (taskMsg, error) {
		for lines.Scan() {
			data, ok := strings.CutPrefix(lines.Text(), "data: ")
			var m taskMsg
			if ok && data != "" {
				return m, json.Unmarshal([]byte(data), &m)
			}
		}
		if err := lines.Err(); err != nil {
			return taskMsg{}, err
		}
		return taskMsg{}, io.EOF
	}
}

// checkTaskInput runs a task that asks the user first: the task waits
// in input_required until the client, reading tasks/result as a stream
// from one replica, answers the request through the other.
func checkTaskInput(t *testing.T, a, b string) {
	resp := rawPost(t, a, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{`+
		`"protocolVersion":"`+protocolVersion+`","capabilities":{"elicitation":{}},`+
		`"clientInfo":{"name":"tasks","version":"1"}}}`)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	resp = rawPost(t, b, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	task := startTask(t, a, sid, "demo__slow_report", `{"steps":2,"ms":10,"confirm":true}`)
	pollTask(t, b, sid, task.TaskID, "input_required")

	resp = rawPost(t, b, sid, `{"jsonrpc":"2.0","id":"r","method":"tasks/result",`+
		`"params":{"taskId":"`+task.TaskID+`"}}`)
	defer resp.Body.Close()
	next := sseReader(resp.Body)
	q, err := next()
	var p struct {
		Meta map[string]struct{ TaskID string } `json:"_meta"`
	}
	json.Unmarshal(q.Params, &p)
	if err != nil || q.Method != "elicitation/create" ||
		p.Meta["io.modelcontextprotocol/related-task"].TaskID != task.TaskID {
		t.Fatalf("first message of tasks/result %+v, %v; want the elicitation", q, err)
	}
	answer := rawPost(t, a, sid, `{"jsonrpc":"2.0","id":`+string(q.ID)+
		`,"result":{"action":"accept","content":{}}}`)
	answer.Body.Close()
	if answer.StatusCode != http.StatusAccepted {
		t.Fatalf("answer: status %d, want 202", answer.StatusCode)
	}
	for {
		m, err := next()
		if err != nil {
			t.Fatalf("tasks/result stream: %v", err)
		}
		if m.Method == "" {
			if string(m.ID) != `"r"` || !strings.Contains(string(m.Result), "report ready: 2") {
				t.Errorf("tasks/result answered %+v", m)
			}
			break
		}
	}
	pollTask(t, a, sid, task.TaskID, "completed")
}

// checkTaskCancel cancels a running task on the other replica than the
// one that created it and checks that the provider's tool saw it.
func checkTaskCancel(t *testing.T, a, b, sid string) {
	key := "cancel-" + sid[:8]
	task := startTask(t, b, sid, "demo__slow_report",
		`{"steps":1000,"ms":50,"key":"`+key+`"}`)
	awaitReport(t, a, sid, key, "running")

	var cancelled taskState
	taskResult(t, a, sid, "tasks/cancel", `{"taskId":"`+task.TaskID+`"}`, &cancelled)
	if cancelled.Status != "cancelled" || cancelled.TaskID != task.TaskID {
		t.Errorf("tasks/cancel answered %+v", cancelled)
	}
	awaitReport(t, b, sid, key, "cancelled")
	if got := pollTask(t, b, sid, task.TaskID, "cancelled"); got.StatusMessage == "" {
		t.Errorf("cancelled task without a status message: %+v", got)
	}
	// A terminal task cannot be cancelled again (2025-11-25, Tasks, Task
	// Cancellation), and its result is the error the call ended with.
	byID := `{"taskId":"` + task.TaskID + `"}`
	if code := taskErrorCode(t, b, sid, "tasks/cancel", byID); code != -32602 {
		t.Errorf("second tasks/cancel: error %d, want -32602", code)
	}
	if code := taskErrorCode(t, a, sid, "tasks/result", byID); code != -32603 {
		t.Errorf("tasks/result of a cancelled task: error %d, want -32603", code)
	}
}

// checkTaskIsolation checks that another session sees none of the
// session's tasks.
func checkTaskIsolation(t *testing.T, a, b, sid string) {
	task := startTask(t, a, sid, "demo__slow_report", `{"steps":1,"ms":0}`)
	other := initSession(t, b, protocolVersion)
	for _, m := range []string{"tasks/get", "tasks/result", "tasks/cancel"} {
		if code := taskErrorCode(t, b, other, m, `{"taskId":"`+task.TaskID+`"}`); code != -32602 {
			t.Errorf("%s of another session's task: error %d, want -32602", m, code)
		}
	}
	var list struct{ Tasks []taskState }
	taskResult(t, a, other, "tasks/list", `{}`, &list)
	if len(list.Tasks) != 0 {
		t.Errorf("another session lists %+v", list.Tasks)
	}
	pollTask(t, b, sid, task.TaskID, "completed")
}
