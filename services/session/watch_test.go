package session_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/redisx"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

func TestWatchEventsInvalid(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	tests := []struct {
		name, session, stream, after string
		code                         codes.Code
	}{
		{"malformed session", "a b", "_", "", codes.InvalidArgument},
		{"missing session", session.NewID(), "_", "", codes.NotFound},
		{"missing session resuming", session.NewID(), "r1", "r1:0", codes.NotFound},
		{"empty stream", sid, "", "", codes.InvalidArgument},
		{"bad stream", sid, "r-1", "", codes.InvalidArgument},
		{"after names another stream", sid, "r1", "r2:1-0", codes.InvalidArgument},
		{"after names the standalone stream", sid, "r1", "_:0", codes.InvalidArgument},
		{"after without stream", sid, "r1", "1-0", codes.InvalidArgument},
		{"after not an id", sid, "r1", "r1:abc", codes.InvalidArgument},
		{"after without sequence", sid, "r1", "r1:1-", codes.InvalidArgument},
		{"after signed", sid, "r1", "r1:+1-0", codes.InvalidArgument},
		{"after empty entry", sid, "r1", "r1:", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.watch(t, tt.session, tt.stream, tt.after).end(t, tt.code)
		})
	}
}

// logged is an event appended by buildLog.
type logged struct {
	stream, id, message string
}

// buildLog appends events to three streams of session sid, interleaved.
func buildLog(t *testing.T, e *env, sid string) []logged {
	t.Helper()
	var log []logged
	for i, stream := range []string{"r1", "_", "r1", "r2", "_", "r1"} {
		log = append(log, logged{stream, e.appendEvent(t, sid, stream, note(i), false), note(i)})
	}
	return log
}

// TestWatchResume resumes a stream from every position of a log holding
// other streams too, and checks that each event comes exactly once.
func TestWatchResume(t *testing.T) {
	e := start(t, nil)
	// Resume points: 0 means "" (only new events), 1 "<stream>:0" (from
	// the start), 2 and up after the stream's first, second... event.
	positions := map[string]int{"_": 2 + 2, "r1": 2 + 3}
	for _, stream := range []string{"_", "r1"} {
		for i := range positions[stream] {
			t.Run(fmt.Sprintf("%s/%d", stream, i), func(t *testing.T) {
				sid := e.create(t).GetId()
				log := buildLog(t, e, sid)
				after := []string{"", stream + ":0"}[min(i, 1)]
				if i >= 2 {
					after = nth(log, stream, i-2).id
				}
				var want []*sessionv1.Event
				found := i == 1
				for _, ev := range log {
					if found && ev.stream == stream {
						want = append(want, event(ev.id, ev.message, false))
					}
					found = found || ev.id == after
				}

				w := e.watch(t, sid, stream, after)
				live := e.appendEvent(t, sid, stream, note(100), false)
				want = append(want, event(live, note(100), false))
				w.expect(t, want...)
				// Nothing came twice: the next event is the next one.
				next := e.appendEvent(t, sid, stream, note(101), false)
				w.expect(t, event(next, note(101), false))
			})
		}
	}
}

// nth returns the nth event of stream in log.
func nth(log []logged, stream string, n int) logged {
	for _, ev := range log {
		if ev.stream == stream {
			if n == 0 {
				return ev
			}
			n--
		}
	}
	panic("no such event")
}

func TestWatchFinal(t *testing.T) {
	e := start(t, nil)
	result := `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`
	tests := []struct {
		name string
		// run appends and watches, returning the watch and what it must
		// send before it ends.
		run func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event)
	}{
		{"from the log", func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event) {
			a := e.appendEvent(t, sid, "r", note(1), false)
			b := e.appendEvent(t, sid, "r", result, true)
			return e.watch(t, sid, "r", "r:0"),
				[]*sessionv1.Event{event(a, note(1), false), event(b, result, true)}
		}},
		{"resumed before the final", func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event) {
			a := e.appendEvent(t, sid, "r", note(1), false)
			b := e.appendEvent(t, sid, "r", result, true)
			return e.watch(t, sid, "r", a), []*sessionv1.Event{event(b, result, true)}
		}},
		{"resumed at the final", func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event) {
			e.appendEvent(t, sid, "r", note(1), false)
			b := e.appendEvent(t, sid, "r", result, true)
			e.appendEvent(t, sid, "other", note(2), false)
			return e.watch(t, sid, "r", b), nil
		}},
		{"live", func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event) {
			w := e.watch(t, sid, "r", "")
			a := e.appendEvent(t, sid, "r", note(1), false)
			b := e.appendEvent(t, sid, "r", result, true)
			return w, []*sessionv1.Event{event(a, note(1), false), event(b, result, true)}
		}},
		{"marker", func(t *testing.T, sid string) (*watchStream, []*sessionv1.Event) {
			w := e.watch(t, sid, "r", "")
			a := e.appendEvent(t, sid, "r", "", true)
			return w, []*sessionv1.Event{event(a, "", true)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.create(t).GetId()
			w, want := tt.run(t, sid)
			w.expect(t, want...)
			w.end(t, codes.OK)
		})
	}
}

func TestWatchInterleavedStreams(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	streams := []string{"_", "a1", "b2"}
	watches := make(map[string]*watchStream)
	for _, s := range streams {
		watches[s] = e.watch(t, sid, s, "")
	}
	want := make(map[string][]*sessionv1.Event)
	for i := range 60 {
		s := streams[i%len(streams)]
		want[s] = append(want[s], event(e.appendEvent(t, sid, s, note(i), false), note(i), false))
	}
	for _, s := range streams {
		watches[s].expect(t, want[s]...)
	}
}

func TestWatchTakeover(t *testing.T) {
	// Two instances of the service share one Redis namespace.
	a := start(t, nil)
	b := startWith(t, setup{rdb: a.rdb, ns: a.ns})
	sid := a.create(t).GetId()

	// On one instance, then across instances, the newer watch wins.
	first := a.watch(t, sid, "_", "")
	second := a.watch(t, sid, "_", "")
	err := first.end(t, codes.Aborted)
	if msg := status.Convert(err).Message(); msg != "replaced by a newer stream" {
		t.Errorf("takeover status message %q", msg)
	}
	third := b.watch(t, sid, "_", "")
	second.end(t, codes.Aborted)
	id := a.appendEvent(t, sid, "_", note(1), false)
	third.expect(t, event(id, note(1), false))

	// Request streams may be watched twice: both get the events.
	r1, r2 := a.watch(t, sid, "r", "r:0"), b.watch(t, sid, "r", "r:0")
	id = b.appendEvent(t, sid, "r", note(2), true)
	for _, w := range []*watchStream{r1, r2} {
		w.expect(t, event(id, note(2), true))
		w.end(t, codes.OK)
	}
	// The standalone watch of another session is not taken over.
	other := a.create(t).GetId()
	o := b.watch(t, other, "_", "")
	a.watch(t, sid, "_", "")
	third.end(t, codes.Aborted)
	id = a.appendEvent(t, other, "_", note(3), false)
	o.expect(t, event(id, note(3), false))
}

// TestWatchTakeoverMissed makes a watch miss the takeover message, as it
// would while its instance reconnects to Redis: its next read of the log
// must end it all the same.
func TestWatchTakeoverMissed(t *testing.T) {
	e := startWith(t, setup{opts: &session.Options{WatchCheck: 20 * time.Millisecond}})
	sid := e.create(t).GetId()
	w := e.watch(t, sid, "_", "")
	if got := e.rdb.Get(t.Context(), e.watchKey(sid)).Val(); got == "" {
		t.Fatalf("no owner recorded for the standalone stream")
	}
	if d := e.pttl(t, e.watchKey(sid)); d <= 0 || d > testTTL {
		t.Errorf("PTTL of the owner key = %v, want the session's", d)
	}
	// What a newer watch's first read does, minus the message.
	if err := e.rdb.Set(t.Context(), e.watchKey(sid), "newer", testTTL).Err(); err != nil {
		t.Fatal(err)
	}
	w.end(t, codes.Aborted)
}

// watchKey returns the key that names the owner of session id's
// standalone stream.
func (e *env) watchKey(id string) string { return redisx.Tag(e.ns, id) + ":watch" }

// TestWatchTakeoverRace starts many watches of one standalone stream at
// once on two instances: exactly one must survive.
func TestWatchTakeoverRace(t *testing.T) {
	a := start(t, nil)
	b := startWith(t, setup{rdb: a.rdb, ns: a.ns})
	sid := a.create(t).GetId()
	const n = 8
	watches := make([]*watchStream, n)
	var wg sync.WaitGroup
	for i := range n {
		e := []*env{a, b}[i%2]
		wg.Go(func() {
			w, err := e.openWatch(t, sid, "_", "")
			if err != nil {
				t.Error(err)
			}
			watches[i] = w
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// All but one end; the survivor gets the next event.
	ended := 0
	deadline := time.After(waitLimit)
	for ended < n-1 {
		progress := false
		for i, w := range watches {
			if w == nil {
				continue
			}
			select {
			case r := <-w.recvd:
				if !r.end || status.Code(r.err) != codes.Aborted {
					t.Fatalf("watch %d: got %+v, want it to end with Aborted", i, r)
				}
				watches[i], ended, progress = nil, ended+1, true
			default:
			}
		}
		if !progress {
			select {
			case <-deadline:
				t.Fatalf("%d of %d watches ended, want %d", ended, n, n-1)
			case <-time.After(time.Millisecond):
			}
		}
	}
	id := a.appendEvent(t, sid, "_", note(1), false)
	for _, w := range watches {
		if w != nil {
			w.expect(t, event(id, note(1), false))
		}
	}
}

func TestDeleteEndsWatches(t *testing.T) {
	a := start(t, nil)
	b := startWith(t, setup{rdb: a.rdb, ns: a.ns})
	sid, other := a.create(t).GetId(), a.create(t).GetId()
	_, err := a.client.Subscribe(t.Context(),
		&sessionv1.SubscribeRequest{SessionId: sid, Uri: "file:///a"})
	wantCode(t, err, codes.OK)
	a.appendEvent(t, sid, "r", note(1), false)
	watches := []*watchStream{
		a.watch(t, sid, "_", ""), b.watch(t, sid, "r", ""), a.watch(t, sid, "r", "r:0"),
	}
	kept := a.watch(t, other, "_", "")
	watches[2].next(t) // The one event in the log.

	_, err = b.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: sid})
	wantCode(t, err, codes.OK)
	for _, w := range watches {
		w.end(t, codes.NotFound)
	}
	for _, key := range []string{a.key(sid), a.eventsKey(sid), a.subsKey(sid), a.watchKey(sid)} {
		if n := a.rdb.Exists(t.Context(), key).Val(); n != 0 {
			t.Errorf("%s exists after DeleteSession", key)
		}
	}
	id := a.appendEvent(t, other, "_", note(2), false)
	kept.expect(t, event(id, note(2), false))
}

func TestWatchExpiredSession(t *testing.T) {
	e := startWith(t, setup{opts: &session.Options{WatchCheck: 20 * time.Millisecond}})
	sid := e.create(t).GetId()
	w := e.watch(t, sid, "_", "")
	// Expiry, unlike DeleteSession, publishes nothing: the periodic check
	// must notice.
	if err := e.rdb.PExpireAt(t.Context(), e.key(sid), time.Unix(1, 0)).Err(); err != nil {
		t.Fatal(err)
	}
	w.end(t, codes.NotFound)
}

func TestWatchShutdown(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	w := e.watch(t, sid, "r", "")
	e.srv.Close()
	w.end(t, codes.Unavailable)
	e.watch(t, sid, "r", "").end(t, codes.Unavailable)
	// The other calls still work while the server drains.
	e.appendEvent(t, sid, "r", note(1), false)
}

// TestWatchConcurrentAppends appends from many goroutines while watching,
// with a live buffer small enough to overflow: every event must arrive
// once, in log order.
func TestWatchConcurrentAppends(t *testing.T) {
	e := startWith(t, setup{opts: &session.Options{WatchBuffer: 2}})
	sid := e.create(t).GetId()
	w := e.watch(t, sid, "r", "")
	const writers, each = 8, 100
	ids := make(chan string, writers*each)
	var wg sync.WaitGroup
	for g := range writers + 1 {
		wg.Go(func() {
			for i := range each {
				// The last writer adds noise on another stream.
				stream := "r"
				if g == writers {
					stream = "x"
				}
				resp, err := e.client.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
					SessionId: sid, Stream: stream, MessageJson: note(g*each + i),
				})
				if err != nil {
					t.Error(err)
					return
				}
				if stream == "r" {
					ids <- resp.GetEventId()
				}
			}
		})
	}
	var got []string
	for range writers * each {
		got = append(got, w.next(t).GetId())
	}
	wg.Wait()
	close(ids)

	if !slices.IsSortedFunc(got, compareIDs) {
		t.Errorf("events out of order")
	}
	want := slices.Collect(chanValues(ids))
	slices.SortFunc(want, compareIDs)
	if !slices.Equal(got, want) {
		t.Errorf("got %d events, want the %d appended, each once", len(got), len(want))
	}
	id := e.appendEvent(t, sid, "r", note(-1), false)
	w.expect(t, event(id, note(-1), false))
}

func chanValues[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// compareIDs orders event ids "<stream>:<ms>-<seq>" of one stream.
func compareIDs(a, b string) int {
	parse := func(id string) (uint64, uint64) {
		_, entry, _ := strings.Cut(id, ":")
		ms, seq, _ := strings.Cut(entry, "-")
		m, _ := strconv.ParseUint(ms, 10, 64)
		s, _ := strconv.ParseUint(seq, 10, 64)
		return m, s
	}
	am, as := parse(a)
	bm, bs := parse(b)
	if am != bm {
		return compare(am, bm)
	}
	return compare(as, bs)
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestWatchSlowClient keeps a client from reading until the service's
// live buffer overflowed: the watch must fall back to the log and still
// send every event once, in order.
func TestWatchSlowClient(t *testing.T) {
	logs := newLogCounter()
	e := startWith(t, setup{
		events: session.EventLog{MaxLen: 100000},
		opts:   &session.Options{WatchBuffer: 4},
		log:    slog.New(logs),
	})
	sid := e.create(t).GetId()
	// A fixed, small flow-control window, so that the service's sends
	// block while the client does not read.
	conn, err := grpc.NewClient(e.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := sessionv1.NewSessionServiceClient(conn).WatchEvents(t.Context(),
		&sessionv1.WatchEventsRequest{SessionId: sid, Stream: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}

	// About 1 MiB, far more than the window.
	pad := strings.Repeat("x", 4096)
	var want []string
	for i := range 256 {
		msg := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, pad)
		want = append(want, e.appendEvent(t, sid, "r", msg, i == 255))
	}
	var got []string
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d events: %v", len(got), err)
		}
		got = append(got, resp.GetEvent().GetId())
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d events, want the %d appended, each once, in order", len(got), len(want))
	}
	if logs.count("watch fell behind, rereading log") == 0 {
		t.Errorf("the live buffer never overflowed; the test proves nothing")
	}
}

// TestWatchReconnect cuts the service's pub/sub connection: what was
// published while it was down must come from the log.
func TestWatchReconnect(t *testing.T) {
	// A client name of our own, to find the connection to cut.
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	opts.ClientName = "sbtest-" + hex.EncodeToString(b)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	logs := newLogCounter()
	e := startWith(t, setup{rdb: rdb, log: slog.New(logs)})
	sid := e.create(t).GetId()
	w := e.watch(t, sid, "_", "")

	killPubSub(t, rdb, opts.ClientName)
	var want []*sessionv1.Event
	for i := range 20 {
		want = append(want, event(e.appendEvent(t, sid, "_", note(i), false), note(i), false))
	}
	w.expect(t, want...)
	id := e.appendEvent(t, sid, "_", note(-1), false)
	w.expect(t, event(id, note(-1), false))
	if logs.count("redis pub/sub connection lost") == 0 {
		t.Errorf("the service never noticed the cut")
	}
}

// killPubSub closes the pub/sub connections named name, which are the
// service's own.
func killPubSub(t *testing.T, rdb *redis.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	list, err := rdb.ClientList(ctx).Result()
	if err != nil && strings.Contains(err.Error(), "unknown subcommand") {
		t.Skipf("this Redis cannot list clients: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if !slices.Contains(fields, "name="+name) || !hasPubSubFlag(fields) {
			continue
		}
		id := strings.TrimPrefix(fields[0], "id=")
		if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatalf("CLIENT KILL ID %s: %v", id, err)
		}
		killed++
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub connections named %s, want 1", killed, name)
	}
}

func hasPubSubFlag(fields []string) bool {
	for _, f := range fields {
		if flags, ok := strings.CutPrefix(f, "flags="); ok {
			return strings.Contains(flags, "P")
		}
	}
	return false
}
