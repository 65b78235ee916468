package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// wire is the http.RoundTripper of the tests' MCP clients. It sends each
// request to a gateway replica, chosen by the route rule or else the next
// one in turn; records every exchange; parses every response body while
// the client reads it, JSON and SSE alike; and validates each JSON-RPC
// message that a gateway emits against the MCP schema. Failures are
// reported when the test ends, after the clients closed.
type wire struct {
	hosts  []string
	base   *http.Transport
	schema *mcpSchema
	// stateless validates the exchanges of stateless clients.
	stateless *mcpSchema

	mu        sync.Mutex
	next      int
	route     func(x *exchange) int
	cut       func(x *exchange, ev sseEvent) bool
	log       []*exchange
	methods   map[string]string // session id + " " + request id -> method
	failures  []string
	validated int
	closed    bool
}

// exchange is one HTTP request to a gateway and what came back.
type exchange struct {
	N           int // position in the wire's log
	Host        string
	Method      string
	SessionID   string
	LastEventID string
	// Version is the request's MCP-Protocol-Version header.
	Version string
	// RPC is the JSON-RPC message a POST carried; Kind is "request",
	// "notification" or "response".
	RPC  rpcMessage
	Kind string

	Status      int
	ContentType string
	// Events are the SSE events received, comments included, or for a
	// JSON answer one event holding the body.
	Events []sseEvent
	// Done is set once the body ended; Cut when the wire cut it.
	Done, Cut bool
}

// rpcMessage is the part of a JSON-RPC message the wire looks at.
type rpcMessage struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// sseEvent is one block of an SSE stream: an event, or a comment.
type sseEvent struct {
	ID, Event, Data, Retry, Comment string
	HasID                           bool
}

// message decodes the event's data as a JSON-RPC message; ok is false
// for events without data.
func (e sseEvent) message() (rpcMessage, bool) {
	var m rpcMessage
	if e.Data == "" || json.Unmarshal([]byte(e.Data), &m) != nil {
		return m, false
	}
	return m, true
}

func newWire(t *testing.T, mcpURLs []string) *wire {
	t.Helper()
	w := unreportedWire(t, mcpURLs)
	t.Cleanup(func() { w.report(t) })
	return w
}

// unreportedWire is a wire whose failures the caller reads itself.
func unreportedWire(t *testing.T, mcpURLs []string) *wire {
	t.Helper()
	schema, err := loadSchema()
	if err != nil {
		t.Fatalf("load MCP schema: %v", err)
	}
	stateless, err := loadStatelessSchema()
	if err != nil {
		t.Fatalf("load MCP schema: %v", err)
	}
	return &wire{hosts: hosts(mcpURLs), base: http.DefaultTransport.(*http.Transport).Clone(),
		schema: schema, stateless: stateless, methods: map[string]string{}}
}

// client returns an HTTP client that sends through the wire.
func (w *wire) client() *http.Client { return &http.Client{Transport: w} }

// setRoute makes rule pick the replica of each request; -1 means the
// next in turn.
func (w *wire) setRoute(rule func(x *exchange) int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.route = rule
}

// setCut makes the wire cut a response body, as a broken connection
// would, right after an event for which rule returns true. The client
// gets that event, then a read error; nothing after it.
func (w *wire) setCut(rule func(x *exchange, ev sseEvent) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut = rule
}

// report fails the test for every message that failed validation, and
// stops recording.
func (w *wire) report(t *testing.T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.base.CloseIdleConnections()
	for _, f := range w.failures {
		t.Error(f)
	}
	if len(w.failures) > 0 {
		t.Logf("%d messages validated, %d failed", w.validated, len(w.failures))
	}
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	x := &exchange{Method: req.Method, SessionID: req.Header.Get("Mcp-Session-Id"),
		LastEventID: req.Header.Get("Last-Event-ID"), Version: req.Header.Get("Mcp-Protocol-Version")}
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		x.RPC, x.Kind = classify(body)
	}
	w.mu.Lock()
	i := -1
	if w.route != nil {
		i = w.route(x)
	}
	if i < 0 {
		i = w.next % len(w.hosts)
		w.next++
	}
	x.Host = w.hosts[i]
	x.N = len(w.log)
	w.log = append(w.log, x)
	if x.Kind == "request" {
		w.methods[x.SessionID+" "+compact(x.RPC.ID)] = x.RPC.Method
	}
	w.mu.Unlock()

	out.URL.Host, out.Host = x.Host, x.Host
	resp, err := w.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	x.Status, x.ContentType = resp.StatusCode, resp.Header.Get("Content-Type")
	w.mu.Unlock()
	resp.Body = &tap{w: w, x: x, body: resp.Body,
		sse: strings.HasPrefix(x.ContentType, "text/event-stream")}
	return resp, nil
}

// classify decodes a POST body and names its kind.
func classify(body []byte) (rpcMessage, string) {
	var m rpcMessage
	if json.Unmarshal(body, &m) != nil {
		return m, ""
	}
	switch {
	case m.Method != "" && len(m.ID) > 0:
		return m, "request"
	case m.Method != "":
		return m, "notification"
	default:
		return m, "response"
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// errCut is what a client reads from a body that the wire cut.
var errCut = errors.New("connection cut by the test")

// tap parses a response body as the client reads it.
type tap struct {
	w    *wire
	x    *exchange
	body io.ReadCloser
	sse  bool

	all  []byte   // a JSON body so far
	line []byte   // an unfinished SSE line
	cur  sseEvent // the SSE event being read
	cut  bool
}

func (b *tap) Read(p []byte) (int, error) {
	if b.cut {
		return 0, errCut
	}
	n, err := b.body.Read(p)
	if !b.sse {
		b.all = append(b.all, p[:n]...)
		if errors.Is(err, io.EOF) {
			b.w.endJSON(b.x, b.all)
		} else if err != nil {
			b.w.markDone(b.x)
		}
		return n, err
	}
	used := b.feed(p[:n])
	if used < n || b.cut {
		// The client gets the event that triggered the cut, not what
		// follows it; the connection goes away.
		b.cut = true
		b.body.Close()
		b.w.markCut(b.x)
		return used, nil
	}
	if err != nil {
		b.w.markDone(b.x)
	}
	return n, err
}

func (b *tap) Close() error {
	b.w.markDone(b.x)
	return b.body.Close()
}

// feed parses SSE bytes and returns how many it consumed: all of them,
// unless an event in them triggered a cut.
func (b *tap) feed(p []byte) int {
	for i, c := range p {
		if c != '\n' {
			b.line = append(b.line, c)
			continue
		}
		line := strings.TrimSuffix(string(b.line), "\r")
		b.line = b.line[:0]
		if line != "" {
			b.field(line)
			continue
		}
		ev := b.cur
		b.cur = sseEvent{}
		if b.w.event(b.x, ev) {
			b.cut = true
			return i + 1
		}
	}
	return len(p)
}

// field applies one line of an SSE event (2025-11-25 uses only id, event,
// data, retry and comments).
func (b *tap) field(line string) {
	if c, ok := strings.CutPrefix(line, ":"); ok {
		b.cur.Comment = strings.TrimPrefix(c, " ")
		return
	}
	name, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	switch name {
	case "id":
		b.cur.ID, b.cur.HasID = value, true
	case "event":
		b.cur.Event = value
	case "retry":
		b.cur.Retry = value
	case "data":
		if b.cur.Data != "" {
			b.cur.Data += "\n"
		}
		b.cur.Data += value
	}
}

// event records an SSE event, validates its message and tells whether
// the cut rule fires.
func (w *wire) event(x *exchange, ev sseEvent) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	x.Events = append(x.Events, ev)
	cut := w.cut != nil && w.cut(x, ev)
	w.mu.Unlock()
	if ev.Data != "" {
		w.check(x, []byte(ev.Data))
	}
	return cut
}

func (w *wire) endJSON(x *exchange, body []byte) {
	w.mu.Lock()
	if w.closed || x.Done {
		w.mu.Unlock()
		return
	}
	x.Done = true
	x.Events = append(x.Events, sseEvent{Data: string(body)})
	w.mu.Unlock()
	if len(bytes.TrimSpace(body)) > 0 {
		w.check(x, body)
	}
}

func (w *wire) markDone(x *exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	x.Done = true
}

func (w *wire) markCut(x *exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	x.Done, x.Cut = true, true
}

// check validates one message a gateway emitted: its JSON-RPC envelope,
// then its specific type, found from its method or, for a response, from
// the method of the request it answers.
func (w *wire) check(x *exchange, data []byte) {
	what, err := w.validate(x, data)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.validated++
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s %s (session %q) got an invalid %s:\n  message: %s\n  error: %v",
		x.Method, x.Host, x.SessionID, what, data, err)
	w.failures = append(w.failures, msg)
}

func (w *wire) validate(x *exchange, data []byte) (string, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return "message", fmt.Errorf("not JSON: %w", err)
	}
	var m rpcMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return "message", fmt.Errorf("not a JSON-RPC message: %w", err)
	}
	envelope, typ, err := w.types(x, m)
	if err != nil {
		return "message", err
	}
	schema := w.schema
	if x.Version == statelessVersion {
		schema = w.stateless
		var r struct {
			ResultType string `json:"resultType"`
		}
		if json.Unmarshal(m.Result, &r) == nil && r.ResultType == "input_required" {
			typ = "InputRequiredResult"
		}
	}
	if err := schema.validate(envelope, v); err != nil {
		return envelope, err
	}
	if typ == "" {
		return envelope, nil
	}
	if strings.HasSuffix(typ, "Result") {
		v = v.(map[string]any)["result"]
	}
	return typ, schema.validate(typ, v)
}

// types names the envelope and the specific type of a message.
func (w *wire) types(x *exchange, m rpcMessage) (envelope, typ string, err error) {
	table, kind := serverRequestTypes, "server request"
	switch {
	case m.Method != "" && len(m.ID) > 0:
		envelope = "JSONRPCRequest"
	case m.Method != "":
		envelope, table, kind = "JSONRPCNotification", notificationTypes, "notification"
	case len(m.Error) > 0:
		return "JSONRPCErrorResponse", "", nil
	case len(m.Result) > 0:
		method := w.answered(x, m.ID)
		if resultTypes[method] == "" {
			return "", "", fmt.Errorf("a result for id %s, which no known request has", m.ID)
		}
		return "JSONRPCResultResponse", resultTypes[method], nil
	default:
		return "", "", errors.New("neither request, notification nor response")
	}
	if typ = table[m.Method]; typ == "" {
		return "", "", fmt.Errorf("unexpected %s method %q", kind, m.Method)
	}
	return envelope, typ, nil
}

// answered returns the method of the client request that id answers.
func (w *wire) answered(x *exchange, id json.RawMessage) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x.Kind == "request" && compact(x.RPC.ID) == compact(id) {
		return x.RPC.Method
	}
	return w.methods[x.SessionID+" "+compact(id)]
}

// exchanges returns a copy of the log.
func (w *wire) exchanges() []exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]exchange, len(w.log))
	for i, x := range w.log {
		out[i] = *x
		out[i].Events = slices.Clone(x.Events)
	}
	return out
}

// waitFor polls the log until cond holds, failing the test after a
// deadline; it returns the log that satisfied cond.
func (w *wire) waitFor(t *testing.T, what string, cond func([]exchange) bool) []exchange {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := w.exchanges()
		if cond(log) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s; exchanges:\n%s", what, describe(log))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describe renders a log for failure messages.
func describe(log []exchange) string {
	var b strings.Builder
	for _, x := range log {
		fmt.Fprintf(&b, "  #%d %s %s %s last-event-id=%q status=%d %s cut=%v\n", x.N, x.Method,
			x.Host, x.RPC.Method, x.LastEventID, x.Status, x.ContentType, x.Cut)
		for _, ev := range x.Events {
			fmt.Fprintf(&b, "      id=%q comment=%q data=%.160s\n", ev.ID, ev.Comment, ev.Data)
		}
	}
	return b.String()
}
