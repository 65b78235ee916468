package session_test

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

// ignoreTimes compares sessions without their timestamps, which tests
// check against the clock separately.
var ignoreTimes = protocmp.IgnoreFields(&sessionv1.Session{}, "create_time", "expire_time")

// diffSessions diffs two sessions, timestamps aside.
func diffSessions(want, got *sessionv1.Session) string {
	return cmp.Diff(want, got, protocmp.Transform(), ignoreTimes)
}

func TestCreateSession(t *testing.T) {
	e := start(t, nil)
	tests := []struct {
		name string
		req  *sessionv1.CreateSessionRequest
		code codes.Code
	}{
		{"full", &sessionv1.CreateSessionRequest{
			ProtocolVersion:        "2025-11-25",
			ClientInfoJson:         `{"name":"inspector","version":"0.17.0"}`,
			ClientCapabilitiesJson: `{"roots":{"listChanged":true},"sampling":{}}`,
		}, codes.OK},
		// Big integers and odd spacing must come back byte for byte.
		{"json verbatim", &sessionv1.CreateSessionRequest{
			ProtocolVersion:        "2025-06-18",
			ClientInfoJson:         `{ "name" : "x", "n": 12345678901234567890123 }`,
			ClientCapabilitiesJson: `{"experimental":{"big":1e400, "f": 0.10000000000000000001}}`,
		}, codes.OK},
		{"empty", &sessionv1.CreateSessionRequest{}, codes.OK},
		{"client info not json", &sessionv1.CreateSessionRequest{
			ClientInfoJson: `{"name":`,
		}, codes.InvalidArgument},
		{"client info an array", &sessionv1.CreateSessionRequest{
			ClientInfoJson: `[1]`,
		}, codes.InvalidArgument},
		{"capabilities null", &sessionv1.CreateSessionRequest{
			ClientCapabilitiesJson: `null`,
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			resp, err := e.client.CreateSession(t.Context(), tt.req)
			wantCode(t, err, tt.code)
			if tt.code != codes.OK {
				return
			}
			got := resp.GetSession()
			want := &sessionv1.Session{
				Id:                     got.GetId(),
				ProtocolVersion:        tt.req.GetProtocolVersion(),
				ClientInfoJson:         tt.req.GetClientInfoJson(),
				ClientCapabilitiesJson: tt.req.GetClientCapabilitiesJson(),
			}
			if diff := diffSessions(want, got); diff != "" {
				t.Errorf("created session (-want +got):\n%s", diff)
			}
			checkID(t, got.GetId())
			checkTimes(t, got, before, testTTL)

			// What Get reads back is what Create returned.
			read, err := e.client.GetSession(t.Context(),
				&sessionv1.GetSessionRequest{Id: got.GetId()})
			wantCode(t, err, codes.OK)
			if diff := cmp.Diff(got, read.GetSession(), protocmp.Transform(),
				protocmp.IgnoreFields(&sessionv1.Session{}, "expire_time")); diff != "" {
				t.Errorf("GetSession after create (-want +got):\n%s", diff)
			}
		})
	}
}

// checkID checks the id format of the contract: 24 random bytes in
// unpadded base64url.
func checkID(t *testing.T, id string) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(id)
	if len(id) != 32 || err != nil || len(b) != 24 {
		t.Errorf("id %q: want 32 characters of unpadded base64url (err %v)", id, err)
	}
}

// checkTimes checks that s was created after before and expires about ttl
// after that.
func checkTimes(t *testing.T, s *sessionv1.Session, before time.Time, ttl time.Duration) {
	t.Helper()
	created, expires := s.GetCreateTime().AsTime(), s.GetExpireTime().AsTime()
	if created.Before(before.Add(-time.Second)) || created.After(time.Now()) {
		t.Errorf("create_time %v, want between %v and now", created, before)
	}
	lo, hi := before.Add(ttl-time.Second), time.Now().Add(ttl+time.Second)
	if expires.Before(lo) || expires.After(hi) {
		t.Errorf("expire_time %v, want within [%v, %v]", expires, lo, hi)
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := session.NewID()
		checkID(t, id)
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSessionKey(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)

	// The hash lives under the namespace, inside the session's hash tag.
	key := e.ns + ":{" + s.GetId() + "}:session"
	got, err := e.rdb.HGetAll(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("HGETALL: %v", err)
	}
	want := map[string]string{
		"id":                       s.GetId(),
		"protocol_version":         "2025-11-25",
		"client_info_json":         `{"name":"test","version":"1.0"}`,
		"client_capabilities_json": `{}`,
		"initialized":              "0",
		"log_level":                "",
		"create_time":              s.GetCreateTime().AsTime().Format(time.RFC3339Nano),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored hash (-want +got):\n%s", diff)
	}
	if d := e.pttl(t, key); d <= 0 || d > testTTL {
		t.Errorf("PTTL %v, want in (0, %v]", d, testTTL)
	}
}

func TestGetDoesNotSlide(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	key := e.key(s.GetId())
	if err := e.rdb.PExpire(t.Context(), key, time.Minute).Err(); err != nil {
		t.Fatalf("PEXPIRE: %v", err)
	}

	before := time.Now()
	resp, err := e.client.GetSession(t.Context(), &sessionv1.GetSessionRequest{Id: s.GetId()})
	wantCode(t, err, codes.OK)
	if d := e.pttl(t, key); d > time.Minute {
		t.Errorf("PTTL after GetSession = %v, want at most 1m", d)
	}
	checkTimes(t, resp.GetSession(), before, time.Minute)
}

func TestRenewSlides(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	key := e.key(s.GetId())
	// Pretend most of the TTL has passed.
	if err := e.rdb.PExpire(t.Context(), key, time.Minute).Err(); err != nil {
		t.Fatalf("PEXPIRE: %v", err)
	}

	before := time.Now()
	resp, err := e.client.RenewSession(t.Context(), &sessionv1.RenewSessionRequest{Id: s.GetId()})
	wantCode(t, err, codes.OK)
	if d := e.pttl(t, key); d <= testTTL-time.Minute || d > testTTL {
		t.Errorf("PTTL after RenewSession = %v, want about %v", d, testTTL)
	}
	checkTimes(t, resp.GetSession(), before, testTTL)
	if diff := diffSessions(s, resp.GetSession()); diff != "" {
		t.Errorf("renewed session (-want +got):\n%s", diff)
	}
}

func TestUpdateSession(t *testing.T) {
	e := start(t, nil)
	tests := []struct {
		name string
		// update is applied to a fresh session whose id it gets.
		update func(id string) *sessionv1.UpdateSessionRequest
		code   codes.Code
		// want edits the fresh session into the expected result.
		want func(s *sessionv1.Session)
	}{
		{"nothing", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id}
		}, codes.OK, func(*sessionv1.Session) {}},
		{"initialized", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, Initialized: proto.Bool(true)}
		}, codes.OK, func(s *sessionv1.Session) { s.Initialized = true }},
		{"log level", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, LogLevel: proto.String("warning")}
		}, codes.OK, func(s *sessionv1.Session) { s.LogLevel = "warning" }},
		{"both", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{
				Id: id, Initialized: proto.Bool(true), LogLevel: proto.String("debug"),
			}
		}, codes.OK, func(s *sessionv1.Session) { s.Initialized, s.LogLevel = true, "debug" }},
		{"clear log level", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, LogLevel: proto.String("")}
		}, codes.OK, func(*sessionv1.Session) {}},
		{"bad log level", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, LogLevel: proto.String("loud")}
		}, codes.InvalidArgument, nil},
		{"initialize", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{
				Id: id, ProtocolVersion: proto.String("2025-06-18"),
				ClientInfoJson:         proto.String(`{"name":"late","version":"2"}`),
				ClientCapabilitiesJson: proto.String(`{"roots":{"n":12345678901234567890}}`),
			}
		}, codes.OK, func(s *sessionv1.Session) {
			s.ProtocolVersion = "2025-06-18"
			s.ClientInfoJson = `{"name":"late","version":"2"}`
			s.ClientCapabilitiesJson = `{"roots":{"n":12345678901234567890}}`
		}},
		{"clear client info", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, ClientInfoJson: proto.String("")}
		}, codes.OK, func(s *sessionv1.Session) { s.ClientInfoJson = "" }},
		{"client info not an object", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, ClientInfoJson: proto.String("[1]")}
		}, codes.InvalidArgument, nil},
		{"capabilities not JSON", func(id string) *sessionv1.UpdateSessionRequest {
			return &sessionv1.UpdateSessionRequest{Id: id, ClientCapabilitiesJson: proto.String("{")}
		}, codes.InvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.create(t)
			key := e.key(s.GetId())
			if err := e.rdb.PExpire(t.Context(), key, time.Minute).Err(); err != nil {
				t.Fatalf("PEXPIRE: %v", err)
			}
			resp, err := e.client.UpdateSession(t.Context(), tt.update(s.GetId()))
			wantCode(t, err, tt.code)
			if tt.code != codes.OK {
				return
			}
			want := proto.Clone(s).(*sessionv1.Session)
			tt.want(want)
			if diff := diffSessions(want, resp.GetSession()); diff != "" {
				t.Errorf("updated session (-want +got):\n%s", diff)
			}
			read, err := e.client.GetSession(t.Context(),
				&sessionv1.GetSessionRequest{Id: s.GetId()})
			wantCode(t, err, codes.OK)
			if diff := diffSessions(want, read.GetSession()); diff != "" {
				t.Errorf("GetSession after update (-want +got):\n%s", diff)
			}
			if d := e.pttl(t, key); d <= time.Minute {
				t.Errorf("PTTL after UpdateSession = %v, want it slid past 1m", d)
			}
		})
	}
}

// rpcs calls every RPC that takes a session id.
var rpcs = []struct {
	name string
	call func(e *env, t *testing.T, id string) error
}{
	{"GetSession", func(e *env, t *testing.T, id string) error {
		_, err := e.client.GetSession(t.Context(), &sessionv1.GetSessionRequest{Id: id})
		return err
	}},
	{"RenewSession", func(e *env, t *testing.T, id string) error {
		_, err := e.client.RenewSession(t.Context(), &sessionv1.RenewSessionRequest{Id: id})
		return err
	}},
	{"UpdateSession", func(e *env, t *testing.T, id string) error {
		_, err := e.client.UpdateSession(t.Context(),
			&sessionv1.UpdateSessionRequest{Id: id, Initialized: proto.Bool(true)})
		return err
	}},
	{"DeleteSession", func(e *env, t *testing.T, id string) error {
		_, err := e.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: id})
		return err
	}},
	{"AppendEvent", func(e *env, t *testing.T, id string) error {
		_, err := e.client.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
			SessionId: id, Stream: "_", MessageJson: `{"jsonrpc":"2.0","method":"x"}`,
		})
		return err
	}},
	{"WatchEvents", func(e *env, t *testing.T, id string) error {
		stream, err := e.client.WatchEvents(t.Context(),
			&sessionv1.WatchEventsRequest{SessionId: id, Stream: "_", AfterEventId: "_:0"})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}},
	{"Subscribe", func(e *env, t *testing.T, id string) error {
		_, err := e.client.Subscribe(t.Context(),
			&sessionv1.SubscribeRequest{SessionId: id, Uri: "file:///a"})
		return err
	}},
	{"Unsubscribe", func(e *env, t *testing.T, id string) error {
		_, err := e.client.Unsubscribe(t.Context(),
			&sessionv1.UnsubscribeRequest{SessionId: id, Uri: "file:///a"})
		return err
	}},
}

func TestMalformedID(t *testing.T) {
	// A dead Redis: touching it would answer UNAVAILABLE and count a dial.
	rdb, dials := deadRedis(t)
	e := start(t, rdb)
	ids := map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("a", session.MaxIDLen+1),
		"space":     "abc def",
		"tab":       "abc\tdef",
		"newline":   "abc\n",
		"delete":    "abc\x7f",
		"non-ascii": "abcé",
	}
	for _, rpc := range rpcs {
		for name, id := range ids {
			t.Run(rpc.name+"/"+name, func(t *testing.T) {
				wantCode(t, rpc.call(e, t, id), codes.InvalidArgument)
			})
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("malformed ids dialled Redis %d times, want 0", n)
	}
}

func TestLongestID(t *testing.T) {
	e := start(t, nil)
	id := strings.Repeat("~", session.MaxIDLen)
	for _, rpc := range rpcs {
		t.Run(rpc.name, func(t *testing.T) {
			wantCode(t, rpc.call(e, t, id), codes.NotFound)
		})
	}
}

func TestUnknownID(t *testing.T) {
	e := start(t, nil)
	for _, rpc := range rpcs {
		t.Run(rpc.name, func(t *testing.T) {
			id := session.NewID()
			wantCode(t, rpc.call(e, t, id), codes.NotFound)
			// No call may create the session it did not find, nor any key
			// of it.
			keys := []string{e.key(id), e.eventsKey(id), e.subsKey(id), e.watchKey(id),
				e.indexKey("file:///a")}
			if n := e.rdb.Exists(t.Context(), keys...).Val(); n != 0 {
				t.Errorf("%s created %d of %v", rpc.name, n, keys)
			}
		})
	}
}

func TestDeleteSession(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	_, err := e.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: s.GetId()})
	wantCode(t, err, codes.OK)

	// Every RPC, a second delete included, now finds nothing, and none
	// brings the session back.
	for _, rpc := range rpcs {
		t.Run(rpc.name, func(t *testing.T) {
			wantCode(t, rpc.call(e, t, s.GetId()), codes.NotFound)
			if n := e.rdb.Exists(t.Context(), e.key(s.GetId())).Val(); n != 0 {
				t.Errorf("%s after delete: key %s exists", rpc.name, e.key(s.GetId()))
			}
		})
	}
}

func TestDeleteRacingRenew(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	req := &sessionv1.RenewSessionRequest{Id: s.GetId()}

	// Renewers hammer the session until they see it gone.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_, err := e.client.RenewSession(t.Context(), req)
				if err != nil {
					wantCodeNoFatal(t, err, codes.NotFound)
					return
				}
			}
		})
	}
	_, err := e.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: s.GetId()})
	wantCode(t, err, codes.OK)
	wg.Wait()

	if n := e.rdb.Exists(t.Context(), e.key(s.GetId())).Val(); n != 0 {
		t.Errorf("session key exists after delete raced renewals")
	}
}

// wantCodeNoFatal is wantCode for goroutines other than the test's.
func wantCodeNoFatal(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := statusCode(err); got != code {
		t.Errorf("got code %v (%v), want %v", got, err, code)
	}
}

func TestExpiredSession(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	// An expiry in the past makes Redis drop the key at once, as if the
	// TTL had run out.
	err := e.rdb.PExpireAt(t.Context(), e.key(s.GetId()), time.Unix(1, 0)).Err()
	if err != nil {
		t.Fatalf("PEXPIREAT: %v", err)
	}
	for _, rpc := range rpcs {
		t.Run(rpc.name, func(t *testing.T) {
			wantCode(t, rpc.call(e, t, s.GetId()), codes.NotFound)
		})
	}
}

func TestCorruptRecord(t *testing.T) {
	e := start(t, nil)
	s := e.create(t)
	err := e.rdb.HSet(t.Context(), e.key(s.GetId()), "create_time", "yesterday").Err()
	if err != nil {
		t.Fatalf("HSET: %v", err)
	}
	_, err = e.client.GetSession(t.Context(), &sessionv1.GetSessionRequest{Id: s.GetId()})
	wantCode(t, err, codes.Internal)
}

func TestRedisDown(t *testing.T) {
	rdb, _ := deadRedis(t)
	e := start(t, rdb)
	_, err := e.client.CreateSession(t.Context(), &sessionv1.CreateSessionRequest{})
	wantCode(t, err, codes.Unavailable)
	for _, rpc := range rpcs {
		t.Run(rpc.name, func(t *testing.T) {
			wantCode(t, rpc.call(e, t, session.NewID()), codes.Unavailable)
		})
	}
}

// TestOwnTTL: a session created with a lifetime shorter than the
// service's keeps it across renewals; a longer one is capped.
func TestOwnTTL(t *testing.T) {
	e := start(t, nil)
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"shorter", 30 * time.Second, 30 * time.Second},
		{"longer than the service's", 2 * testTTL, testTTL},
		{"none", 0, testTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &sessionv1.CreateSessionRequest{ProtocolVersion: "2026-07-28"}
			if tc.ttl > 0 {
				req.Ttl = durationpb.New(tc.ttl)
			}
			before := time.Now()
			resp, err := e.client.CreateSession(t.Context(), req)
			wantCode(t, err, codes.OK)
			id := resp.GetSession().GetId()
			checkTimes(t, resp.GetSession(), before, tc.want)
			if d := e.pttl(t, e.key(id)); d <= tc.want-time.Minute || d > tc.want {
				t.Errorf("PTTL after create = %v, want about %v", d, tc.want)
			}
			if err := e.rdb.PExpire(t.Context(), e.key(id), time.Second).Err(); err != nil {
				t.Fatal(err)
			}
			_, err = e.client.RenewSession(t.Context(), &sessionv1.RenewSessionRequest{Id: id})
			wantCode(t, err, codes.OK)
			if d := e.pttl(t, e.key(id)); d <= tc.want-time.Minute || d > tc.want {
				t.Errorf("PTTL after renew = %v, want about %v", d, tc.want)
			}
		})
	}
}
