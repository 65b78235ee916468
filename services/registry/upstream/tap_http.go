package upstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// tapRoundTripper taps a Streamable HTTP session in its HTTP client.
// Every request the SDK sends carries the context of the call that sent
// it, so each response stream is known to belong to one exchange: what
// the upstream sends on a POST's stream is related to that request (MCP
// 2025-11-25, Streamable HTTP, sending messages to the server), and the
// streams resumed for it carry the same context.
type tapRoundTripper struct {
	base http.RoundTripper
	tap  *tap
}

func (rt *tapRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	ex := exchangeFrom(r.Context())
	if ex != nil && r.Method == http.MethodPost && len(ex.extra) > 0 {
		var err error
		if r, err = withExtraParams(r, ex); err != nil {
			return nil, err
		}
	}
	resp, err := rt.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch media {
	case "text/event-stream":
		resp.Body = &sseFilter{src: bufio.NewReader(resp.Body), body: resp.Body,
			tap: rt.tap, ex: ex}
	case "application/json":
		if ex != nil {
			resp.Body = &jsonPeek{body: resp.Body, ex: ex}
		}
	}
	return resp, nil
}

// withExtraParams returns r with the exchange's extra params members set
// in its body, when the body is a request (not the notification that
// cancels it, which shares its context).
func withExtraParams(r *http.Request, ex *exchange) (*http.Request, error) {
	if r.Body == nil {
		return r, nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(body, &msg) == nil && msg["id"] != nil {
		if msg["params"], err = ex.apply(msg["params"]); err != nil {
			return nil, err
		}
		if body, err = json.Marshal(msg); err != nil {
			return nil, err
		}
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r, nil
}

// jsonPeek captures the answer of a request answered with a single JSON
// body.
type jsonPeek struct {
	body io.ReadCloser
	ex   *exchange
	rest *bytes.Reader
}

func (p *jsonPeek) Read(b []byte) (int, error) {
	if p.rest == nil {
		data, err := io.ReadAll(p.body)
		if err != nil {
			return 0, err
		}
		if resp, ok := decode(data).(*jsonrpc.Response); ok {
			p.ex.settle(resp)
		}
		p.rest = bytes.NewReader(data)
	}
	return p.rest.Read(b)
}

func (p *jsonPeek) Close() error { return p.body.Close() }

// sseFilter passes an SSE stream on to the SDK event by event. It
// captures the answer of its exchange, answers the upstream's requests
// to the client itself and relays log messages to the call the stream
// belongs to; such events reach the SDK without their data, which the
// SDK skips while still noting their event id for resumption.
//
// Known shortcoming: the filter buffers a whole line before the SDK
// applies its own limit on event size, so an upstream's overlong line
// is held in memory whole.
type sseFilter struct {
	src  *bufio.Reader
	body io.Closer
	tap  *tap
	// ex is the exchange whose stream this is; nil for the standalone
	// stream (GET), whose messages belong to no request.
	ex *exchange

	event    [][]byte
	out      []byte
	err      error
	sawID    bool
	answered bool
}

func (f *sseFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.readLine()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

func (f *sseFilter) Close() error { return f.body.Close() }

// readLine reads one line; a blank line ends the event.
func (f *sseFilter) readLine() {
	line, err := f.src.ReadBytes('\n')
	if len(line) > 0 && err == nil {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			f.flush(line)
		} else {
			f.event = append(f.event, line)
		}
	} else if len(line) > 0 {
		f.event = append(f.event, line)
	}
	if err == nil {
		return
	}
	// The stream ended: a partial event goes on as it came.
	for _, l := range f.event {
		f.out = append(f.out, l...)
	}
	f.event = nil
	if f.ex != nil && !f.answered && !f.sawID {
		f.ex.markLost()
	}
	f.err = err
}

// flush handles one whole event and queues what the SDK gets of it.
func (f *sseFilter) flush(blank []byte) {
	lines := f.event
	f.event = nil
	var data [][]byte
	name := ""
	for _, l := range lines {
		field, value := sseField(l)
		switch field {
		case "data":
			data = append(data, value)
		case "event":
			name = string(value)
		case "id":
			f.sawID = f.sawID || len(value) > 0
		}
	}
	keep := true
	if len(data) > 0 && (name == "" || name == "message") {
		keep = !f.observe(decode(bytes.Join(data, []byte("\n"))))
	}
	for _, l := range lines {
		if field, _ := sseField(l); keep || field != "data" {
			f.out = append(f.out, l...)
		}
	}
	f.out = append(f.out, blank...)
}

// observe looks at one message and reports whether the bridge took it
// over.
func (f *sseFilter) observe(msg jsonrpc.Message) bool {
	var c *call
	if f.ex != nil {
		c = f.ex.call
	}
	switch m := msg.(type) {
	case *jsonrpc.Response:
		if f.ex != nil {
			f.ex.settle(m)
			f.answered = true
		}
	case *jsonrpc.Request:
		if f.tap.intercept(m, c) {
			return true
		}
		if c == nil {
			return false
		}
		// Relayed here, in the order they came, rather than by the SDK.
		switch m.Method {
		case "notifications/message":
			c.send(notification(m.Method, m.Params))
			return true
		case "notifications/progress":
			return c.relayProgress(m.Params)
		}
	}
	return false
}

// sseField splits an SSE line into its field name and value (one
// leading space of the value dropped).
func sseField(line []byte) (string, []byte) {
	line = bytes.TrimRight(line, "\r\n")
	name, value, _ := bytes.Cut(line, []byte(":"))
	return string(name), bytes.TrimPrefix(value, []byte(" "))
}

// decode returns the JSON-RPC message data holds, or nil.
func decode(data []byte) jsonrpc.Message {
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil
	}
	return msg
}
