package registry

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// taskTool returns a tool whose execution.taskSupport is support; empty
// means no execution object.
func taskTool(name, support string) *providerv1.Tool {
	t := &providerv1.Tool{Name: name, InputSchemaJson: `{"type":"object"}`}
	if support != "" {
		t.ExecutionJson = `{"taskSupport":"` + support + `"}`
	}
	return t
}

// taskReq returns a CreateTask request for tool in session sid.
func taskReq(tool, sid string) *registryv1.CreateTaskRequest {
	call := streamedReq(tool, sid, "")
	call.MetaJson = `{"progressToken":"pt-1"}`
	return &registryv1.CreateTaskRequest{Call: call}
}

// createTask starts a task and fails the test on error.
func (f *fixture) createTask(t *testing.T, req *registryv1.CreateTaskRequest) *registryv1.Task {
	t.Helper()
	resp, err := f.client.CreateTask(t.Context(), req)
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	return resp.GetTask()
}

// getTask reads a task and fails the test on error.
func (f *fixture) getTask(t *testing.T, sid, id string) *registryv1.Task {
	t.Helper()
	resp, err := f.client.GetTask(t.Context(), &registryv1.GetTaskRequest{SessionId: sid,
		TaskId: id})
	if err != nil {
		t.Fatalf("get task %s: %v", id, err)
	}
	return resp.GetTask()
}

// awaitStatus polls a task until it has the given status and returns it.
func (f *fixture) awaitStatus(t *testing.T, sid, id, status string) *registryv1.Task {
	t.Helper()
	var task *registryv1.Task
	eventually(t, "task status "+status, func() bool {
		task = f.getTask(t, sid, id)
		return task.GetStatus() == status
	})
	return task
}

// taskStatuses reads the notifications/tasks/status of a standalone
// watch until one carries a terminal status, and returns the statuses.
func taskStatuses(t *testing.T, w sessionv1.SessionService_WatchEventsClient) []string {
	t.Helper()
	var out []string
	for {
		var n struct {
			Method string `json:"method"`
			Params struct {
				Status string `json:"status"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(next(t, w)), &n); err != nil {
			t.Fatalf("standalone event: %v", err)
		}
		if n.Method != "notifications/tasks/status" {
			continue // list_changed from the registration
		}
		out = append(out, n.Params.Status)
		if terminal(n.Params.Status) {
			return out
		}
	}
}

func TestTaskLifecycle(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	release := make(chan struct{})
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("report", "optional")},
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			err := stream.Send(notify("notifications/progress",
				`{"progressToken":"pt-1","progress":1,"total":2}`))
			if err != nil {
				return err
			}
			<-release
			return stream.Send(resultMsg(&providerv1.ToolResult{
				ContentJson: `[{"type":"text","text":"done"}]`, MetaJson: `{"n":1.50}`}))
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	w := f.watchStandalone(t, sid)

	req := taskReq("p__report", sid)
	req.Ttl = durationpb.New(90 * time.Second)
	task := f.createTask(t, req)
	if task.GetStatus() != taskWorking || task.GetTool() != "p__report" ||
		task.GetTtl().AsDuration() != 90*time.Second ||
		task.GetPollInterval().AsDuration() != time.Second || task.GetStream() == "" {
		t.Errorf("created task %v", task)
	}
	// Any replica answers for the task; the result waits for the call.
	if got := other.getTask(t, sid, task.GetTaskId()); got.GetStatus() != taskWorking {
		t.Errorf("status on another replica %q, want working", got.GetStatus())
	}
	_, err := other.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	wantCode(t, err, codes.FailedPrecondition, "still working")

	close(release)
	related := `"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"` +
		task.GetTaskId() + `"}}`
	want := []string{`{"jsonrpc":"2.0","method":"notifications/progress","params":{` +
		related + `,"progressToken":"pt-1","progress":1,"total":2}}`, ""}
	if diff := cmp.Diff(want, messages(f.watch(t, sid, task.GetStream()))); diff != "" {
		t.Errorf("task stream (-want +got):\n%s", diff)
	}
	res, err := other.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	if err != nil {
		t.Fatalf("task result: %v", err)
	}
	wantResult := `{"content":[{"type":"text","text":"done"}],"_meta":{` +
		`"io.modelcontextprotocol/related-task":{"taskId":"` + task.GetTaskId() + `"},"n":1.50}}`
	if res.GetResultJson() != wantResult || res.GetErrorJson() != "" ||
		res.GetTask().GetStatus() != taskCompleted {
		t.Errorf("result %v, want %s", res, wantResult)
	}
	if diff := cmp.Diff([]string{taskCompleted}, taskStatuses(t, w)); diff != "" {
		t.Errorf("status notifications (-want +got):\n%s", diff)
	}
}

func TestTaskRefused(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("plain", ""), taskTool("never", "forbidden"), taskTool("must", "required"),
		taskTool("may", "optional")}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	tests := []struct {
		name string
		req  *registryv1.CreateTaskRequest
		code codes.Code
	}{
		{"no task support", taskReq("p__plain", sid), codes.FailedPrecondition},
		{"task support forbidden", taskReq("p__never", sid), codes.FailedPrecondition},
		{"unknown tool", taskReq("p__nope", sid), codes.NotFound},
		{"no call", &registryv1.CreateTaskRequest{}, codes.InvalidArgument},
		{"no session", taskReq("p__may", ""), codes.InvalidArgument},
		{"bad ttl", &registryv1.CreateTaskRequest{Call: taskReq("p__may", sid).Call,
			Ttl: &durationpb.Duration{Seconds: -1, Nanos: 1}}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.CreateTask(t.Context(), tc.req)
			wantCode(t, err, tc.code)
		})
	}
	// A tool that requires a task refuses plain calls, bound or streamed.
	t.Run("required tool called plainly", func(t *testing.T) {
		_, err := f.call(t.Context(), &registryv1.CallToolRequest{Name: "p__must"})
		wantCode(t, err, codes.FailedPrecondition, "must be called as a task")
		stream, err := f.client.CallTool(t.Context(), streamedReq("p__must", sid, "s"))
		if err == nil {
			_, err = relayed(stream)
		}
		wantCode(t, err, codes.FailedPrecondition, "must be called as a task")
	})
	t.Run("ttl is clamped", func(t *testing.T) {
		req := taskReq("p__must", sid)
		req.Ttl = durationpb.New(48 * time.Hour)
		if got := f.createTask(t, req).GetTtl().AsDuration(); got != time.Hour {
			t.Errorf("ttl %s, want the maximum 1h", got)
		}
		req.Ttl = durationpb.New(0)
		if got := f.createTask(t, req).GetTtl().AsDuration(); got != time.Second {
			t.Errorf("ttl %s, want the minimum 1s", got)
		}
		req.Ttl = nil
		if got := f.createTask(t, req).GetTtl().AsDuration(); got != time.Hour {
			t.Errorf("ttl %s, want the default 1h", got)
		}
	})
}

// TestCreateTaskSupportAndHeaders checks what the stateless generation's
// tasks extension needs of CreateTask: the tool's task support in the
// answer, and the Mcp-Param headers checked before the task exists.
func TestCreateTaskSupportAndHeaders(t *testing.T) {
	f := startRegistry(t)
	region := taskTool("region", "optional")
	region.InputSchemaJson = `{"type":"object","properties":{` +
		`"region":{"type":"string","x-mcp-header":"Region"}}}`
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("may", "optional"), taskTool("must", "required"), region}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	for _, support := range []string{"optional", "required"} {
		tool := map[string]string{"optional": "p__may", "required": "p__must"}[support]
		resp, err := f.client.CreateTask(t.Context(), taskReq(tool, sid))
		if err != nil {
			t.Fatalf("create task of %s: %v", tool, err)
		}
		if got := resp.GetTaskSupport(); got != support {
			t.Errorf("task support of %s = %q, want %q", tool, got, support)
		}
	}

	tests := []struct {
		name    string
		headers map[string]string
		check   bool
		code    codes.Code
	}{
		{"matching header", map[string]string{"region": "eu"}, true, codes.OK},
		{"mismatched header", map[string]string{"region": "us"}, true, codes.InvalidArgument},
		{"missing header", nil, true, codes.InvalidArgument},
		{"not asked to check", nil, false, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := taskReq("p__region", sid)
			req.Call.ArgumentsJson = `{"region":"eu"}`
			req.Call.ParamHeaders, req.Call.CheckParamHeaders = tc.headers, tc.check
			_, err := f.client.CreateTask(t.Context(), req)
			wantCode(t, err, tc.code)
			if tc.code == codes.OK {
				return
			}
			if e, ok := mcperr.From(err); !ok || e.Code != codeHeaderMismatch {
				t.Errorf("error %v, want the MCP error %d", err, codeHeaderMismatch)
			}
		})
	}
}

func TestTaskInputRequired(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("ask", "required")},
		handle: echoAnswer("elicitation/create", `{"message":"sure?","requestedSchema":{}}`)})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	w := f.watchStandalone(t, sid)
	task := f.createTask(t, taskReq("p__ask", sid))

	waiting := f.awaitStatus(t, sid, task.GetTaskId(), taskInputRequired)
	if len(waiting.GetPendingRequestsJson()) != 1 {
		t.Fatalf("pending requests %q, want one", waiting.GetPendingRequestsJson())
	}
	var q struct {
		ID     string `json:"id"`
		Method string `json:"method"`
		Params struct {
			Meta map[string]json.RawMessage `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(waiting.GetPendingRequestsJson()[0]), &q); err != nil {
		t.Fatalf("pending request: %v", err)
	}
	wantMeta := `{"taskId":"` + task.GetTaskId() + `"}`
	if q.Method != "elicitation/create" || string(q.Params.Meta[relatedTaskKey]) != wantMeta {
		t.Errorf("pending request %s", waiting.GetPendingRequestsJson()[0])
	}

	_, err := other.client.DeliverResponse(t.Context(), &registryv1.DeliverResponseRequest{
		SessionId: sid, MessageJson: `{"jsonrpc":"2.0","id":` + jsonString(q.ID) +
			`,"result":{"action":"accept","content":{}}}`})
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	done := f.awaitStatus(t, sid, task.GetTaskId(), taskCompleted)
	if len(done.GetPendingRequestsJson()) != 0 {
		t.Errorf("pending requests after the answer: %q", done.GetPendingRequestsJson())
	}
	want := []string{taskInputRequired, taskWorking, taskCompleted}
	if diff := cmp.Diff(want, taskStatuses(t, w)); diff != "" {
		t.Errorf("status notifications (-want +got):\n%s", diff)
	}
	res, err := f.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	if err != nil || !strings.Contains(res.GetResultJson(), `accept`) {
		t.Errorf("result %v, %v; want the client's answer", res, err)
	}
}

func TestTaskCancel(t *testing.T) {
	f := startRegistry(t)
	other := f.replica(t)
	started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("wait", "optional")},
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			started <- struct{}{}
			<-stream.Context().Done()
			cancelled <- struct{}{}
			return stream.Context().Err()
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	task := f.createTask(t, taskReq("p__wait", sid))
	await(t, started, "the provider to start the call")

	// notifications/cancelled with the request's id does not reach a task.
	_, err := f.client.CancelCall(t.Context(), &registryv1.CancelCallRequest{
		SessionId: sid, RequestIdJson: `"req-1"`})
	if err != nil {
		t.Fatalf("cancel call: %v", err)
	}
	if got := f.getTask(t, sid, task.GetTaskId()); got.GetStatus() != taskWorking {
		t.Fatalf("status after notifications/cancelled %q, want working", got.GetStatus())
	}

	// The cancellation reaches the call from another replica.
	resp, err := other.client.CancelTask(t.Context(), &registryv1.CancelTaskRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	if err != nil {
		t.Fatalf("cancel task: %v", err)
	}
	if resp.GetTask().GetStatus() != taskCancelled {
		t.Errorf("cancelled task %v", resp.GetTask())
	}
	await(t, cancelled, "the provider to see the cancellation")
	if diff := cmp.Diff([]string{""}, messages(f.watch(t, sid, task.GetStream()))); diff != "" {
		t.Errorf("task stream (-want +got):\n%s", diff)
	}
	res, err := f.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	if err != nil || res.GetErrorJson() != `{"code":-32603,"message":"the task was cancelled"}` {
		t.Errorf("result of a cancelled task %v, %v", res, err)
	}
	_, err = f.client.CancelTask(t.Context(), &registryv1.CancelTaskRequest{
		SessionId: sid, TaskId: task.GetTaskId()})
	wantCode(t, err, codes.FailedPrecondition, `terminal status "cancelled"`)
	// The call's end leaves the cancelled status alone.
	if got := f.getTask(t, sid, task.GetTaskId()); got.GetStatus() != taskCancelled {
		t.Errorf("status %q, want cancelled", got.GetStatus())
	}
}

func TestTaskOutcomes(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("fail", "optional"), taskTool("gone", "optional")},
		handle: func(stream providerv1.ProviderService_CallToolServer,
			start *providerv1.CallToolStart) error {
			if start.GetName() == "gone" {
				return status.Error(codes.NotFound, "no tool gone here")
			}
			return stream.Send(resultMsg(&providerv1.ToolResult{IsError: true,
				ContentJson: `[{"type":"text","text":"it broke"}]`}))
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)

	tests := []struct {
		tool, message, result, err string
	}{
		{"p__fail", "it broke", `{"_meta":{"io.modelcontextprotocol/related-task":` +
			`{"taskId":"ID"}},"content":[{"type":"text","text":"it broke"}],"isError":true}`, ""},
		{"p__gone", "no tool gone here", "",
			`{"code":-32602,"message":"no tool gone here"}`},
	}
	for _, tc := range tests {
		t.Run(tc.tool, func(t *testing.T) {
			task := f.createTask(t, taskReq(tc.tool, sid))
			got := f.awaitStatus(t, sid, task.GetTaskId(), taskFailed)
			if got.GetStatusMessage() != tc.message {
				t.Errorf("status message %q, want %q", got.GetStatusMessage(), tc.message)
			}
			res, err := f.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
				SessionId: sid, TaskId: task.GetTaskId()})
			if err != nil {
				t.Fatalf("task result: %v", err)
			}
			want := strings.ReplaceAll(tc.result, "ID", task.GetTaskId())
			if res.GetResultJson() != want || res.GetErrorJson() != tc.err {
				t.Errorf("result %q error %q, want %q and %q", res.GetResultJson(),
					res.GetErrorJson(), want, tc.err)
			}
		})
	}
}

func TestTaskBoundToSession(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("t", "optional")}})
	f.register(t, p, nil, 0)
	sid, intruder := f.newSession(t, allCaps), f.newSession(t, allCaps)
	task := f.createTask(t, taskReq("p__t", sid))
	f.awaitStatus(t, sid, task.GetTaskId(), taskCompleted)

	id := task.GetTaskId()
	for _, tc := range []struct {
		name, session, task string
	}{{"another session", intruder, id}, {"unknown task", sid, "NOSUCHTASK"},
		{"malformed task id", sid, "../" + id}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.GetTask(t.Context(), &registryv1.GetTaskRequest{
				SessionId: tc.session, TaskId: tc.task})
			wantCode(t, err, codes.NotFound)
			_, err = f.client.GetTaskResult(t.Context(), &registryv1.GetTaskResultRequest{
				SessionId: tc.session, TaskId: tc.task})
			wantCode(t, err, codes.NotFound)
			_, err = f.client.CancelTask(t.Context(), &registryv1.CancelTaskRequest{
				SessionId: tc.session, TaskId: tc.task})
			wantCode(t, err, codes.NotFound)
		})
	}
	resp, err := f.client.ListTasks(t.Context(), &registryv1.ListTasksRequest{
		SessionId: intruder})
	if err != nil || len(resp.GetTasks()) != 0 {
		t.Errorf("another session lists %v, %v", resp.GetTasks(), err)
	}
}

func TestListTasks(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("t", "optional")}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	var want []string
	for range 5 {
		want = append(want, f.createTask(t, taskReq("p__t", sid)).GetTaskId())
	}
	short := taskReq("p__t", sid)
	short.Ttl = durationpb.New(time.Second)
	expiring := f.createTask(t, short).GetTaskId()

	list := func(size int32) []string {
		var ids []string
		req := &registryv1.ListTasksRequest{SessionId: sid, PageSize: size}
		for {
			resp, err := f.client.ListTasks(t.Context(), req)
			if err != nil {
				t.Fatalf("list tasks: %v", err)
			}
			if len(resp.GetTasks()) > int(size) {
				t.Fatalf("page of %d tasks, want at most %d", len(resp.GetTasks()), size)
			}
			for _, task := range resp.GetTasks() {
				ids = append(ids, task.GetTaskId())
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return ids
			}
		}
	}
	if diff := cmp.Diff(append(want, expiring), list(2)); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	// An expired task is gone from the list too.
	eventually(t, "the short task to expire", func() bool {
		_, err := f.client.GetTask(t.Context(), &registryv1.GetTaskRequest{SessionId: sid,
			TaskId: expiring})
		return err != nil
	})
	if diff := cmp.Diff(want, list(4)); diff != "" {
		t.Errorf("tasks after one expired (-want +got):\n%s", diff)
	}
	_, err := f.client.ListTasks(t.Context(), &registryv1.ListTasksRequest{SessionId: sid,
		PageToken: "!!"})
	wantCode(t, err, codes.InvalidArgument, "cursor")
}

func TestRelateMessage(t *testing.T) {
	rel := `"io.modelcontextprotocol/related-task":{"taskId":"T"}`
	tests := []struct{ in, want string }{
		{`{"jsonrpc":"2.0","method":"m"}`,
			`{"params":{"_meta":{` + rel + `}},"jsonrpc":"2.0","method":"m"}`},
		{`{"jsonrpc":"2.0","method":"m","params":{"n":12345678901234567890}}`,
			`{"jsonrpc":"2.0","method":"m","params":{"_meta":{` + rel +
				`},"n":12345678901234567890}}`},
		{`{"id":"x","method":"m","params":{"_meta":{"a":1.0}}}`,
			`{"id":"x","method":"m","params":{"_meta":{` + rel + `,"a":1.0}}}`},
	}
	for _, tc := range tests {
		got, err := relateMessage(tc.in, "T")
		if err != nil || got != tc.want {
			t.Errorf("relateMessage(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestTaskExpiresWhileRunning(t *testing.T) {
	f := startRegistry(t)
	release, cancelled := make(chan struct{}), make(chan struct{}, 1)
	p := startProvider(t, &testProvider{name: "p", tools: []*providerv1.Tool{
		taskTool("long", "optional")},
		handle: func(stream providerv1.ProviderService_CallToolServer,
			_ *providerv1.CallToolStart) error {
			<-release
			if err := stream.Send(ask(1, "roots/list", "")); err != nil {
				return err
			}
			<-stream.Context().Done()
			cancelled <- struct{}{}
			return stream.Context().Err()
		}})
	f.register(t, p, nil, 0)
	sid := f.newSession(t, allCaps)
	req := taskReq("p__long", sid)
	req.Ttl = durationpb.New(time.Second)
	task := f.createTask(t, req)
	eventually(t, "the task to expire", func() bool {
		_, err := f.client.GetTask(t.Context(), &registryv1.GetTaskRequest{SessionId: sid,
			TaskId: task.GetTaskId()})
		return status.Code(err) == codes.NotFound
	})

	// The call learns that its task is gone at its next change of status:
	// nobody can fetch its outcome any more, so it is cancelled, and its
	// stream ends for whoever still waits on it.
	close(release)
	await(t, cancelled, "the provider to see the cancellation")
	evs := f.watch(t, sid, task.GetStream())
	if len(evs) == 0 || !evs[len(evs)-1].GetFinal() || evs[len(evs)-1].GetMessageJson() != "" {
		t.Errorf("task stream %v, want it to end with an empty final event", messages(evs))
	}
}
