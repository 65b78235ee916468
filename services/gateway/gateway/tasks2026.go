package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// This file holds the tasks extension of the stateless generation
// (io.modelcontextprotocol/tasks, SEP-2663). The server decides per
// tools/call whether to answer with a task handle (resultType "task")
// instead of the result; the client then reads the task with tasks/get,
// which inlines its outcome or the requests it waits on, answers those
// with tasks/update and stops it with tasks/cancel.
//
// A task here is the registry's task (tasks*.go of the registry), bound
// to a hidden session that the gateway opens for the call, as for the
// input_required rounds of mrtr.go. The taskId handed out names both the
// hidden session and the registry's task id, signed, so that any replica
// finds the task in Redis from the id alone; the hidden session's id is
// an unguessable secret that only the caller holds, which makes the
// taskId the capability to the task.
//
// Known shortcoming: task status notifications (notifications/tasks on a
// subscriptions/listen stream) are not sent; the extension makes them
// optional, and clients poll tasks/get. subscriptions/listen ignores a
// taskIds filter instead of refusing it from a client without the
// extension.
//
// Known shortcoming: the hidden session lives by its own sliding TTL and
// nothing renews it while a task runs. A task's call is bounded by the
// registry's -call-timeout (5m by default), far inside the session TTL
// (30m by default); configured the other way round, a call that outlives
// its hidden session is cancelled the next time it sends a message.

// tasksExtension is the extension's identifier in capabilities.
const tasksExtension = "io.modelcontextprotocol/tasks"

// tasksCapability is the server's entry under capabilities.extensions:
// no settings are defined, so an empty object says "supported".
var tasksCapability = map[string]any{tasksExtension: map[string]any{}}

// relatedTaskKey is the _meta member the registry puts on a task's
// messages and result for the 2025-11-25 tasks; the extension's tasks
// carry their id at the root instead, so it is dropped here.
const relatedTaskKey = "io.modelcontextprotocol/related-task"

// answerWait bounds how long tasks/update waits for the answers it
// delivered to leave the task's pending requests, and answerPoll is how
// often it looks. Delivery is asynchronous (the answer travels to the
// registry replica running the call), and a client that reads the task
// right after the acknowledgement should not be asked again.
const (
	answerWait = 2 * time.Second
	answerPoll = 10 * time.Millisecond
)

// tasksDeclared tells whether a client's per-request capabilities declare
// the extension (an object under extensions).
func tasksDeclared(caps string) bool {
	var c struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal([]byte(caps), &c) != nil {
		return false
	}
	v := c.Extensions[tasksExtension]
	return len(v) > 0 && v[0] == '{'
}

// tasksRequiredData is the data of MissingRequiredClientCapability naming
// the extension (SEP-2663, Capability Negotiation).
var tasksRequiredData = json.RawMessage(`{"requiredCapabilities":{"extensions":{"` +
	tasksExtension + `":{}}}}`)

// missingTasks is MissingRequiredClientCapability for the extension; why
// says what needed it.
func missingTasks(why string) *rpcError {
	e := newRPCError(codeMissingCapability, "missing required client capability: "+why+
		" needs the "+tasksExtension+" extension")
	e.Data = tasksRequiredData
	return e
}

// statelessRefusal maps a refusal of a stateless tools/call that has an
// error code of its own in the stateless generation: Mcp-Param headers
// that contradict the arguments, and a plain call of a tool that runs
// only as a task, which the registry refuses with FAILED_PRECONDITION
// and nothing else (a client with the extension gets a task instead, so
// only a client without it meets this). Any other error gives nil.
func statelessRefusal(err error) *rpcError {
	if e := mcpError(err); e != nil {
		return e
	}
	if status.Code(err) == codes.FailedPrecondition {
		return missingTasks("this tool runs only as a task, which")
	}
	return nil
}

// taskHandle locates a task of the extension: the hidden session it is
// bound to and the registry's id of it.
type taskHandle struct {
	session, task string
}

// sealTask encodes a handle as the taskId the client sees:
// "<task>.<session>.<mac>". Neither id contains a dot (the registry's are
// letters and digits, the session service's unpadded base64url), and
// every character may travel in the Mcp-Name header unencoded.
func (h *Handler) sealTask(t taskHandle) string {
	return t.task + "." + t.session + "." + base64.RawURLEncoding.EncodeToString(h.taskMAC(t))
}

// openTask decodes and checks a taskId made by sealTask.
func (h *Handler) openTask(id string) (taskHandle, bool) {
	parts := strings.Split(id, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return taskHandle{}, false
	}
	t := taskHandle{task: parts[0], session: parts[1]}
	mac, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(mac, h.taskMAC(t)) {
		return taskHandle{}, false
	}
	return t, true
}

// taskMAC signs a handle with the -request-state-key joined with the
// session id, as sealState does, in a domain of its own: session ids
// never contain a NUL, so no requestState key equals a task key.
func (h *Handler) taskMAC(t taskHandle) []byte {
	m := hmac.New(sha256.New, []byte(h.cfg.RequestStateKey+"\x00task\x00"+t.session))
	m.Write([]byte(t.task))
	return m.Sum(nil)[:16]
}

// extTask is a Task of the extension. As CreateTaskResult it has
// resultType "task" and only the Task members; as the DetailedTask of
// tasks/get it has the members of its status: inputRequests, result or
// error.
type extTask struct {
	ResultType     string          `json:"resultType,omitempty"`
	TaskID         string          `json:"taskId"`
	Status         string          `json:"status"`
	StatusMessage  string          `json:"statusMessage,omitempty"`
	CreatedAt      string          `json:"createdAt"`
	LastUpdatedAt  string          `json:"lastUpdatedAt"`
	TTLMs          int64           `json:"ttlMs"`
	PollIntervalMs int64           `json:"pollIntervalMs,omitempty"`
	InputRequests  json.RawMessage `json:"inputRequests,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          json.RawMessage `json:"error,omitempty"`
}

// taskState is a registry task with its outcome, once it has one.
type taskState struct {
	task          *registryv1.Task
	result, error string
}

// readTask reads a task, and its outcome when it is in a terminal status.
func (h *Handler) readTask(ctx context.Context, t taskHandle) (taskState, error) {
	resp, err := h.registry.GetTask(ctx, &registryv1.GetTaskRequest{
		SessionId: t.session, TaskId: t.task})
	if err != nil {
		return taskState{}, extTaskError(err)
	}
	if !terminalTask(resp.GetTask().GetStatus()) {
		return taskState{task: resp.GetTask()}, nil
	}
	res, err := h.registry.GetTaskResult(ctx, &registryv1.GetTaskResultRequest{
		SessionId: t.session, TaskId: t.task})
	if err != nil {
		return taskState{}, extTaskError(err)
	}
	return taskState{task: res.GetTask(), result: res.GetResultJson(), error: res.GetErrorJson()}, nil
}

// extTaskError maps a failed task lookup: a task that never existed or
// expired is invalid params (SEP-2663, tasks/get).
func extTaskError(err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument:
		return newRPCError(codeInvalidParams, "invalid params: unknown task: it never existed or expired")
	}
	return err
}

// view renders a task under the client's id; detailed adds the members
// of its status.
//
// A tool that failed (a result with isError) ends the registry's task as
// "failed", as 2025-11-25 has it; the extension counts only JSON-RPC
// errors as failures, so such a task is "completed" with its result
// (SEP-2663, Task Status).
func (s taskState) view(id string, detailed bool) extTask {
	t := s.task
	out := extTask{
		TaskID:         id,
		Status:         t.GetStatus(),
		StatusMessage:  t.GetStatusMessage(),
		CreatedAt:      isoTime(t.GetCreateTime().AsTime()),
		LastUpdatedAt:  isoTime(t.GetUpdateTime().AsTime()),
		TTLMs:          t.GetTtl().AsDuration().Milliseconds(),
		PollIntervalMs: t.GetPollInterval().AsDuration().Milliseconds(),
	}
	if out.Status == "failed" && s.result != "" {
		out.Status = "completed"
	}
	if !detailed {
		out.ResultType = "task"
		return out
	}
	switch out.Status {
	case "input_required":
		out.InputRequests = pendingInputs(t.GetPendingRequestsJson())
	case "completed":
		out.Result = withoutMeta(json.RawMessage(s.result), relatedTaskKey)
	case "failed":
		out.Error = json.RawMessage(s.error)
	}
	return out
}

// pendingInputs turns a task's pending requests to the client into
// inputRequests, keyed by their JSON-RPC ids, which tasks/update takes
// back as the keys of inputResponses. The registry's ids, not the names a
// provider may give its questions (see inputKey), since a key must name
// one request over the task's whole lifetime (SEP-2663, Task Update
// Requests) and only the ids are sure to.
func pendingInputs(pending []string) json.RawMessage {
	reqs := make(map[string]inputRequest, len(pending))
	for _, q := range pending {
		var m message
		if json.Unmarshal([]byte(q), &m) != nil || m.Method == nil {
			continue
		}
		key := requestKey(m.ID)
		reqs[key] = inputRequest{key: key, id: key, Method: *m.Method,
			Params: withoutMeta(m.Params, relatedTaskKey)}
	}
	b, _ := json.Marshal(reqs)
	return b
}

// requestKey is the key of a request to the client in inputRequests: its
// id, which the registry always makes a string.
func requestKey(id json.RawMessage) string {
	var key string
	if json.Unmarshal(id, &key) != nil {
		return string(id)
	}
	return key
}

// withoutMeta returns obj without member key of its _meta, and without
// _meta once that is empty. Anything that is not such an object is
// returned as it is.
func withoutMeta(obj json.RawMessage, key string) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(obj, &fields) != nil || fields["_meta"] == nil {
		return obj
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["_meta"], &meta) != nil {
		return obj
	}
	if _, ok := meta[key]; !ok {
		return obj
	}
	delete(meta, key)
	if len(meta) == 0 {
		delete(fields, "_meta")
	} else {
		fields["_meta"], _ = json.Marshal(meta)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return obj
	}
	return out
}

// taskFor checks a tasks/* request: the client must declare the
// extension (SEP-2663, Capability Negotiation), then name a task this
// gateway issued. It returns the task and the id the client used.
func (h *Handler) taskFor(s *sessionv1.Session, params json.RawMessage, method string) (
	taskHandle, string, error) {
	if !tasksDeclared(s.GetClientCapabilitiesJson()) {
		return taskHandle{}, "", missingTasks(method)
	}
	id, err := taskID(params)
	if err != nil {
		return taskHandle{}, "", err
	}
	t, ok := h.openTask(id)
	if !ok {
		return taskHandle{}, "", newRPCError(codeInvalidParams,
			"invalid params: unknown task "+quote(clip(id)))
	}
	return t, id, nil
}

// getTaskExt serves tasks/get: the task with the members of its status.
func (h *Handler) getTaskExt(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	t, id, err := h.taskFor(s, params, "tasks/get")
	if err != nil {
		return nil, err
	}
	st, err := h.readTask(ctx, t)
	if err != nil {
		return nil, err
	}
	if terminalTask(st.task.GetStatus()) {
		// The outcome lives with the task; the hidden session is needed
		// no more. Deleting it twice is harmless.
		h.dropSession(t.session)
	}
	return st.view(id, true), nil
}

// updateTaskExt serves tasks/update: it delivers the answers to the
// requests the task waits on and acknowledges with an empty result.
// Answers to keys that are not pending are ignored (SEP-2663, Task Update
// Requests).
func (h *Handler) updateTaskExt(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	t, _, err := h.taskFor(s, params, "tasks/update")
	if err != nil {
		return nil, err
	}
	var p struct {
		InputResponses map[string]json.RawMessage `json:"inputResponses"`
	}
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.InputResponses == nil {
		return nil, newRPCError(codeInvalidParams, "invalid params: inputResponses is required")
	}
	resp, err := h.registry.GetTask(ctx, &registryv1.GetTaskRequest{
		SessionId: t.session, TaskId: t.task})
	if err != nil {
		return nil, extTaskError(err)
	}
	// Every answer is checked before any is delivered, so that a refused
	// update delivers nothing.
	pending := pendingKeys(resp.GetTask())
	var keys []string
	for _, key := range sortedKeys(p.InputResponses) {
		if !slices.Contains(pending, key) {
			continue
		}
		if a := p.InputResponses[key]; len(a) == 0 || a[0] != '{' {
			return nil, newRPCError(codeInvalidParams,
				"invalid params: inputResponses["+quote(clip(key))+"] must be an object")
		}
		keys = append(keys, key)
	}
	for _, key := range keys {
		id, _ := json.Marshal(key)
		msg := `{"jsonrpc":"2.0","id":` + string(id) + `,"result":` +
			string(p.InputResponses[key]) + `}`
		_, err := h.registry.DeliverResponse(ctx, &registryv1.DeliverResponseRequest{
			SessionId: t.session, MessageJson: msg})
		if err != nil {
			return nil, methodError(err)
		}
	}
	h.awaitAnswered(ctx, t, keys)
	return struct{}{}, nil
}

// awaitAnswered waits, for at most answerWait, until none of keys is
// among the task's pending requests, so that a tasks/get after the
// acknowledgement shows the answers taken. The extension allows the
// acknowledgement to run ahead of the task (eventual consistency); the
// wait only narrows that window.
func (h *Handler) awaitAnswered(ctx context.Context, t taskHandle, keys []string) {
	if len(keys) == 0 {
		return
	}
	deadline := time.NewTimer(answerWait)
	defer deadline.Stop()
	tick := time.NewTicker(answerPoll)
	defer tick.Stop()
	for {
		resp, err := h.registry.GetTask(ctx, &registryv1.GetTaskRequest{
			SessionId: t.session, TaskId: t.task})
		if err != nil || !slices.ContainsFunc(pendingKeys(resp.GetTask()), func(k string) bool {
			return slices.Contains(keys, k)
		}) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// pendingKeys lists the keys of the requests a task waits on.
func pendingKeys(t *registryv1.Task) []string {
	var keys []string
	for _, q := range t.GetPendingRequestsJson() {
		var m message
		if json.Unmarshal([]byte(q), &m) == nil && len(m.ID) > 0 {
			keys = append(keys, requestKey(m.ID))
		}
	}
	return keys
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cancelTaskExt serves tasks/cancel with an empty acknowledgement. A task
// already in a terminal status is acknowledged the same way: the client
// cannot tell whether it ended before its request arrived (SEP-2663,
// Task Cancellation).
func (h *Handler) cancelTaskExt(ctx context.Context, s *sessionv1.Session,
	params json.RawMessage) (any, error) {
	t, _, err := h.taskFor(s, params, "tasks/cancel")
	if err != nil {
		return nil, err
	}
	_, err = h.registry.CancelTask(ctx, &registryv1.CancelTaskRequest{
		SessionId: t.session, TaskId: t.task})
	switch status.Code(err) {
	case codes.OK:
		// A client may forget a task once it asked to cancel it, so the
		// hidden session goes now rather than at a terminal tasks/get.
		h.dropSession(t.session)
	case codes.FailedPrecondition:
	default:
		return nil, extTaskError(err)
	}
	return struct{}{}, nil
}
