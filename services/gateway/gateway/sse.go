package gateway

import (
	"bytes"
	"net/http"
)

// sseWriter writes Server-Sent Events to one response.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the SSE response headers and flushes them, so that the
// client knows at once that the stream is open.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Tells buffering reverse proxies (nginx and the like) to pass events
	// through as they come.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	return s, s.rc.Flush()
}

// event writes one message event. JSON-RPC messages are single-line JSON,
// but a data payload with newlines is split as SSE requires.
func (s *sseWriter) event(id string, data []byte) error {
	var b bytes.Buffer
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	b.WriteString("event: message\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// comment writes an SSE comment, which clients ignore; it keeps idle
// connections alive through proxies.
func (s *sseWriter) comment(text string) error {
	if _, err := s.w.Write([]byte(": " + text + "\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// prime sends the first event of a resumable stream: an id and empty data,
// so that a client that loses the stream can reconnect with Last-Event-ID
// at once, plus the reconnection delay to use (2025-11-25, Transports,
// Sending Messages to the Server).
func (s *sseWriter) prime(id, retryMs string) error {
	if _, err := s.w.Write([]byte("id: " + id + "\nretry: " + retryMs + "\ndata: \n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// retry tells the client how long to wait before reconnecting; sent
// before the gateway closes a stream on purpose.
func (s *sseWriter) retry(retryMs string) error {
	if _, err := s.w.Write([]byte("retry: " + retryMs + "\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}
