package stdio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// maxEventBytes caps one line of an SSE stream or one JSON answer from
// the gateway. Results of tool calls can be far larger than what clients
// send, so this is looser than Config.MaxLineBytes.
const maxEventBytes = 64 << 20

// event is one Server-Sent Event.
type event struct {
	id    string
	hasID bool
	data  []byte
	retry time.Duration
}

// readEvents parses an SSE stream (WHATWG HTML, Server-sent events,
// interpreting an event stream) and calls fn for every event, those with
// only an id or a retry field included. It returns nil at the end of the
// stream and otherwise the read error or fn's error.
func readEvents(body io.Reader, fn func(event) error) error {
	r := bufio.NewReaderSize(body, 64<<10)
	var ev event
	var data [][]byte
	for {
		line, err := readLine(r, maxEventBytes)
		if errors.Is(err, io.EOF) {
			return nil // an event without its blank line is dropped
		}
		if err != nil {
			return err
		}
		if len(line) == 0 {
			ev.data = bytes.Join(data, []byte("\n"))
			if ev.hasID || len(data) > 0 || ev.retry > 0 {
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = event{}, nil
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "data":
			data = append(data, value)
		case "id":
			ev.id, ev.hasID = string(value), true
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}
