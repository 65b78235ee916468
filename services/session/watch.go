package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// A watch sends one stream of a session: first what the log holds after
// the resume point, then live events. It is registered with the hub (and
// so subscribed to the session's live channel) before it reads the log,
// so an event is either in what it reads or arrives live, or both; it
// sends only events whose entry id is above the last one it passed, so
// each goes out exactly once and in order. When its client is too slow
// for the live events, it drops them and reads the log again.

// watcher is the hub's side of a watch: the queue of what arrived live.
type watcher struct {
	channel string // the session's live channel
	stream  string
	id      string // random, for takeovers of the standalone stream
	limit   int    // most events queued before falling back to the log
	wake    chan struct{}

	mu     sync.Mutex
	queue  []liveItem
	queued int   // events (not broadcasts) in queue
	behind bool  // events were dropped: read the log again
	stale  bool  // the live channel may have lost events: drop them until resync
	armed  bool  // saw its own takeover, so later ones are newer
	err    error // why the watch must end
}

// liveItem is an event or a broadcast message waiting to be sent.
type liveItem struct {
	event     logEvent
	message   string
	broadcast bool
}

func newWatcher(channel, stream string, limit int) *watcher {
	b := make([]byte, 12)
	rand.Read(b)
	return &watcher{
		channel: channel, stream: stream, id: hex.EncodeToString(b), limit: limit,
		wake: make(chan struct{}, 1),
	}
}

// signal wakes the watch. Callers hold w.mu.
func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// deliver handles a live-channel message of the watched session.
func (w *watcher) deliver(m liveMsg) {
	switch m.kind {
	case 'e':
		if m.stream == w.stream {
			w.push(liveItem{event: m.event})
		}
	case 't':
		if w.stream == Standalone {
			w.takeover(m.watchID)
		}
	case 'd':
		w.end(ErrNotFound)
	}
}

// push queues an item. Past the limit it drops the queued events instead
// (they are in the log) and asks for a re-read; broadcasts are in no log,
// so they stay.
func (w *watcher) push(it liveItem) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if !it.broadcast {
		if w.behind || w.stale {
			return
		}
		if w.queued >= w.limit {
			w.dropEventsLocked()
			w.behind = true
			w.signal()
			return
		}
		w.queued++
	}
	w.queue = append(w.queue, it)
	w.signal()
}

// dropEventsLocked drops the queued events, which the log has, and keeps
// the broadcasts, which it has not.
func (w *watcher) dropEventsLocked() {
	w.queue = slices.DeleteFunc(w.queue, func(it liveItem) bool { return !it.broadcast })
	w.queued = 0
}

// suspend stops live delivery because live messages may have been lost:
// sending a later one would skip them for good, since the watch never
// goes back. Events are dropped until resync.
func (w *watcher) suspend() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stale = true
	w.dropEventsLocked()
}

// resync resumes live delivery once the live channel is whole again, and
// asks the watch to read first what the log got meanwhile. Its own
// takeover may have been lost too, so it counts as seen.
func (w *watcher) resync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropEventsLocked()
	w.behind, w.stale, w.armed = true, false, true
	w.signal()
}

// takeover handles the start of a watch of the standalone stream. Redis
// delivers the takeovers of a session to every subscriber in one order,
// so a watch that has seen its own knows any later one is newer; earlier
// ones are older and ignored.
func (w *watcher) takeover(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case id == w.id:
		w.armed = true
	case w.armed && w.err == nil:
		w.err = ErrReplaced
		w.signal()
	}
}

// end makes the watch end with err, unless it is ending already.
func (w *watcher) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		w.signal()
	}
}

// take returns what is queued, whether the log must be read again, and
// why the watch must end, if it must.
func (w *watcher) take() (items []liveItem, behind bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	items, behind, err = w.queue, w.behind, w.err
	w.queue, w.queued, w.behind = nil, 0, false
	return items, behind, err
}

// errFinal ends a watch that sent its stream's final event.
var errFinal = errors.New("final event sent")

// watch is one WatchEvents call.
type watch struct {
	srv    *Server
	w      *watcher
	sid    string
	ss     grpc.ServerStreamingServer[sessionv1.WatchEventsResponse]
	last   entryID // the last entry sent or passed over
	tail   bool    // not read yet, and only new events wanted
	header bool    // headers sent
}

// run sends events until the watch ends; nil after a final event, or at
// once when it resumes after the final event.
func (x *watch) run(ctx context.Context) error {
	check := time.NewTicker(x.srv.opts.WatchCheck)
	defer check.Stop()
	for {
		err := x.readLog(ctx)
		if err == nil {
			err = x.follow(ctx, check.C)
		}
		if errors.Is(err, errFinal) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLog sends what the log holds after x.last. Headers go out after the
// first read: from then on the watch misses nothing, and a caller can
// wait for that with Header().
func (x *watch) readLog(ctx context.Context) error {
	for {
		r := readArgs{stream: x.w.stream, after: x.last, tail: x.tail, first: !x.header}
		if x.w.stream == Standalone {
			r.watch = x.w.id
		}
		p, err := x.srv.store.read(ctx, x.sid, r)
		if err != nil {
			return err
		}
		// No owner at all can only mean the key was lost: nobody is newer.
		if r.watch != "" && p.owner != "" && p.owner != r.watch {
			return ErrReplaced
		}
		x.tail = false
		if !x.header {
			if err := x.ss.SendHeader(metadata.MD{}); err != nil {
				return err
			}
			x.header = true
		}
		if p.ended {
			return errFinal
		}
		for _, e := range p.events {
			if err := x.send(e); err != nil {
				return err
			}
		}
		if x.last.less(p.last) {
			x.last = p.last
		}
		if !p.more {
			return nil
		}
	}
}

// follow sends live events until the watch ends (an error), or returns
// nil when the log must be read again: events were dropped, or tick
// fired, since re-reading the log also checks the session still exists.
func (x *watch) follow(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			return nil
		case <-x.w.wake:
		}
		items, behind, err := x.w.take()
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.broadcast {
				err = x.ss.Send(&sessionv1.WatchEventsResponse{
					Event: &sessionv1.Event{MessageJson: it.message},
				})
			} else if x.last.less(it.event.id) {
				err = x.send(it.event)
			}
			if err != nil {
				return err
			}
		}
		if behind {
			x.srv.log.DebugContext(ctx, "watch fell behind, rereading log",
				"session_id", x.sid, "stream", x.w.stream)
			return nil
		}
	}
}

// send sends e, which comes after x.last, and returns errFinal if it ends
// the stream.
func (x *watch) send(e logEvent) error {
	x.last = e.id
	err := x.ss.Send(&sessionv1.WatchEventsResponse{Event: &sessionv1.Event{
		Id: eventID(x.w.stream, e.id), MessageJson: e.message, Final: e.final,
	}})
	if err == nil && e.final {
		return errFinal
	}
	return err
}
