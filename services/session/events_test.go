package session_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"

	"switchboard.dev/pkg/redisx"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

// eventsKey returns the key of session id's event log, as the design
// names it.
func (e *env) eventsKey(id string) string { return redisx.Tag(e.ns, id) + ":events" }

func TestAppendEvent(t *testing.T) {
	e := start(t, nil)
	live := e.create(t).GetId()
	tests := []struct {
		name    string
		session string // "": the live session
		stream  string
		message string
		final   bool
		code    codes.Code
	}{
		{"standalone", "", "_", note(1), false, codes.OK},
		{"request", "", "k3x9q2", note(1), false, codes.OK},
		{"final", "", "k3x9q2", `{"jsonrpc":"2.0","id":1,"result":{}}`, true, codes.OK},
		{"final marker", "", "abc", "", true, codes.OK},
		{"longest stream", "", strings.Repeat("Z9", 32), note(1), false, codes.OK},
		// Big numbers and odd spacing are kept as they are.
		{"verbatim", "", "_", `{ "n" : 123456789012345678901234567890 }`, false, codes.OK},
		{"missing session", session.NewID(), "_", note(1), false, codes.NotFound},
		{"malformed session", "a b", "_", note(1), false, codes.InvalidArgument},
		{"empty stream", "", "", note(1), false, codes.InvalidArgument},
		{"stream too long", "", strings.Repeat("a", 65), note(1), false, codes.InvalidArgument},
		{"stream with dash", "", "a-b", note(1), false, codes.InvalidArgument},
		{"stream with colon", "", "a:b", note(1), false, codes.InvalidArgument},
		{"two underscores", "", "__", note(1), false, codes.InvalidArgument},
		{"not json", "", "_", `{"a":`, false, codes.InvalidArgument},
		{"json array", "", "_", `[1]`, false, codes.InvalidArgument},
		{"empty standalone", "", "_", "", false, codes.InvalidArgument},
		{"empty not final", "", "abc", "", false, codes.InvalidArgument},
		{"final standalone", "", "_", note(1), true, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := tt.session
			if sid == "" {
				sid = live
			}
			resp, err := e.client.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
				SessionId: sid, Stream: tt.stream, MessageJson: tt.message, Final: tt.final,
			})
			wantCode(t, err, tt.code)
			if tt.code != codes.OK {
				if n := e.rdb.Exists(t.Context(), e.eventsKey(sid)).Val(); n != 0 &&
					sid != live {
					t.Errorf("failed append created %s", e.eventsKey(sid))
				}
				return
			}
			checkStored(t, e, sid, resp.GetEventId(), tt.stream, tt.message, tt.final)
		})
	}
}

// checkStored checks that event id is in the log with the given fields.
func checkStored(t *testing.T, e *env, sid, id, stream, message string, final bool) {
	t.Helper()
	name, entry, ok := strings.Cut(id, ":")
	if !ok || name != stream {
		t.Fatalf("event id %q, want %q and an entry id", id, stream+":")
	}
	msgs, err := e.rdb.XRange(t.Context(), e.eventsKey(sid), entry, entry).Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("XRANGE %s: %v %v", entry, msgs, err)
	}
	f := "0"
	if final {
		f = "1"
	}
	want := map[string]any{"s": stream, "m": message, "f": f}
	if got := msgs[0].Values; !equalValues(got, want) {
		t.Errorf("stored entry %v, want %v", got, want)
	}
}

func equalValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestEventLogMaxLen(t *testing.T) {
	const maxLen, appends = 10, 400
	e := startWith(t, setup{events: session.EventLog{MaxLen: maxLen}})
	sid := e.create(t).GetId()
	var ids []string
	for i := range appends {
		ids = append(ids, e.appendEvent(t, sid, "r", note(i), false))
	}

	// Redis trims whole nodes of a stream (100 entries at most by default).
	n := e.rdb.XLen(t.Context(), e.eventsKey(sid)).Val()
	if n < maxLen || n > maxLen+100 {
		t.Fatalf("XLEN = %d after %d appends, want %d to %d", n, appends, maxLen, maxLen+100)
	}
	// A watch from the start gets the newest n events, in order.
	w := e.watch(t, sid, "r", "r:0")
	var want []*sessionv1.Event
	for i := appends - int(n); i < appends; i++ {
		want = append(want, event(ids[i], note(i), false))
	}
	w.expect(t, want...)
}

func TestEventLogMaxAge(t *testing.T) {
	e := startWith(t, setup{events: session.EventLog{MaxAge: time.Minute}})
	sid := e.create(t).GetId()
	// Entries from 1970, written where AppendEvent writes, stand for
	// events older than a minute.
	const old = 300
	for i := range old {
		err := e.rdb.XAdd(t.Context(), &redis.XAddArgs{
			Stream: e.eventsKey(sid), ID: "1-" + strconv.Itoa(i+1),
			Values: []any{"s", "r", "m", note(i), "f", "0"},
		}).Err()
		if err != nil {
			t.Fatalf("XADD: %v", err)
		}
	}
	id := e.appendEvent(t, sid, "r", note(old), false)

	// Trimming drops whole nodes, so up to one node of old entries stays.
	msgs, err := e.rdb.XRange(t.Context(), e.eventsKey(sid), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 101 || "r:"+msgs[len(msgs)-1].ID != id {
		t.Fatalf("log holds %d entries ending %s, want at most 101 ending %s",
			len(msgs), msgs[len(msgs)-1].ID, id)
	}
}

func TestEventLogExpiry(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	hash, events := e.key(sid), e.eventsKey(sid)

	// The log takes the session's remaining life, not a full TTL.
	if err := e.rdb.PExpire(t.Context(), hash, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	e.appendEvent(t, sid, "_", note(1), false)
	if d := e.pttl(t, events); d <= 0 || d > time.Minute {
		t.Errorf("PTTL of the log after append = %v, want in (0, 1m]", d)
	}

	// A renewal slides it with the session.
	_, err := e.client.RenewSession(t.Context(), &sessionv1.RenewSessionRequest{Id: sid})
	wantCode(t, err, codes.OK)
	if d := e.pttl(t, events); d <= testTTL-time.Minute || d > testTTL {
		t.Errorf("PTTL of the log after renew = %v, want about %v", d, testTTL)
	}

	// Deleting the session deletes the log.
	_, err = e.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: sid})
	wantCode(t, err, codes.OK)
	if n := e.rdb.Exists(t.Context(), events).Val(); n != 0 {
		t.Errorf("log exists after DeleteSession")
	}

	// A session that expired gets no new log.
	sid = e.create(t).GetId()
	if err := e.rdb.PExpireAt(t.Context(), e.key(sid), time.Unix(1, 0)).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
		SessionId: sid, Stream: "_", MessageJson: note(1),
	})
	wantCode(t, err, codes.NotFound)
	if n := e.rdb.Exists(t.Context(), e.eventsKey(sid)).Val(); n != 0 {
		t.Errorf("AppendEvent created a log for an expired session")
	}
}

func TestBroadcast(t *testing.T) {
	// Two instances of the service share one Redis namespace.
	a := start(t, nil)
	b := startWith(t, setup{rdb: a.rdb, ns: a.ns})
	s1, s2, s3 := a.create(t).GetId(), a.create(t).GetId(), a.create(t).GetId()
	w1 := a.watch(t, s1, "_", "")
	w2 := b.watch(t, s2, "_", "")
	w3 := a.watch(t, s3, "r1", "")

	msg := `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
	_, err := b.client.Broadcast(t.Context(), &sessionv1.BroadcastRequest{MessageJson: msg})
	wantCode(t, err, codes.OK)
	w1.expect(t, event("", msg, false))
	w2.expect(t, event("", msg, false))

	// The request stream got nothing: its next event is its own.
	id := a.appendEvent(t, s3, "r1", note(1), true)
	w3.expect(t, event(id, note(1), true))
	w3.end(t, codes.OK)

	// Broadcasts are not logged: a resumed stream does not get them.
	w4 := b.watch(t, s1, "_", "_:0")
	id = a.appendEvent(t, s1, "_", note(2), false)
	w4.expect(t, event(id, note(2), false))

	_, err = a.client.Broadcast(t.Context(), &sessionv1.BroadcastRequest{MessageJson: "{"})
	wantCode(t, err, codes.InvalidArgument)
}
