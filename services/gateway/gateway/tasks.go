package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// This file holds MCP tasks (2025-11-25, Basic, Utilities, Tasks): a
// tools/call with params.task answers at once with a task, which the
// client polls with tasks/get, lists with tasks/list, cancels with
// tasks/cancel and whose outcome it fetches with tasks/result. The
// registry runs the task's call and keeps the task; the gateway only
// translates, so that any replica serves any task of the session.

// taskCapabilities is the server's tasks capability: list, cancel and
// task-augmented tools/call.
var taskCapabilities = map[string]any{
	"list":     map[string]any{},
	"cancel":   map[string]any{},
	"requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}},
}

// mcpTask is an MCP Task object.
type mcpTask struct {
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	TTL           int64  `json:"ttl"`
	PollInterval  int64  `json:"pollInterval,omitempty"`
}

func taskFromProto(t *registryv1.Task) mcpTask {
	return mcpTask{
		TaskID:        t.GetTaskId(),
		Status:        t.GetStatus(),
		StatusMessage: t.GetStatusMessage(),
		CreatedAt:     isoTime(t.GetCreateTime().AsTime()),
		LastUpdatedAt: isoTime(t.GetUpdateTime().AsTime()),
		TTL:           t.GetTtl().AsDuration().Milliseconds(),
		PollInterval:  t.GetPollInterval().AsDuration().Milliseconds(),
	}
}

// isoTime formats an MCP timestamp: ISO 8601 in UTC, with milliseconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// terminalTask tells whether a task status is final.
func terminalTask(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

// requestedTask returns the task member of tools/call params, and
// whether the call asks to run as a task. A null task is no task.
func requestedTask(params json.RawMessage) (json.RawMessage, bool) {
	var p struct {
		Task json.RawMessage `json:"task"`
	}
	if decodeParams(params, &p) != nil || len(p.Task) == 0 || string(p.Task) == "null" {
		return nil, false
	}
	return p.Task, true
}

// maxTaskTTL bounds the ttl passed on; the registry cuts it much shorter.
const maxTaskTTL = 1 << 40

// taskTTL reads the requested retention of a task: an object whose ttl,
// when present, is a non-negative integer of milliseconds.
func taskTTL(task json.RawMessage) (*durationpb.Duration, error) {
	var p struct {
		TTL json.RawMessage `json:"ttl"`
	}
	if err := decodeParams(task, &p); err != nil {
		return nil, newRPCError(codeInvalidParams, "invalid params: task must be an object")
	}
	if len(p.TTL) == 0 || string(p.TTL) == "null" {
		return nil, nil
	}
	ms, err := strconv.ParseInt(string(p.TTL), 10, 64)
	if err != nil || ms < 0 {
		return nil, newRPCError(codeInvalidParams,
			"invalid params: task.ttl must be a non-negative integer")
	}
	return durationpb.New(time.Duration(min(ms, maxTaskTTL)) * time.Millisecond), nil
}

// createTask answers a task-augmented tools/call with a CreateTaskResult
// once the registry started the task.
func (h *Handler) createTask(ctx context.Context, s *sessionv1.Session, params,
	task json.RawMessage) (any, error) {
	call, err := callRequest(s, params)
	if err != nil {
		return nil, err
	}
	ttl, err := taskTTL(task)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.CreateTask(ctx, &registryv1.CreateTaskRequest{Call: call, Ttl: ttl})
	if rerr := taskRefused(err); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	return struct {
		Task mcpTask `json:"task"`
	}{taskFromProto(resp.GetTask())}, nil
}

// taskRefused maps the registry's refusal of a call that does not match
// the tool's task support (a task of a tool without it, a plain call of a
// tool that runs only as a task) to the error MCP asks for (2025-11-25,
// Tasks, Tool-Level Negotiation); nil for any other error.
func taskRefused(err error) *rpcError {
	if status.Code(err) != codes.FailedPrecondition {
		return nil
	}
	return newRPCError(codeMethodNotFound, "method not found: "+status.Convert(err).Message())
}

// taskError maps a failed task lookup: an unknown task, another
// session's, an expired one or a cancellation of a finished one is
// invalid params (2025-11-25, Tasks, Error Handling).
func taskError(err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.InvalidArgument:
		return newRPCError(codeInvalidParams, "invalid params: "+status.Convert(err).Message())
	}
	return err
}

// taskID reads the taskId of tasks/get, tasks/result and tasks/cancel.
func taskID(params json.RawMessage) (string, error) {
	var p struct {
		TaskID *string `json:"taskId"`
	}
	if err := decodeParams(params, &p); err != nil {
		return "", err
	}
	if p.TaskID == nil || *p.TaskID == "" {
		return "", newRPCError(codeInvalidParams, "invalid params: taskId is required")
	}
	return *p.TaskID, nil
}

func (h *Handler) getTask(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	id, err := taskID(params)
	if err != nil {
		return nil, err
	}
	req := &registryv1.GetTaskRequest{SessionId: s.GetId(), TaskId: id}
	resp, err := h.registry.GetTask(ctx, req)
	if err != nil {
		return nil, taskError(err)
	}
	return taskFromProto(resp.GetTask()), nil
}

func (h *Handler) listTasks(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	tok, err := cursor(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.ListTasks(ctx, &registryv1.ListTasksRequest{
		SessionId: s.GetId(), PageToken: tok})
	if err != nil {
		return nil, err
	}
	out := struct {
		Tasks      []mcpTask `json:"tasks"`
		NextCursor string    `json:"nextCursor,omitempty"`
	}{Tasks: make([]mcpTask, 0, len(resp.GetTasks())), NextCursor: resp.GetNextPageToken()}
	for _, t := range resp.GetTasks() {
		out.Tasks = append(out.Tasks, taskFromProto(t))
	}
	return out, nil
}

func (h *Handler) cancelTask(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	id, err := taskID(params)
	if err != nil {
		return nil, err
	}
	resp, err := h.registry.CancelTask(ctx, &registryv1.CancelTaskRequest{
		SessionId: s.GetId(), TaskId: id})
	if err != nil {
		return nil, taskError(err)
	}
	return taskFromProto(resp.GetTask()), nil
}

// taskResult answers tasks/result once the task is in a terminal status,
// for a client that takes only JSON: the messages of the task's call
// cannot reach it on this request (see streamTaskResult).
func (h *Handler) taskResult(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	id, err := taskID(params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A blocked request must not hold shutdown up; the client asks again.
	go func() {
		select {
		case <-h.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, events, err := h.watchTask(ctx, s, id)
	for err == nil && events != nil {
		resp, rerr := events.Recv()
		if errors.Is(rerr, io.EOF) || resp.GetEvent().GetFinal() {
			break
		}
		err = rerr
	}
	if err != nil && h.isClosing() {
		return nil, newRPCError(codeInternalError,
			"service unavailable: gateway is shutting down, ask again")
	}
	if err != nil {
		return nil, err
	}
	return h.taskOutcome(ctx, s, id)
}

// watchTask returns a task and, unless it is in a terminal status, a
// watch of its stream from now on. The task is read once the watch is
// live, so that every request to the client the call makes is either
// among the task's pending requests or comes through the watch.
func (h *Handler) watchTask(ctx context.Context, s *sessionv1.Session, id string) (
	*registryv1.Task, sessionv1.SessionService_WatchEventsClient, error) {
	req := &registryv1.GetTaskRequest{SessionId: s.GetId(), TaskId: id}
	resp, err := h.registry.GetTask(ctx, req)
	if err != nil {
		return nil, nil, taskError(err)
	}
	if terminalTask(resp.GetTask().GetStatus()) {
		return resp.GetTask(), nil, nil
	}
	events, err := h.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{
		SessionId: s.GetId(), Stream: resp.GetTask().GetStream()})
	if err == nil {
		_, err = events.Header() // Sent once the watch misses nothing.
	}
	if err != nil {
		return nil, nil, err
	}
	resp, err = h.registry.GetTask(ctx, req)
	if err != nil {
		return nil, nil, taskError(err)
	}
	if terminalTask(resp.GetTask().GetStatus()) {
		return resp.GetTask(), nil, nil
	}
	return resp.GetTask(), events, nil
}

// taskOutcome returns what the task's tools/call would have answered:
// its result, with the related-task metadata the registry added, or its
// JSON-RPC error (2025-11-25, Tasks, Result Retrieval).
func (h *Handler) taskOutcome(ctx context.Context, s *sessionv1.Session, id string) (any, error) {
	resp, err := h.registry.GetTaskResult(ctx, &registryv1.GetTaskResultRequest{
		SessionId: s.GetId(), TaskId: id})
	if err != nil {
		return nil, taskError(err)
	}
	if e := resp.GetErrorJson(); e != "" {
		var rerr rpcError
		if json.Unmarshal([]byte(e), &rerr) != nil {
			return nil, newRPCError(codeInternalError, "internal error: malformed task error")
		}
		return nil, &rerr
	}
	return json.RawMessage(resp.GetResultJson()), nil
}

// streamTaskResult answers tasks/result with an SSE stream when the task
// still runs: first the requests to the client that the task's call
// waits for, then whatever the call sends from now on, and finally the
// outcome (2025-11-25, Tasks, Input Required Status). The events carry no
// ids: the stream is not resumable, and a client that loses it asks
// again. A finished task is answered as any other request.
func (h *Handler) streamTaskResult(w http.ResponseWriter, r *http.Request,
	sess *sessionv1.Session, m *message, wantJSON bool) {
	out := replier{w: w, json: wantJSON}
	id, err := taskID(m.Params)
	if err != nil {
		out.reply(m.ID, nil, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	task, events, err := h.watchTask(ctx, sess, id)
	if err != nil {
		out.reply(m.ID, nil, err)
		return
	}
	if events == nil {
		result, err := h.taskOutcome(ctx, sess, id)
		out.reply(m.ID, result, err)
		return
	}
	s, err := startSSE(w)
	if err != nil || h.relayTask(ctx, s, task, events) != nil {
		return
	}
	result, err := h.taskOutcome(ctx, sess, id)
	var rerr *rpcError
	if err != nil {
		rerr = methodError(err)
	}
	s.event("", response(m.ID, result, rerr))
}

// relayTask writes the requests that a task's call waits for, then the
// messages of the watch of the task's stream, without ids, until its
// final event. Requests that came both ways go out once.
func (h *Handler) relayTask(ctx context.Context, s *sseWriter, task *registryv1.Task,
	events sessionv1.SessionService_WatchEventsClient) error {
	sent := make(map[string]bool, len(task.GetPendingRequestsJson()))
	for _, q := range task.GetPendingRequestsJson() {
		sent[requestID(q)] = true
		if err := s.event("", []byte(q)); err != nil {
			return err
		}
	}
	recv, done := relay(ctx, func() (item, error) {
		for {
			resp, err := events.Recv()
			if err != nil {
				return item{}, err
			}
			ev := resp.GetEvent()
			if q := requestID(ev.GetMessageJson()); q == "" || !sent[q] {
				return item{event: &sessionv1.Event{MessageJson: ev.GetMessageJson(),
					Final: ev.GetFinal()}}, nil
			}
		}
	})
	return h.pump(ctx, s, recv, done)
}

// requestID returns the id of a JSON-RPC request as JSON text, or "" for
// any other message.
func requestID(msg string) string {
	var q struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal([]byte(msg), &q) != nil || q.Method == "" {
		return ""
	}
	return string(q.ID)
}
