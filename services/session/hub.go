package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// hub delivers the live messages of Redis pub/sub to this instance's
// watches over one shared connection. It subscribes to a session's live
// channel while the session has watches here (reference-counted), and to
// the broadcast channel from its first watch until close: before that no
// watch could receive a broadcast, and an instance without watches needs
// no connection.
//
// go-redis returns from SUBSCRIBE before Redis confirms it, and matching
// confirmations gets ambiguous once a channel is dropped and taken again,
// so the hub uses numbered PINGs on the same connection instead: Redis
// answers commands in order, so once the PONG of a PING sent after a
// SUBSCRIBE arrives, the subscription is active. The same trick tells
// when a lost connection is whole again (go-redis reconnects and
// resubscribes by itself). Meanwhile watches take no live events, and
// then they read their logs, since the channel dropped whatever was
// published in between.
type hub struct {
	rdb   redis.UniversalClient
	log   *slog.Logger
	bcast string
	stop  chan struct{} // closed by close
	done  sync.WaitGroup

	mu       sync.Mutex
	ps       *redis.PubSub
	closed   bool
	chans    map[string]*liveChan
	pending  map[*liveChan]struct{} // subscribed, not yet confirmed
	pings    uint64                 // number of the last PING sent
	pongs    uint64                 // number of the last PONG received
	resyncAt uint64                 // a PONG this high resyncs every watch; 0: none due
}

// liveChan is one subscribed live channel and its watches.
type liveChan struct {
	watchers map[*watcher]struct{}
	ready    chan struct{} // closed once the subscription is active
	readyAt  uint64        // the PONG that confirms it
}

const (
	// pingPrefix starts the payload of the hub's PINGs.
	pingPrefix = "sb-hub-"
	// healthInterval is how often the hub checks that its connection
	// answers; a connection silent for two intervals is replaced.
	healthInterval = 15 * time.Second
	// redisTimeout bounds each pub/sub command.
	redisTimeout = 5 * time.Second
)

// newHub returns a hub that forwards broadcasts from channel broadcast.
func newHub(rdb redis.UniversalClient, broadcast string, log *slog.Logger) *hub {
	return &hub{
		rdb:     rdb,
		log:     log,
		bcast:   broadcast,
		stop:    make(chan struct{}),
		chans:   make(map[string]*liveChan),
		pending: make(map[*liveChan]struct{}),
	}
}

// startLocked subscribes to the broadcast channel and starts delivering,
// once.
func (h *hub) startLocked() {
	if h.ps != nil {
		return
	}
	h.ps = h.subscribe(h.bcast)
	h.done.Go(h.receive)
	h.done.Go(h.checkHealth)
}

// subscribe opens a pub/sub connection subscribed to channels. A failure
// is not final: go-redis dials again on the next command.
func (h *hub) subscribe(channels ...string) *redis.PubSub {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	return h.rdb.Subscribe(ctx, channels...)
}

// close ends every watch with ErrShuttingDown and stops the hub.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, lc := range h.chans {
		for w := range lc.watchers {
			w.end(ErrShuttingDown)
		}
	}
	close(h.stop)
	if h.ps != nil {
		h.ps.Close()
	}
	h.mu.Unlock()
	h.done.Wait()
}

// add registers w and returns once its live channel is subscribed. The
// caller must remove w afterwards, whatever add returns.
func (h *hub) add(ctx context.Context, w *watcher, timeout time.Duration) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrShuttingDown
	}
	h.startLocked()
	lc := h.chans[w.channel]
	var err error
	if lc == nil {
		lc = &liveChan{watchers: make(map[*watcher]struct{}), ready: make(chan struct{})}
		h.chans[w.channel] = lc
		h.pending[lc] = struct{}{}
		err = h.listenLocked(lc, w.channel)
	}
	lc.watchers[w] = struct{}{}
	if h.resyncAt != 0 {
		w.suspend() // The channel is not whole: wait for the resync like the others.
	}
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("subscribe to live events: %w", err)
	}

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-lc.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("redis did not confirm the subscription")
	}
}

// listenLocked subscribes to channel for lc and PINGs to learn when that
// is done. When either fails, go-redis resubscribes once it reconnects,
// and the PONG that proves the reconnection also confirms lc; the caller
// fails now all the same, rather than wait for Redis to come back.
func (h *hub) listenLocked(lc *liveChan, channel string) error {
	err := h.call(func(ctx context.Context) error { return h.ps.Subscribe(ctx, channel) })
	if err != nil {
		h.lostLocked(err)
	}
	var perr error
	lc.readyAt, perr = h.pingLocked()
	return errors.Join(err, perr)
}

// remove unregisters w, unsubscribing from its channel if it was the last
// watch of it.
func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lc := h.chans[w.channel]
	if lc == nil {
		return
	}
	delete(lc.watchers, w)
	if len(lc.watchers) > 0 {
		return
	}
	delete(h.chans, w.channel)
	delete(h.pending, lc)
	if h.closed {
		return
	}
	if err := h.call(func(ctx context.Context) error {
		return h.ps.Unsubscribe(ctx, w.channel)
	}); err != nil {
		h.lostLocked(err)
	}
}

// call runs a pub/sub command with a time limit.
func (h *hub) call(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	return f(ctx)
}

// pingLocked sends the next numbered PING and returns its number. A
// failure is the connection's: go-redis reconnects, and lostLocked makes
// sure a later PING follows.
func (h *hub) pingLocked() (uint64, error) {
	h.pings++
	n := h.pings
	err := h.call(func(ctx context.Context) error {
		return h.ps.Ping(ctx, pingPrefix+strconv.FormatUint(n, 10))
	})
	if err != nil {
		h.lostLocked(err)
	}
	return n, err
}

// lostLocked notes that live messages may have been lost. Watches stop
// taking live events, and once a PING sent from now on is answered (so
// the connection is whole again), they read the log and go on. Callers
// hold h.mu, so no message of a new connection is dispatched before.
func (h *hub) lostLocked(err error) {
	if h.closed || h.resyncAt != 0 {
		return
	}
	h.log.Warn("redis pub/sub connection lost", "err", err)
	for _, lc := range h.chans {
		for w := range lc.watchers {
			w.suspend()
		}
	}
	// Set first: pingLocked calls back here when it fails.
	h.resyncAt = h.pings + 1
	h.pingLocked()
}

// receive reads the pub/sub connection until the hub closes.
func (h *hub) receive() {
	failures := 0
	for {
		h.mu.Lock()
		ps := h.ps
		h.mu.Unlock()
		msg, err := ps.Receive(context.Background())
		select {
		case <-h.stop:
			return
		default:
		}
		if err != nil {
			failures++
			h.mu.Lock()
			if ps == h.ps { // Else checkHealth replaced it: nothing to do.
				h.lostLocked(err)
				h.pingLocked() // Dials again, and proves it with a PONG.
			}
			h.mu.Unlock()
			if !h.pause(backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		switch m := msg.(type) {
		case *redis.Message:
			h.dispatch(m)
		case *redis.Pong:
			h.pong(m.Payload)
		}
	}
}

// backoff is the pause after the nth consecutive receive failure.
func backoff(n int) time.Duration {
	return min(time.Duration(n)*100*time.Millisecond, 2*time.Second)
}

// pause waits for d and reports false if the hub closed meanwhile.
func (h *hub) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.stop:
		return false
	}
}

// checkHealth PINGs every healthInterval and replaces a connection that
// left the previous PING unanswered: a peer that vanished without closing
// the connection would otherwise leave it waiting for ever.
func (h *hub) checkHealth() {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-t.C:
		case <-h.stop:
			return
		}
		h.mu.Lock()
		if last > h.pongs && !h.closed {
			h.replaceLocked()
		}
		last, _ = h.pingLocked()
		h.mu.Unlock()
	}
}

// replaceLocked swaps the connection for a new one subscribed to every
// channel in use.
func (h *hub) replaceLocked() {
	h.log.Warn("redis pub/sub connection silent, replacing it")
	channels := []string{h.bcast}
	for ch := range h.chans {
		channels = append(channels, ch)
	}
	old := h.ps
	h.ps = h.subscribe(channels...)
	old.Close()
	h.lostLocked(errors.New("connection silent"))
}

// pong handles the answer to PING number payload.
func (h *hub) pong(payload string) {
	n, err := strconv.ParseUint(strings.TrimPrefix(payload, pingPrefix), 10, 64)
	if err != nil || !strings.HasPrefix(payload, pingPrefix) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pongs = max(h.pongs, n)
	for lc := range h.pending {
		if lc.readyAt <= n {
			close(lc.ready)
			delete(h.pending, lc)
		}
	}
	if h.resyncAt == 0 || n < h.resyncAt {
		return
	}
	h.resyncAt = 0
	h.log.Info("redis pub/sub connection restored, rereading event logs")
	for _, lc := range h.chans {
		for w := range lc.watchers {
			w.resync()
		}
	}
}

// dispatch hands a pub/sub message to the watches it concerns.
func (h *hub) dispatch(m *redis.Message) {
	if m.Channel == h.bcast {
		h.broadcast(m.Payload)
		return
	}
	msg, ok := parseLive(m.Payload)
	if !ok {
		h.log.Warn("malformed live message", "channel", m.Channel)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if lc := h.chans[m.Channel]; lc != nil {
		for w := range lc.watchers {
			w.deliver(msg)
		}
	}
}

// broadcast hands message to every watch of a standalone stream.
//
// Known shortcoming: broadcasts are not logged, so a client whose
// standalone stream is closed at the time misses them (list_changed); it
// sees the new catalogue the next time it lists.
func (h *hub) broadcast(message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, lc := range h.chans {
		for w := range lc.watchers {
			if w.stream == Standalone {
				w.push(liveItem{message: message, broadcast: true})
			}
		}
	}
}

// liveMsg is a decoded message of a live channel.
type liveMsg struct {
	kind    byte // 'e' event, 't' takeover, 'd' deleted
	stream  string
	event   logEvent
	watchID string
}

// parseLive decodes a live-channel message; see the top of events.go.
func parseLive(payload string) (liveMsg, bool) {
	fields := strings.SplitN(payload, "\n", 5)
	switch {
	case fields[0] == "d" && len(fields) == 1:
		return liveMsg{kind: 'd'}, true
	case fields[0] == "t" && len(fields) == 2:
		return liveMsg{kind: 't', watchID: fields[1]}, true
	case fields[0] == "e" && len(fields) == 5:
		id, ok := parseEntryID(fields[1])
		return liveMsg{kind: 'e', stream: fields[2], event: logEvent{
			id: id, final: fields[3] == "1", message: fields[4],
		}}, ok
	}
	return liveMsg{}, false
}
