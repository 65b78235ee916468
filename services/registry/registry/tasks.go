package registry

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Tasks (MCP 2025-11-25, Tasks) are tool calls that answer at once with a
// task and run detached, like streamed calls; the client polls the task
// and fetches the outcome later. A task's state lives in Redis under its
// session's hash tag (tasks_store.go), so that any replica answers for
// it; its call runs on the replica that created it, which keeps the
// state up to date (tasks_call.go).

// Values of a tool's execution.taskSupport (2025-11-25, Tools).
const (
	taskSupportOptional = "optional"
	taskSupportRequired = "required"
)

// minTaskTTL is the shortest retention granted, whatever the client asks.
const minTaskTTL = time.Second

// taskIDRE matches the task ids the registry issues, and so keeps any
// other text out of Redis keys.
var taskIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// taskSupport returns a tool's execution.taskSupport; absent or
// malformed means "forbidden".
func taskSupport(tool *registryv1.CatalogTool) string {
	var e struct {
		TaskSupport string `json:"taskSupport"`
	}
	if s := tool.GetTool().GetExecutionJson(); s != "" {
		json.Unmarshal([]byte(s), &e) // Malformed means none.
	}
	return e.TaskSupport
}

// checkTaskless refuses a plain call of a tool that runs only as a task
// (2025-11-25, Tasks, Tool-Level Negotiation).
func checkTaskless(tool *registryv1.CatalogTool) error {
	if taskSupport(tool) == taskSupportRequired {
		return errorf(ErrPrecondition, "tool %q must be called as a task",
			tool.GetTool().GetName())
	}
	return nil
}

// callKey is the key of a task's call in the call table. It is no
// canonical request id (those are JSON strings or numbers), so that
// notifications/cancelled never reaches a task, as MCP requires.
func callKey(taskID string) string { return "task:" + taskID }

// taskStreamName is the session stream a task's messages are logged to.
func taskStreamName(taskID string) string { return "t" + taskID }

// CreateTask starts a task-augmented tool call and returns the task.
func (s *Server) CreateTask(ctx context.Context, req *registryv1.CreateTaskRequest) (
	*registryv1.CreateTaskResponse, error) {
	resp, err := s.createTask(ctx, req)
	if err != nil {
		return nil, s.toStatus("CreateTask", err)
	}
	return resp, nil
}

func (s *Server) createTask(ctx context.Context, req *registryv1.CreateTaskRequest) (
	*registryv1.CreateTaskResponse, error) {
	call, ttl, err := s.validateTask(req)
	if err != nil {
		return nil, err
	}
	tool, addr, err := s.store.Lookup(ctx, call.GetName())
	if err != nil {
		return nil, err
	}
	ts := taskSupport(tool)
	if ts != taskSupportOptional && ts != taskSupportRequired {
		return nil, errorf(ErrPrecondition, "tool %q does not support tasks", call.GetName())
	}
	if call.GetCheckParamHeaders() {
		err := checkParamHeaders(tool.GetTool().GetInputSchemaJson(), call.GetArgumentsJson(),
			call.GetParamHeaders())
		if err != nil {
			return nil, err
		}
	}
	client, release, err := s.pool.acquire(addr)
	if err != nil {
		return nil, err
	}
	id := crand.Text()
	task, err := s.startTask(ctx, id, call, taskRoute{tool, addr, client, release}, ttl)
	if err != nil {
		release()
		return nil, err
	}
	s.log.Info("task created", "task_id", id, "session_id", call.GetSessionId(),
		"tool", call.GetName(), "ttl", ttl)
	return &registryv1.CreateTaskResponse{Task: task, TaskSupport: ts}, nil
}

// taskRoute is the tool a task calls and a client of its provider, with
// the func that releases the client.
type taskRoute struct {
	tool    *registryv1.CatalogTool
	addr    string
	client  providerv1.ProviderServiceClient
	release func()
}

// startTask stores a new task and runs its call detached; the call
// releases the provider's client when it ends.
func (s *Server) startTask(ctx context.Context, id string, call *registryv1.CallToolRequest,
	rt taskRoute, ttl time.Duration) (*registryv1.Task, error) {
	call.Stream = taskStreamName(id)
	// Detached on purpose, as a streamed call: the task outlives this RPC.
	callCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c, err := s.calls.add(call.GetSessionId(), callKey(id), cancel, true)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	task, err := s.store.CreateTask(ctx, taskSpec{session: call.GetSessionId(), id: id,
		stream: call.GetStream(), tool: call.GetName(), ttl: ttl, poll: s.cfg.TaskPollInterval})
	if err != nil {
		s.calls.remove(c)
		cancel(nil)
		return nil, err
	}
	r := &streamedCall{s: s, c: c, req: call, tool: rt.tool, addr: rt.addr, out: discard(),
		pending: make(map[int64]string),
		task:    &taskCall{s: s, session: call.GetSessionId(), id: id}}
	go r.detach(callCtx, cancel, rt.client, rt.release)
	return task, nil
}

// validateTask checks a CreateTask request and returns the call to run,
// a copy of the request's, and the retention to grant.
func (s *Server) validateTask(req *registryv1.CreateTaskRequest) (
	*registryv1.CallToolRequest, time.Duration, error) {
	call := proto.CloneOf(req.GetCall())
	if call == nil {
		return nil, 0, errorf(ErrInvalid, "call: required")
	}
	if err := validateCall(call); err != nil {
		return nil, 0, err
	}
	if err := checkSession(call.GetSessionId()); err != nil {
		return nil, 0, err
	}
	// The response the call builds is turned into the task's outcome, so
	// any id will do when the caller gave none.
	if call.GetRequestIdJson() == "" {
		call.RequestIdJson = "null"
	}
	ttl := s.cfg.MaxTaskTTL
	if req.Ttl != nil {
		if err := req.GetTtl().CheckValid(); err != nil {
			return nil, 0, errorf(ErrInvalid, "ttl: %v", err)
		}
		ttl = min(max(req.GetTtl().AsDuration(), minTaskTTL), s.cfg.MaxTaskTTL)
	}
	return call, ttl.Truncate(time.Millisecond), nil
}

// checkSession checks a session id that task keys are built from.
func checkSession(id string) error {
	if id == "" || len(id) > 128 {
		return errorf(ErrInvalid, "session_id: want 1 to 128 characters")
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return errorf(ErrInvalid, "session_id: want visible ASCII")
		}
	}
	return nil
}

// discard is the relay of a call that no RPC relays, a task's: it drops
// every message at once.
func discard() *relay {
	r := &relay{gone: make(chan struct{}), lagged: make(chan struct{})}
	close(r.gone)
	return r
}

// GetTask returns a session's task.
func (s *Server) GetTask(ctx context.Context, req *registryv1.GetTaskRequest) (
	*registryv1.GetTaskResponse, error) {
	rec, err := s.task(ctx, req.GetSessionId(), req.GetTaskId())
	if err != nil {
		return nil, s.toStatus("GetTask", err)
	}
	return &registryv1.GetTaskResponse{Task: rec.task}, nil
}

// task reads a session's task after checking the ids. An id the registry
// cannot have issued names no task.
func (s *Server) task(ctx context.Context, session, id string) (taskRecord, error) {
	if err := checkTaskIDs(session, id); err != nil {
		return taskRecord{}, err
	}
	return s.store.Task(ctx, session, id)
}

// checkTaskIDs checks the ids that name a task.
func checkTaskIDs(session, id string) error {
	if err := checkSession(session); err != nil {
		return err
	}
	if !taskIDRE.MatchString(id) {
		return errNoTask(id)
	}
	return nil
}

// GetTaskResult returns the outcome of a task in a terminal status.
func (s *Server) GetTaskResult(ctx context.Context, req *registryv1.GetTaskResultRequest) (
	*registryv1.GetTaskResultResponse, error) {
	rec, err := s.task(ctx, req.GetSessionId(), req.GetTaskId())
	if err == nil && !terminal(rec.task.GetStatus()) {
		err = errorf(ErrPrecondition, "task %q is still %s", req.GetTaskId(),
			rec.task.GetStatus())
	}
	if err != nil {
		return nil, s.toStatus("GetTaskResult", err)
	}
	return &registryv1.GetTaskResultResponse{Task: rec.task, ResultJson: rec.result,
		ErrorJson: rec.err}, nil
}

// ListTasks returns one page of a session's tasks, oldest first.
func (s *Server) ListTasks(ctx context.Context, req *registryv1.ListTasksRequest) (
	*registryv1.ListTasksResponse, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, s.toStatus("ListTasks", err)
	}
	tasks, next, err := page(s, req.GetPageSize(), req.GetPageToken(),
		func(after string, n int) ([]*registryv1.Task, error) {
			return s.store.ListTasks(ctx, req.GetSessionId(), after, n)
		}, func(t *registryv1.Task) *registryv1.Task { return t }, taskMember)
	if err != nil {
		return nil, s.toStatus("ListTasks", err)
	}
	return &registryv1.ListTasksResponse{Tasks: tasks, NextPageToken: next}, nil
}

// CancelTask cancels a task on behalf of its session: the task is
// cancelled at once, whatever becomes of its call, which is cancelled on
// whichever replica runs it (2025-11-25, Tasks, Task Cancellation).
func (s *Server) CancelTask(ctx context.Context, req *registryv1.CancelTaskRequest) (
	*registryv1.CancelTaskResponse, error) {
	task, err := s.cancelTask(ctx, req.GetSessionId(), req.GetTaskId())
	if err != nil {
		return nil, s.toStatus("CancelTask", err)
	}
	return &registryv1.CancelTaskResponse{Task: task}, nil
}

func (s *Server) cancelTask(ctx context.Context, session, id string) (*registryv1.Task, error) {
	if err := checkTaskIDs(session, id); err != nil {
		return nil, err
	}
	rec, changed, err := s.store.UpdateTask(ctx, session, id, taskUpdate{
		status: taskCancelled, message: cancelledMessage,
		err: errorObject(codeInternalError, cancelledError)})
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, errorf(ErrPrecondition, "cannot cancel task %q: already in terminal "+
			"status %q", id, rec.task.GetStatus())
	}
	s.taskChanged(ctx, rec.task)
	// The task is cancelled now; its call's replica ends the call, and this
	// one the task's stream, also when no replica runs the call any more.
	if err := s.appendTaskEvent(ctx, session, rec.task.GetStream(), "", true); err != nil {
		s.log.Warn("end task stream", "task_id", id, "err", err)
	}
	if !s.cancelTaskCall(session, id) {
		err := s.publish(ctx, s.cancelChannel(), cancellation{Session: session,
			Request: callKey(id), Reason: cancelledMessage})
		if err != nil {
			s.log.Warn("publish task cancellation", "task_id", id, "err", err)
		}
	}
	return rec.task, nil
}

// cancelTaskCall cancels a task's call if it runs on this replica.
func (s *Server) cancelTaskCall(session, id string) bool {
	return s.cancelLocal(cancellation{Session: session, Request: callKey(id),
		Reason: cancelledMessage})
}
