package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Causes of a call's cancellation, telling its ends apart.
var (
	// errCallTimeout: the call outlived the call timeout, as opposed to a
	// caller's own deadline.
	errCallTimeout = errors.New("call timeout")
	// errCancelled: the client cancelled the call (CancelCall).
	errCancelled = errors.New("cancelled by the client")
	// errShutdown: the registry stopped before the call ended.
	errShutdown = errors.New("registry shutting down")
	// errSessionGone: the session ended, so nothing can be logged for it.
	errSessionGone = errors.New("session gone")
)

// call is one tool call running on this registry instance, as the local
// call table knows it.
type call struct {
	// id names the call within the instance, in the ids of its requests
	// to the client.
	id      string
	session string
	// request is the canonical form of the client's request id, empty
	// when the caller gave none.
	request string
	cancel  context.CancelCauseFunc
	inbox   inbox
	// detached is set for a streamed call, which outlives its RPC.
	detached bool
}

// callTable holds the calls running on this instance, so that client
// answers and cancellations that reach any replica find them here.
type callTable struct {
	mu     sync.Mutex
	next   uint64
	byID   map[string]*call
	byReq  map[[2]string]*call
	closed bool
	// stopper cancels the detached calls once the shutdown grace ends.
	stopper *time.Timer
	// detached counts the streamed calls, which outlive their RPCs and
	// are waited for at shutdown.
	detached sync.WaitGroup
}

func newCallTable() *callTable {
	return &callTable{byID: make(map[string]*call), byReq: make(map[[2]string]*call)}
}

// add enters a call. When detached is set, the call counts as detached
// work that close waits for until remove. add fails once the table is
// closed.
func (t *callTable) add(session, request string, cancel context.CancelCauseFunc,
	detached bool) (*call, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errorf(ErrUnavailable, "registry is shutting down")
	}
	t.next++
	c := &call{id: strconv.FormatUint(t.next, 36), session: session, request: request,
		cancel: cancel, inbox: inbox{ready: make(chan struct{}, 1)}, detached: detached}
	t.byID[c.id] = c
	if request != "" {
		t.byReq[[2]string{session, request}] = c
	}
	if detached {
		// Added under the lock that close takes, so never after close.
		t.detached.Add(1)
	}
	return c, nil
}

// remove drops a call.
func (t *callTable) remove(c *call) {
	t.mu.Lock()
	delete(t.byID, c.id)
	key := [2]string{c.session, c.request}
	if t.byReq[key] == c {
		delete(t.byReq, key)
	}
	t.mu.Unlock()
	if c.detached {
		t.detached.Done()
	}
}

// byCallID returns the call with the given id, or nil.
func (t *callTable) byCallID(id string) *call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// byRequest returns the call a session made with the given request id.
func (t *callTable) byRequest(session, request string) *call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byReq[[2]string{session, request}]
}

// shutdown refuses new calls and cancels the detached ones after grace,
// at once when grace is not positive. A later call may shorten the grace
// but not extend it.
func (t *callTable) shutdown(grace time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if grace <= 0 {
		t.cancelLocked()
		return
	}
	if t.stopper == nil {
		t.stopper = time.AfterFunc(grace, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.cancelLocked()
		})
	}
}

func (t *callTable) cancelLocked() {
	for _, c := range t.byID {
		if c.detached {
			c.cancel(errShutdown)
		}
	}
}

// wait waits for the detached calls to end.
func (t *callTable) wait() { t.detached.Wait() }

// requestKey returns the canonical form of a JSON-RPC request id (a JSON
// string or number), so that ids written differently still match.
func requestKey(raw string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", errorf(ErrInvalid, "request_id_json: want a JSON string or number")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errorf(ErrInvalid, "request_id_json: want one JSON value")
	}
	switch v := v.(type) {
	case string:
		return jsonString(v), nil
	case json.Number:
		return v.String(), nil
	}
	return "", errorf(ErrInvalid, "request_id_json: want a JSON string or number")
}

// answer is a client's answer to one of a call's requests to the client.
type answer struct {
	// Session is the session the answer came from.
	Session string `json:"session"`
	// Call is the id of the call that asked.
	Call string `json:"call"`
	// Request is the provider's id of the request.
	Request int64 `json:"request"`
	// Result or Error is the client's answer, verbatim.
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// inbox queues a call's answers. The queue is unbounded so that the
// instance's single subscriber never waits for a busy call.
type inbox struct {
	mu    sync.Mutex
	queue []answer
	// ready holds a token while answers wait.
	ready chan struct{}
}

func (b *inbox) put(a answer) {
	b.mu.Lock()
	b.queue = append(b.queue, a)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue
	b.queue = nil
	return q
}
