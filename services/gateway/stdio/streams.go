package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// errAnswered stops reading a request stream once its response came.
var errAnswered = errors.New("answered")

// cursor is where the bridge stands in one SSE stream: the last event id
// to resume after, and the reconnection delay the gateway suggested.
type cursor struct {
	lastID string
	retry  time.Duration
}

// events writes the data of every event of body as one line. On a request
// stream (untilAnswer) the first response ends the stream, and events
// returns it.
func (b *Bridge) events(body io.Reader, c *cursor, untilAnswer bool) ([]byte, error) {
	var answer []byte
	err := readEvents(body, func(ev event) error {
		if ev.hasID {
			if c.lastID == "" && untilAnswer {
				b.log.Debug("stream resumable", "last_event_id", ev.id)
			}
			c.lastID = ev.id
		}
		if ev.retry > 0 {
			c.retry = ev.retry
		}
		if len(trimSpace(ev.data)) == 0 {
			return nil // a priming event: only an id
		}
		b.relay(ev.data)
		if untilAnswer && isResponse(ev.data) {
			answer = ev.data
			return errAnswered
		}
		return nil
	})
	if errors.Is(err, errAnswered) {
		err = nil
	}
	return answer, err
}

// isResponse reports whether msg is a JSON-RPC response: on a request's
// stream, the response to that request (2025-11-25, Transports, Sending
// Messages to the Server).
func isResponse(msg []byte) bool {
	var m struct {
		Method json.RawMessage `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	return json.Unmarshal(msg, &m) == nil && m.Method == nil && (m.Result != nil || m.Error != nil)
}

// stream relays a request's SSE stream until its response. A stream that
// breaks first is resumed with GET and Last-Event-ID (2025-11-25,
// Transports, Resumability and Redelivery), on whichever replica answers.
func (b *Bridge) stream(ctx context.Context, resp *http.Response, id json.RawMessage) []byte {
	c := cursor{retry: firstRetry}
	body := resp.Body
	for attempt := 0; ; attempt++ {
		answer, err := b.events(body, &c, true)
		if body != resp.Body {
			body.Close()
		}
		if answer != nil || ctx.Err() != nil {
			return answer
		}
		if c.lastID == "" || attempt == maxResumes {
			b.log.Warn("stream lost", "err", err, "resumable", c.lastID != "")
			b.reply(id, transportError("gateway stream ended before the response"))
			return nil
		}
		b.log.Info("stream resuming", "last_event_id", c.lastID, "err", err)
		if !sleep(ctx, backoff(c.retry, attempt)) {
			return nil
		}
		next, ok := b.resume(ctx, &c, id)
		if !ok {
			return nil
		}
		body = next
	}
}

// resume reopens a request stream after c.lastID. It returns an empty body
// when the attempt failed in a way worth retrying, and false when the
// request was answered with an error.
func (b *Bridge) resume(ctx context.Context, c *cursor, id json.RawMessage) (io.ReadCloser, bool) {
	resp, err := b.send(ctx, http.MethodGet, nil, c.lastID)
	switch {
	case err != nil:
		return http.NoBody, ctx.Err() == nil
	case isEventStream(resp) && resp.StatusCode == http.StatusOK:
		return resp.Body, true
	case resp.StatusCode >= 500:
		resp.Body.Close()
		return http.NoBody, true
	}
	defer resp.Body.Close()
	b.log.Warn("stream not resumed", "status", resp.StatusCode)
	b.reply(id, httpFailure(resp))
	return nil, false
}

// backoff doubles the delay with each failed attempt, up to maxRetry.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for range attempt {
		if d >= maxRetry/2 {
			return maxRetry
		}
		d *= 2
	}
	return d
}
