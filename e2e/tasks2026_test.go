package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"switchboard.dev/pkg/suite"
)

// The tasks extension of the stateless generation (io.modelcontextprotocol/tasks,
// SEP-2663), spoken over raw HTTP: the official SDKs do not implement it
// yet. Every request of a test alternates between two gateway replicas, so
// that a task is created on one and read, answered and cancelled on the
// other.

// Per-request client capabilities, with and without the extension.
const (
	withTasks    = `{"elicitation":{},"extensions":{"io.modelcontextprotocol/tasks":{}}}`
	withoutTasks = `{"elicitation":{}}`
)

// extAnswer is the response to one stateless request.
type extAnswer struct {
	Status int
	Result json.RawMessage
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
}

// extTask is a Task of the extension as the tests read it, with the
// members of every status.
type extTask struct {
	ResultType     string                     `json:"resultType"`
	TaskID         string                     `json:"taskId"`
	Status         string                     `json:"status"`
	CreatedAt      string                     `json:"createdAt"`
	LastUpdatedAt  string                     `json:"lastUpdatedAt"`
	TTLMs          *int64                     `json:"ttlMs"`
	PollIntervalMs int64                      `json:"pollIntervalMs"`
	InputRequests  map[string]json.RawMessage `json:"inputRequests"`
	Result         *struct {
		Content []struct{ Text string } `json:"content"`
		IsError bool                    `json:"isError"`
		Meta    map[string]any          `json:"_meta"`
	} `json:"result"`
	Error        json.RawMessage `json:"error"`
	RequestState *string         `json:"requestState"`
}

// extPost sends one stateless request to url with the given per-request
// capabilities and the headers a conformant client sets; extra headers
// override them. Every answer is checked against the 2026-07-28 schema.
func extPost(t *testing.T, url, method, params, caps string, extra map[string]string) extAnswer {
	t.Helper()
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(params), &p); err != nil {
		t.Fatalf("params %s: %v", params, err)
	}
	p["_meta"] = json.RawMessage(`{"io.modelcontextprotocol/protocolVersion":"` + statelessVersion +
		`","io.modelcontextprotocol/clientInfo":{"name":"tasks2026","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":` + caps + `}`)
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": p})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", statelessVersion)
	req.Header.Set("Mcp-Method", method)
	for _, member := range []string{"name", "taskId"} {
		var v string
		if json.Unmarshal(p[member], &v) == nil {
			req.Header.Set("Mcp-Name", v)
		}
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	msg := responseOf(t, method, resp)
	checkExtSchema(t, method, msg)
	var a extAnswer
	if err := json.Unmarshal(msg, &a); err != nil {
		t.Fatalf("%s: decode %s: %v", method, msg, err)
	}
	a.Status = resp.StatusCode
	return a
}

// responseOf returns the JSON-RPC response of an answer, JSON or SSE.
func responseOf(t *testing.T, method string, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read answer: %v", method, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return b
	}
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if ok && (strings.Contains(data, `"result"`) || strings.Contains(data, `"error"`)) &&
			!strings.Contains(data, `"method"`) {
			return []byte(data)
		}
	}
	t.Fatalf("%s: no response in %s", method, b)
	return nil
}

// checkExtSchema validates a response against the 2026-07-28 schema:
// errors by their code, complete and input_required results of tools/call
// by their types, and every other result (tasks and the extension's
// methods, which the core schema does not describe) as a Result.
func checkExtSchema(t *testing.T, method string, msg []byte) {
	t.Helper()
	schema, err := loadStatelessSchema()
	if err != nil {
		t.Fatalf("load schema: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("%s: answer is not JSON: %v", method, err)
	}
	var m struct {
		Result *struct {
			ResultType string `json:"resultType"`
		} `json:"result"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(msg, &m)
	typ, part := "JSONRPCErrorResponse", v
	switch {
	case m.Error != nil && m.Error.Code == -32021:
		typ = "MissingRequiredClientCapabilityError"
	case m.Error != nil:
	case m.Result == nil:
		t.Fatalf("%s: neither result nor error: %s", method, msg)
	case m.Result.ResultType == "input_required":
		typ, part = "InputRequiredResult", v.(map[string]any)["result"]
	case method == "tools/call" && m.Result.ResultType == "complete":
		typ, part = "CallToolResult", v.(map[string]any)["result"]
	default:
		typ, part = "Result", v.(map[string]any)["result"]
	}
	if err := schema.validate(typ, part); err != nil {
		t.Errorf("%s: answer is not a valid %s: %v\n%s", method, typ, err, msg)
	}
}

// extTaskOf decodes an answer's result as a task, failing on an error.
func extTaskOf(t *testing.T, what string, a extAnswer) extTask {
	t.Helper()
	if a.Error != nil || a.Status != http.StatusOK {
		t.Fatalf("%s: status %d, error %+v", what, a.Status, a.Error)
	}
	var task extTask
	if err := json.Unmarshal(a.Result, &task); err != nil {
		t.Fatalf("%s: decode %s: %v", what, a.Result, err)
	}
	return task
}

// createExtTask calls a tool that must answer with a task.
func createExtTask(t *testing.T, url, tool, args string) extTask {
	t.Helper()
	a := extPost(t, url, "tools/call", `{"name":"`+tool+`","arguments":`+args+`}`, withTasks, nil)
	task := extTaskOf(t, "tools/call "+tool, a)
	if task.ResultType != "task" || task.TaskID == "" || task.Status == "" ||
		task.TTLMs == nil || *task.TTLMs <= 0 || !validTime(task.CreatedAt) ||
		!validTime(task.LastUpdatedAt) || task.Result != nil || task.InputRequests != nil ||
		task.RequestState != nil {
		t.Fatalf("tools/call %s: want a CreateTaskResult, got %s", tool, a.Result)
	}
	return task
}

// getExtTask reads a task with tasks/get.
func getExtTask(t *testing.T, url, id string) extTask {
	t.Helper()
	a := extPost(t, url, "tasks/get", `{"taskId":"`+id+`"}`, withTasks, nil)
	task := extTaskOf(t, "tasks/get", a)
	if task.ResultType != "complete" || task.TaskID != id || task.RequestState != nil {
		t.Fatalf("tasks/get %s: %s", id, a.Result)
	}
	return task
}

// awaitExtTask polls tasks/get on the replicas in turn until the task has
// the given status, or another terminal one.
func awaitExtTask(t *testing.T, urls []string, id, status string) extTask {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		task := getExtTask(t, urls[i%len(urls)], id)
		if task.Status == status || terminalStatus(task.Status) {
			if task.Status != status {
				t.Fatalf("task %s is %s, want %s", id, task.Status, status)
			}
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s, want %s", id, task.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func terminalStatus(s string) bool {
	return s == "completed" || s == "failed" || s == "cancelled"
}

// ack sends tasks/update or tasks/cancel and checks the empty
// acknowledgement.
func ack(t *testing.T, url, method, params string) {
	t.Helper()
	a := extPost(t, url, method, params, withTasks, nil)
	var got map[string]json.RawMessage
	if a.Error != nil || json.Unmarshal(a.Result, &got) != nil {
		t.Fatalf("%s %s: status %d, error %+v", method, params, a.Status, a.Error)
	}
	delete(got, "_meta")
	if len(got) != 1 || string(got["resultType"]) != `"complete"` {
		t.Errorf("%s: acknowledgement %s, want only resultType complete", method, a.Result)
	}
}

// TestTasksExtension runs the tasks extension across two gateway
// replicas in front of the conformance provider, whose task tools the
// official conformance scenarios call.
func TestTasksExtension(t *testing.T) {
	empty := ""
	s := startSuiteWith(t, suite.Config{Gateways: 2, Providers: []suite.Provider{
		{Name: "conformance", Bin: suite.ConformanceProviderBin, Prefix: &empty}}})
	urls := s.MCPURLs()
	a, b := urls[0], urls[1]

	t.Run("discover", func(t *testing.T) {
		res := extPost(t, b, "server/discover", `{}`, withoutTasks, nil)
		var d struct {
			Capabilities struct {
				Extensions map[string]json.RawMessage `json:"extensions"`
				Tasks      json.RawMessage            `json:"tasks"`
			} `json:"capabilities"`
		}
		json.Unmarshal(res.Result, &d)
		if string(d.Capabilities.Extensions["io.modelcontextprotocol/tasks"]) != `{}` ||
			d.Capabilities.Tasks != nil {
			t.Errorf("server/discover capabilities %s, want the tasks extension only", res.Result)
		}
	})
	t.Run("completed result inline", func(t *testing.T) {
		task := createExtTask(t, a, "slow_compute", `{"seconds":1,"label":"inline"}`)
		if got := getExtTask(t, b, task.TaskID); got.Status != "working" || got.Result != nil {
			t.Errorf("right after creation, on the other replica: %+v", got)
		}
		done := awaitExtTask(t, urls, task.TaskID, "completed")
		if done.Result == nil || len(done.Result.Content) != 1 ||
			done.Result.Content[0].Text != `Computed "inline" in 1s` ||
			done.Result.Meta["io.modelcontextprotocol/related-task"] != nil ||
			done.CreatedAt != task.CreatedAt || done.Error != nil {
			t.Errorf("completed task %+v", done)
		}
	})
	t.Run("tool error completes", func(t *testing.T) {
		task := createExtTask(t, b, "failing_job", `{}`)
		done := awaitExtTask(t, urls, task.TaskID, "completed")
		if done.Result == nil || !done.Result.IsError {
			t.Errorf("failing_job task %+v, want completed with isError", done)
		}
	})
	t.Run("input round trip", func(t *testing.T) {
		task := createExtTask(t, a, "confirm_delete", `{"filename":"x.txt"}`)
		waiting := awaitExtTask(t, []string{b}, task.TaskID, "input_required")
		if len(waiting.InputRequests) != 1 {
			t.Fatalf("inputRequests %v, want one question", waiting.InputRequests)
		}
		var key string
		for k, q := range waiting.InputRequests {
			key = k
			if !strings.Contains(string(q), `"method":"elicitation/create"`) ||
				strings.Contains(string(q), "related-task") {
				t.Errorf("input request %s", q)
			}
		}
		// An answer to no pending request is ignored, as the extension asks.
		ack(t, b, "tasks/update", `{"taskId":"`+task.TaskID+`","inputResponses":{"nope":{}}}`)
		ack(t, a, "tasks/update", `{"taskId":"`+task.TaskID+`","inputResponses":{`+
			quoteJSON(key)+`:{"action":"accept","content":{"confirm":true}}}}`)
		done := awaitExtTask(t, urls, task.TaskID, "completed")
		if done.Result == nil || done.Result.Content[0].Text != "Deleted x.txt" {
			t.Errorf("confirm_delete task %+v", done)
		}
	})
	t.Run("answers one at a time", func(t *testing.T) {
		task := createExtTask(t, b, "multi_input", `{}`)
		var waiting extTask
		deadline := time.Now().Add(20 * time.Second)
		for len(waiting.InputRequests) < 2 && time.Now().Before(deadline) {
			waiting = getExtTask(t, a, task.TaskID)
			time.Sleep(20 * time.Millisecond)
		}
		answers := map[string]string{}
		for k, q := range waiting.InputRequests {
			answers[k] = `{"action":"accept","content":{"confirm":true}}`
			if strings.Contains(string(q), "Which name?") {
				answers[k] = `{"action":"accept","content":{"name":"ada"}}`
			}
		}
		if len(answers) != 2 {
			t.Fatalf("inputRequests %v, want two questions", waiting.InputRequests)
		}
		var first string
		for k := range answers {
			first = k
			break
		}
		ack(t, a, "tasks/update", `{"taskId":"`+task.TaskID+`","inputResponses":{`+
			quoteJSON(first)+`:`+answers[first]+`}}`)
		// The acknowledgement waits until the answer is taken, so the
		// other replica already shows only the other question.
		left := getExtTask(t, b, task.TaskID)
		if left.Status != "input_required" || len(left.InputRequests) != 1 ||
			left.InputRequests[first] != nil {
			t.Fatalf("after one answer: %+v", left)
		}
		delete(answers, first)
		for k, v := range answers {
			ack(t, b, "tasks/update", `{"taskId":"`+task.TaskID+`","inputResponses":{`+
				quoteJSON(k)+`:`+v+`}}`)
		}
		done := awaitExtTask(t, urls, task.TaskID, "completed")
		if done.Result == nil || done.Result.Content[0].Text != "multi_input got name=ada, confirm=true" {
			t.Errorf("multi_input task %+v", done)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		task := createExtTask(t, b, "slow_compute", `{"seconds":60,"label":"cancel"}`)
		ack(t, a, "tasks/cancel", `{"taskId":"`+task.TaskID+`"}`)
		if got := getExtTask(t, b, task.TaskID); got.Status != "cancelled" || got.Error != nil {
			t.Errorf("cancelled task %+v", got)
		}
		// Cancelling a finished task is acknowledged the same way.
		ack(t, b, "tasks/cancel", `{"taskId":"`+task.TaskID+`"}`)
	})
	t.Run("opening questions before the task", func(t *testing.T) {
		// test_tool_with_task runs only as a task and asks for a name at
		// once: the question comes as an input_required round, the task
		// only with the answer.
		args := `{"name":"test_tool_with_task","arguments":{}}`
		r1 := extPost(t, a, "tools/call", args, withTasks, nil)
		var round struct {
			ResultType    string                     `json:"resultType"`
			TaskID        *string                    `json:"taskId"`
			InputRequests map[string]json.RawMessage `json:"inputRequests"`
			RequestState  string                     `json:"requestState"`
		}
		json.Unmarshal(r1.Result, &round)
		if round.ResultType != "input_required" || round.TaskID != nil ||
			round.InputRequests["user_name"] == nil || round.RequestState == "" {
			t.Fatalf("first round %s, want the question user_name without a task", r1.Result)
		}
		r2 := extPost(t, b, "tools/call", `{"name":"test_tool_with_task","arguments":{},`+
			`"inputResponses":{"user_name":{"action":"accept","content":{"name":"Alice"}}},`+
			`"requestState":`+quoteJSON(round.RequestState)+`}`, withTasks, nil)
		task := extTaskOf(t, "second round", r2)
		if task.ResultType != "task" || task.TaskID == "" || task.RequestState != nil ||
			task.InputRequests != nil {
			t.Fatalf("second round %s, want a CreateTaskResult", r2.Result)
		}
		done := awaitExtTask(t, urls, task.TaskID, "completed")
		if done.Result == nil || done.Result.Content[0].Text != "Hello, Alice!" {
			t.Errorf("test_tool_with_task task %+v", done)
		}
	})
	t.Run("refused", func(t *testing.T) { checkExtRefusals(t, a, b) })
}

// checkExtRefusals checks the errors of the extension: a client without
// it, unknown and forged task ids, routing headers that contradict the
// body, and the methods of 2025-11-25 that the extension removed.
func checkExtRefusals(t *testing.T, a, b string) {
	missing := extPost(t, a, "tools/call", `{"name":"failing_job","arguments":{}}`, withoutTasks, nil)
	if missing.Status != http.StatusBadRequest || missing.Error == nil ||
		missing.Error.Code != -32021 ||
		string(missing.Error.Data) !=
			`{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}` {
		t.Errorf("required-task tool without the extension: status %d, error %+v",
			missing.Status, missing.Error)
	}
	// A tool where a task is optional runs plainly for such a client.
	plain := extPost(t, b, "tools/call", `{"name":"slow_compute","arguments":{"seconds":0}}`,
		withoutTasks, nil)
	var res struct {
		ResultType string `json:"resultType"`
		TaskID     string `json:"taskId"`
	}
	json.Unmarshal(plain.Result, &res)
	if plain.Error != nil || res.ResultType != "complete" || res.TaskID != "" {
		t.Errorf("slow_compute without the extension: %s %+v", plain.Result, plain.Error)
	}
	// A tool without task support runs plainly for a client with it.
	greet := extPost(t, a, "tools/call", `{"name":"greet","arguments":{"name":"x"}}`, withTasks, nil)
	json.Unmarshal(greet.Result, &res)
	if greet.Error != nil || res.ResultType != "complete" {
		t.Errorf("greet with the extension: %s %+v", greet.Result, greet.Error)
	}

	task := createExtTask(t, a, "slow_compute", `{"seconds":60,"label":"refusals"}`)
	defer ack(t, a, "tasks/cancel", `{"taskId":"`+task.TaskID+`"}`)
	forged := regexp.MustCompile(`\.[^.]*$`).ReplaceAllString(task.TaskID, ".AAAAAAAAAAAAAAAAAAAAAA")
	tests := []struct {
		name, method, params, caps string
		headers                    map[string]string
		status, code               int
	}{
		{"get without the extension", "tasks/get", `{"taskId":"` + task.TaskID + `"}`,
			withoutTasks, nil, http.StatusBadRequest, -32021},
		{"update without the extension", "tasks/update",
			`{"taskId":"` + task.TaskID + `","inputResponses":{}}`, withoutTasks, nil,
			http.StatusBadRequest, -32021},
		{"cancel without the extension", "tasks/cancel", `{"taskId":"` + task.TaskID + `"}`,
			withoutTasks, nil, http.StatusBadRequest, -32021},
		{"unknown task", "tasks/get", `{"taskId":"nonexistent-12345"}`, withTasks, nil,
			http.StatusOK, -32602},
		{"forged task", "tasks/get", `{"taskId":"` + forged + `"}`, withTasks, nil,
			http.StatusOK, -32602},
		{"Mcp-Name of another task", "tasks/get", `{"taskId":"` + task.TaskID + `"}`, withTasks,
			map[string]string{"Mcp-Name": "another"}, http.StatusBadRequest, -32020},
		{"tasks/result is removed", "tasks/result", `{"taskId":"` + task.TaskID + `"}`, withTasks,
			nil, http.StatusNotFound, -32601},
		{"tasks/list is removed", "tasks/list", `{}`, withTasks, nil, http.StatusNotFound, -32601},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := extPost(t, b, tt.method, tt.params, tt.caps, tt.headers)
			if got.Status != tt.status || got.Error == nil || got.Error.Code != tt.code {
				t.Errorf("status %d, error %+v; want %d and code %d", got.Status, got.Error,
					tt.status, tt.code)
			}
		})
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
