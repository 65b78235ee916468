package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// How a stateless tools/call becomes a task of the extension. Task
// creation is the server's decision (SEP-2663, Capability Negotiation);
// the gateway makes it from the tool's execution.taskSupport and the
// client's per-request capabilities:
//
//   - a client without the extension gets a plain call; a tool that runs
//     only as a task then fails with MissingRequiredClientCapability;
//   - a client with it gets a task for every tool that supports one. A
//     tool where a task is optional is handed out as a task at once, and
//     whatever it asks the client goes through tasks/get and
//     tasks/update. A tool that runs only as a task is watched for
//     openingWindow first: the questions it asks at its start are asked
//     on the tools/call itself, as input_required rounds, and the task
//     is handed out once the tool works without waiting on the client
//     (SEP-2663, Composition with Multi Round-Trip Requests: input a task
//     needs up front is gathered before the task is created). Such a
//     tool is long work by its own declaration, and the client learns of
//     the task only when it can run unattended.
//
// Either way the registry's task exists from the first round on, so the
// task the client is finally given is durable before it is named
// (SEP-2663, Task Creation).

// openingWindow is how long a fresh call of a tool that runs only as a
// task is watched for an opening question before its task is handed out;
// the same wait follows each round's answers.
const openingWindow = 300 * time.Millisecond

// callAsTask runs a stateless tools/call of a client that declared the
// extension as a task bound to the call's hidden session st.Session, and
// answers the round. It reports false, having answered nothing, when the
// tool does not support tasks: the caller then runs a plain call in the
// same hidden session.
func (h *Handler) callAsTask(ctx context.Context, out *callReply, sess *sessionv1.Session,
	req *registryv1.CallToolRequest, st callState) bool {
	call := proto.CloneOf(req)
	// The task's messages go to a stream of its own, under ids of its own.
	call.Stream, call.RequestIdJson = "", ""
	// Detached: a task created for a client that just left is cancelled
	// below rather than left running unnamed.
	resp, err := h.registry.CreateTask(context.WithoutCancel(ctx),
		&registryv1.CreateTaskRequest{Call: call})
	if status.Code(err) == codes.FailedPrecondition {
		return false
	}
	if err != nil {
		h.dropSession(st.Session)
		if e := mcpError(err); e != nil {
			out.fail(e)
			return true
		}
		out.write(h.callFailure(sess, req, out.id, err))
		return true
	}
	task := resp.GetTask()
	if resp.GetTaskSupport() != "required" {
		h.handOut(ctx, out, taskHandle{session: st.Session, task: task.GetTaskId()},
			taskState{task: task})
		return true
	}
	open := callState{Session: st.Session, Stream: task.GetStream(), Tool: st.Tool,
		Task: task.GetTaskId()}
	open.After = primingID(open.Stream)
	h.openingRound(ctx, out, open, nil)
	return true
}

// handOut answers the tools/call with the CreateTaskResult of a task.
func (h *Handler) handOut(ctx context.Context, out *callReply, t taskHandle, st taskState) {
	if ctx.Err() != nil {
		// Nobody will learn the task's id: stop it.
		h.abandonTask(t)
		return
	}
	out.write(response(out.id, st.view(h.sealTask(t), false), nil))
}

// openingRound serves one round of the opening questions of a tool that
// runs only as a task (see above). It reads the task's stream from
// st.After: requests to the client not in answered, asked within
// openingWindow, make an input_required result whose requestState leads
// the retry back here (resumeCall); a quiet window, the end of the call,
// a broken watch or shutdown hand the task out.
func (h *Handler) openingRound(ctx context.Context, out *callReply, st callState,
	answered []string) {
	t := taskHandle{session: st.Session, task: st.Task}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := h.watchCall(wctx, st)
	if err != nil {
		h.log.Warn("watch task stream", "err", err)
		h.revealTask(ctx, out, t)
		return
	}
	recv, done := relay(wctx, func() (item, error) {
		resp, err := events.Recv()
		return item{event: resp.GetEvent()}, err
	})
	quiet := time.NewTimer(openingWindow)
	defer quiet.Stop()
	var (
		asked []inputRequest
		prev  = st.After
		after string
		batch <-chan time.Time
	)
	for {
		select {
		case it := <-recv:
			ev := it.event
			if ev.GetFinal() {
				h.revealTask(ctx, out, t)
				return
			}
			if q, ok := askedOf(ev, answered); ok {
				if len(asked) == 0 {
					after, batch = prev, time.After(inputWindow)
				}
				asked = append(asked, q)
			} else if body, ok := passedOn(ev); ok {
				out.notify(body)
			}
			prev = ev.GetId()
		case <-batch:
			h.endRound(out, st, after, answered, asked)
			return
		case <-quiet.C:
			if len(asked) == 0 {
				h.revealTask(ctx, out, t)
				return
			}
		case err := <-done:
			if ctx.Err() == nil {
				h.log.Warn("task stream watch ended", "err", err)
			}
			h.revealTask(ctx, out, t)
			return
		case <-ctx.Done():
			// The client closed the request before it knew the task:
			// that cancels the request (2026-07-28, Cancellation).
			h.abandonTask(t)
			return
		case <-h.closing:
			h.revealTask(ctx, out, t)
			return
		}
	}
}

// askedOf returns the request to the client that ev logs, unless it was
// answered in an earlier round.
func askedOf(ev *sessionv1.Event, answered []string) (inputRequest, bool) {
	var m message
	if json.Unmarshal([]byte(ev.GetMessageJson()), &m) != nil || m.Method == nil ||
		len(m.ID) == 0 {
		return inputRequest{}, false
	}
	id := requestKey(m.ID)
	if slices.Contains(answered, id) {
		return inputRequest{}, false
	}
	return inputRequest{key: inputKey(id), id: id, Method: *m.Method,
		Params: withoutMeta(m.Params, relatedTaskKey)}, true
}

// passedOn returns a notification of the task's stream as the client
// gets it during an opening round; withdrawals of requests to the client
// (notifications/cancelled) and anything else are not passed on.
func passedOn(ev *sessionv1.Event) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(ev.GetMessageJson()), &m) != nil || m["id"] != nil {
		return nil, false
	}
	var method string
	if json.Unmarshal(m["method"], &method) != nil || method == "" ||
		method == "notifications/cancelled" {
		return nil, false
	}
	if p, ok := m["params"]; ok {
		m["params"] = withoutMeta(p, relatedTaskKey)
	}
	body, err := json.Marshal(m)
	return body, err == nil
}

// revealTask hands the task of an opening round out as it is now.
func (h *Handler) revealTask(ctx context.Context, out *callReply, t taskHandle) {
	st, err := h.readTask(context.WithoutCancel(ctx), t)
	if err != nil {
		out.fail(methodError(err))
		return
	}
	h.handOut(ctx, out, t, st)
}

// abandonTask cancels a task whose id nobody got, and drops its session.
func (h *Handler) abandonTask(t taskHandle) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.registry.CancelTask(ctx, &registryv1.CancelTaskRequest{
		SessionId: t.session, TaskId: t.task})
	if err != nil && status.Code(err) != codes.FailedPrecondition {
		h.log.Warn("cancel abandoned task", "err", err)
	}
	h.dropSession(t.session)
}
