package gateway

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// standaloneStream names the session's GET stream in the event log;
// request streams get random names of letters and digits.
const standaloneStream = "_"

const streamAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newStreamName returns a random request-stream name (about 62 bits).
func newStreamName() string {
	return rand.Text()[:12]
}

// streamOf returns the stream an SSE event id belongs to. Event ids are
// "<stream>:<sequence>", so a Last-Event-ID alone says what to resume.
func streamOf(eventID string) (string, bool) {
	name, seq, ok := strings.Cut(eventID, ":")
	if !ok || seq == "" || name == "" || len(name) > 64 {
		return "", false
	}
	if name == standaloneStream {
		return name, true
	}
	for _, c := range strings.ToLower(name) {
		if !strings.ContainsRune(streamAlphabet, c) {
			return "", false
		}
	}
	return name, true
}

// primingID is the id of a request stream's first event: resuming after
// it replays the whole stream.
func primingID(stream string) string { return stream + ":0" }

// watch relays one session stream from the session service to the client
// until the stream's final event, the client leaving, the session ending,
// a newer standalone stream replacing this one, or shutdown.
func (h *Handler) watch(w http.ResponseWriter, r *http.Request, sess *sessionv1.Session, stream, after string) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := h.sessions.WatchEvents(ctx, &sessionv1.WatchEventsRequest{
		SessionId: sess.GetId(), Stream: stream, AfterEventId: after,
	})
	if err == nil {
		// The session service sends headers once the watch is live, so
		// that nothing appended after the client sees 200 is missed; a
		// watch refused (session gone, bad Last-Event-ID) fails here,
		// before any status is sent.
		_, err = events.Header()
	}
	if err != nil {
		h.refuse(w, r, watchError(err), nil)
		return
	}
	s, err := startSSE(w)
	if err != nil {
		return
	}
	h.log.Debug("stream opened", sessionAttr(sess.GetId()), "stream", stream, "after", after)
	go h.keepSession(ctx, sess)
	recv, done := relay(ctx, func() (item, error) {
		resp, err := events.Recv()
		return item{event: resp.GetEvent()}, err
	})
	err = h.pump(ctx, s, recv, done)
	h.log.Debug("stream closed", sessionAttr(sess.GetId()), "stream", stream,
		"reason", status.Code(err).String())
}

// item is one thing to write on an SSE stream: an event, or a request
// to end the stream so that the client reconnects.
type item struct {
	event       *sessionv1.Event
	closeStream bool
	// retry is the reconnection delay to suggest when closing; zero means
	// the gateway's -sse-retry.
	retry time.Duration
}

// relay turns a blocking receive function into a channel, so that the
// writer can wait on it together with heartbeats and shutdown. The
// goroutine ends when recv fails or ctx ends.
func relay(ctx context.Context, recv func() (item, error)) (<-chan item, <-chan error) {
	items := make(chan item)
	done := make(chan error, 1)
	go func() {
		for {
			it, err := recv()
			if err != nil {
				done <- err
				return
			}
			select {
			case items <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	return items, done
}

// pump writes items to the client with heartbeats in between, until a
// final event, a close request, or the end of the source.
func (h *Handler) pump(ctx context.Context, s *sseWriter, recv <-chan item, done <-chan error) error {
	t := time.NewTicker(h.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case it := <-recv:
			if it.closeStream {
				retry := it.retry
				if retry <= 0 {
					retry = h.cfg.SSERetry
				}
				return s.retry(retryField(retry))
			}
			ev := it.event
			if ev.GetMessageJson() != "" {
				if err := s.event(ev.GetId(), []byte(ev.GetMessageJson())); err != nil {
					return err
				}
			}
			if ev.GetFinal() {
				return nil
			}
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-h.closing:
			return status.Error(codes.Unavailable, "shutting down")
		case <-t.C:
			if err := s.comment("heartbeat"); err != nil {
				return err
			}
		}
	}
}

// retryField renders the SSE retry hint.
func retryField(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// keepSession renews a session while one of its streams is open, so that
// a client that only listens (and sends no requests) keeps its session.
// It renews when half of the remaining lifetime has passed, which follows
// whatever TTL the session service uses, and stops with ctx.
func (h *Handler) keepSession(ctx context.Context, sess *sessionv1.Session) {
	expire := sess.GetExpireTime().AsTime()
	for {
		wait := time.Until(expire) / 2
		if wait < time.Second {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		resp, err := h.sessions.RenewSession(ctx, &sessionv1.RenewSessionRequest{Id: sess.GetId()})
		if err != nil {
			// A session that is gone ends its watch in the session
			// service; a passing failure is retried at the next turn.
			if status.Code(err) == codes.NotFound {
				return
			}
			expire = time.Now().Add(2 * wait)
			continue
		}
		expire = resp.GetSession().GetExpireTime().AsTime()
	}
}
