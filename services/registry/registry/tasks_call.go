package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// relatedTaskKey is the _meta member that ties a message to its task
// (2025-11-25, Tasks, Related Task Metadata).
const relatedTaskKey = "io.modelcontextprotocol/related-task"

// Status messages of the statuses a task's call moves it to.
const (
	inputRequiredMessage = "the tool waits for the client's answer to a request"
	cancelledMessage     = "the task was cancelled by request"
	cancelledError       = "the task was cancelled"
)

// taskCall follows the call of a task (see streamedCall.task): it ties
// the call's messages to the task, keeps the task's status and unanswered
// requests in Redis, and stores the outcome. Its methods do nothing on a
// nil *taskCall, which is what other calls have, so that the hooks in
// stream.go need no test of their own. It is used by the call's goroutine
// only.
type taskCall struct {
	s       *Server
	session string
	id      string
	// pending lists the unanswered requests to the client, oldest first:
	// the ids the client saw and the messages as logged.
	pending []pendingRequest
}

type pendingRequest struct{ id, msg string }

// relate adds the related-task metadata to a message of the call before
// it is logged; the final event, an empty marker for a task, stays as it
// is.
func (t *taskCall) relate(msg string, final bool) string {
	if t == nil || final || msg == "" {
		return msg
	}
	out, err := relateMessage(msg, t.id)
	if err != nil {
		t.s.log.Warn("relate message to task", "task_id", t.id, "err", err)
		return msg
	}
	return out
}

// asked records a request to the client before it is logged, so that
// whoever reads the task afterwards either finds the request listed or
// sees it in the log (see the gateway's tasks/result), and moves the
// task to input_required.
func (t *taskCall) asked(ctx context.Context, id, msg string) {
	if t == nil {
		return
	}
	t.pending = append(t.pending, pendingRequest{id: id, msg: t.relate(msg, false)})
	t.update(ctx, taskUpdate{status: taskInputRequired, message: inputRequiredMessage,
		pending: t.messages()})
}

// answered drops an answered request; the task is working again once no
// request waits.
func (t *taskCall) answered(ctx context.Context, id string) {
	if t == nil {
		return
	}
	t.pending = slices.DeleteFunc(t.pending, func(p pendingRequest) bool { return p.id == id })
	u := taskUpdate{status: taskWorking, pending: t.messages()}
	if len(t.pending) > 0 {
		u.status, u.message = taskInputRequired, inputRequiredMessage
	}
	t.update(ctx, u)
}

func (t *taskCall) messages() []string {
	out := make([]string, len(t.pending))
	for i, p := range t.pending {
		out[i] = p.msg
	}
	return out
}

// finish stores the call's outcome, msg (the JSON-RPC response the call
// would have answered, or empty when it was cancelled), and then ends the
// task's stream with an empty final event. It reports whether it ended
// the call, which it does for a task's call only.
func (t *taskCall) finish(ctx context.Context, r *streamedCall, msg string) bool {
	if t == nil {
		return false
	}
	t.pending = nil
	u, err := t.outcome(msg)
	if err != nil {
		t.s.log.Error("store task outcome", "task_id", t.id, "err", err)
		u = taskUpdate{status: taskFailed, message: "internal error",
			err: errorObject(codeInternalError, "internal error")}
	}
	changed, gone := t.update(ctx, u)
	// A task cancelled with CancelTask got its final event from the
	// canceller; an expired one gets one here, so that waiters wake.
	if changed || gone {
		r.emit(ctx, "", true)
	}
	return true
}

// outcome turns the call's JSON-RPC response into the task's terminal
// state: completed with the result, failed with a result whose isError is
// set or with a JSON-RPC error, or cancelled.
func (t *taskCall) outcome(msg string) (taskUpdate, error) {
	if msg == "" {
		return taskUpdate{status: taskCancelled, message: cancelledMessage,
			err: errorObject(codeInternalError, cancelledError)}, nil
	}
	var m struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return taskUpdate{}, err
	}
	if m.Error != nil {
		var e struct {
			Message string `json:"message"`
		}
		json.Unmarshal(m.Error, &e)
		return taskUpdate{status: taskFailed, message: e.Message, err: string(m.Error)}, nil
	}
	result, err := withMetaMember(string(m.Result), relatedTaskKey, relatedTask(t.id))
	if err != nil {
		return taskUpdate{}, err
	}
	if text, failed := toolError(m.Result); failed {
		return taskUpdate{status: taskFailed, message: text, result: result}, nil
	}
	return taskUpdate{status: taskCompleted, result: result}, nil
}

// toolError tells whether a CallToolResult reports a failed tool, and
// returns its first text block for the task's status message.
func toolError(result json.RawMessage) (string, bool) {
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(result, &r) != nil || !r.IsError {
		return "", false
	}
	for _, c := range r.Content {
		if c.Type == "text" {
			return c.Text, true
		}
	}
	return "the tool failed", true
}

// update stores u. A change of status is told to the client. It reports
// whether the status changed, and whether the task was gone: it expired,
// so nobody can learn the call's outcome any more and the call is
// cancelled.
func (t *taskCall) update(ctx context.Context, u taskUpdate) (changed, gone bool) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	rec, changed, err := t.s.store.UpdateTask(uctx, t.session, t.id, u)
	switch {
	case errors.Is(err, ErrNotFound):
		t.s.log.Info("task expired while it ran", "task_id", t.id, "session_id", t.session)
		t.s.cancelTaskCall(t.session, t.id)
		return false, true
	case err != nil:
		t.s.log.Error("update task", "task_id", t.id, "session_id", t.session, "err", err)
		return false, false
	}
	if changed {
		t.s.taskChanged(uctx, rec.task)
	}
	return changed, false
}

// taskChanged appends notifications/tasks/status with the task to the
// session's standalone stream (2025-11-25, Tasks, Task Status
// Notification). The notification is optional, so failures are logged
// only.
func (s *Server) taskChanged(ctx context.Context, task *registryv1.Task) {
	s.log.Info("task status", "task_id", task.GetTaskId(), "session_id", task.GetSessionId(),
		"status", task.GetStatus())
	msg, err := rpcNotification("notifications/tasks/status", taskJSON(task))
	if err == nil {
		err = s.appendTaskEvent(ctx, task.GetSessionId(), standaloneStream, msg, false)
	}
	if err != nil {
		s.log.Warn("notify task status", "task_id", task.GetTaskId(), "err", err)
	}
}

// standaloneStream is the session's GET stream.
const standaloneStream = "_"

// appendTaskEvent appends one event to a stream of a session.
func (s *Server) appendTaskEvent(ctx context.Context, session, stream, msg string,
	final bool) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	_, err := s.sessions.AppendEvent(actx, &sessionv1.AppendEventRequest{
		SessionId: session, Stream: stream, MessageJson: msg, Final: final,
	}, grpc.WaitForReady(true))
	if err != nil {
		return sessionErr(err)
	}
	return nil
}

// taskJSON renders a task as the MCP Task object.
func taskJSON(t *registryv1.Task) string {
	b := `{"taskId":` + jsonString(t.GetTaskId()) + `,"status":` + jsonString(t.GetStatus())
	if t.GetStatusMessage() != "" {
		b += `,"statusMessage":` + jsonString(t.GetStatusMessage())
	}
	b += `,"createdAt":` + jsonString(isoTime(t.GetCreateTime().AsTime())) +
		`,"lastUpdatedAt":` + jsonString(isoTime(t.GetUpdateTime().AsTime())) +
		`,"ttl":` + strconv.FormatInt(t.GetTtl().AsDuration().Milliseconds(), 10) +
		`,"pollInterval":` +
		strconv.FormatInt(t.GetPollInterval().AsDuration().Milliseconds(), 10) + `}`
	return b
}

// isoTime formats a time as MCP's ISO 8601 timestamps, in UTC with
// milliseconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// relatedTask is the value of the related-task member for a task.
func relatedTask(id string) string { return `{"taskId":` + jsonString(id) + `}` }

// relateMessage returns a JSON-RPC notification or request with the
// related-task member set in its params' _meta, keeping every other byte.
func relateMessage(msg, id string) (string, error) {
	var m struct {
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return "", err
	}
	params := string(m.Params)
	if params == "" || params == "null" {
		params = "{}"
	}
	params, err := withMetaMember(params, relatedTaskKey, relatedTask(id))
	if err != nil {
		return "", err
	}
	return setMember(msg, "params", params)
}

// withMetaMember returns the JSON object obj with member key of its _meta
// object set to value.
func withMetaMember(obj, key, value string) (string, error) {
	var o struct {
		Meta json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal([]byte(obj), &o); err != nil {
		return "", err
	}
	meta := string(o.Meta)
	if !isJSONObject(meta) {
		meta = "{}"
	}
	meta, err := setMember(meta, key, value)
	if err != nil {
		return "", err
	}
	return setMember(obj, "_meta", meta)
}
