package session_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"switchboard.dev/pkg/redisx"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

// subsKey returns the key of session id's subscriptions, as the design
// names it.
func (e *env) subsKey(id string) string { return redisx.Tag(e.ns, id) + ":subs" }

// indexKey returns the reverse-index key of uri, as the design names it.
func (e *env) indexKey(uri string) string { return e.ns + ":sub:" + uri }

func (e *env) subscribe(t *testing.T, sid, uri string) {
	t.Helper()
	_, err := e.client.Subscribe(t.Context(), &sessionv1.SubscribeRequest{SessionId: sid, Uri: uri})
	wantCode(t, err, codes.OK)
}

func (e *env) publish(t *testing.T, uri string) int32 {
	t.Helper()
	resp, err := e.client.PublishResourceUpdated(t.Context(),
		&sessionv1.PublishResourceUpdatedRequest{Uri: uri})
	wantCode(t, err, codes.OK)
	return resp.GetSessions()
}

// updated returns the notification PublishResourceUpdated appends.
func updated(t *testing.T, uri string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "method": "notifications/resources/updated",
		"params": map[string]string{"uri": uri},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectUpdated checks that the next event of w is resources/updated for
// uri. The JSON is compared decoded: key order is not part of it.
func expectUpdated(t *testing.T, w *watchStream, uri string) {
	t.Helper()
	ev := w.next(t)
	var got, want any
	if err := json.Unmarshal([]byte(ev.GetMessageJson()), &got); err != nil {
		t.Fatalf("notification %q: %v", ev.GetMessageJson(), err)
	}
	json.Unmarshal([]byte(updated(t, uri)), &want)
	if diff := cmp.Diff(want, got); diff != "" || ev.GetId() == "" || ev.GetFinal() {
		t.Fatalf("event %v, want resources/updated (-want +got):\n%s", ev, diff)
	}
}

func TestResourceSubscriptions(t *testing.T) {
	// Subscriptions made on one instance, published from the other.
	a := start(t, nil)
	b := startWith(t, setup{rdb: a.rdb, ns: a.ns})
	const uri, other = `file:///a "b" <c>&`, "file:///other"
	s1, s2, s3, stale := a.create(t).GetId(), a.create(t).GetId(), a.create(t).GetId(),
		a.create(t).GetId()
	w1, w2, w3 := a.watch(t, s1, "_", ""), b.watch(t, s2, "_", ""), a.watch(t, s3, "_", "")
	a.subscribe(t, s1, uri)
	a.subscribe(t, s1, uri) // Twice is once.
	a.subscribe(t, s2, uri)
	a.subscribe(t, s3, other)
	a.subscribe(t, stale, uri)
	// The stale session expires; its index entry stays until a publish.
	if err := a.rdb.PExpireAt(t.Context(), a.key(stale), time.Unix(1, 0)).Err(); err != nil {
		t.Fatal(err)
	}

	if n := b.publish(t, uri); n != 2 {
		t.Errorf("PublishResourceUpdated told %d sessions, want 2", n)
	}
	expectUpdated(t, w1, uri)
	expectUpdated(t, w2, uri)
	if a.rdb.SIsMember(t.Context(), a.indexKey(uri), stale).Val() {
		t.Errorf("the expired session is still in the index after a publish")
	}

	// After Unsubscribe (and a second one, which is no error) only s1 is
	// told; s3 never was.
	for range 2 {
		_, err := b.client.Unsubscribe(t.Context(),
			&sessionv1.UnsubscribeRequest{SessionId: s2, Uri: uri})
		wantCode(t, err, codes.OK)
	}
	if n := a.publish(t, uri); n != 1 {
		t.Errorf("PublishResourceUpdated after Unsubscribe told %d sessions, want 1", n)
	}
	expectUpdated(t, w1, uri)
	// Neither s2 nor s3 got anything more: their next event is their own.
	for sid, w := range map[string]*watchStream{s2: w2, s3: w3} {
		id := a.appendEvent(t, sid, "_", note(1), false)
		w.expect(t, event(id, note(1), false))
	}

	// Deleting a session drops its index entries at once.
	_, err := a.client.DeleteSession(t.Context(), &sessionv1.DeleteSessionRequest{Id: s1})
	wantCode(t, err, codes.OK)
	if n := a.rdb.Exists(t.Context(), a.indexKey(uri)).Val(); n != 0 {
		t.Errorf("index of %s exists after its last subscriber was deleted", uri)
	}
	if n := a.publish(t, "file:///nobody"); n != 0 {
		t.Errorf("PublishResourceUpdated of an unwatched URI told %d sessions", n)
	}
}

func TestSubscriptionExpiry(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	if err := e.rdb.PExpire(t.Context(), e.key(sid), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	e.subscribe(t, sid, "file:///a")
	if d := e.pttl(t, e.subsKey(sid)); d <= 0 || d > time.Minute {
		t.Errorf("PTTL of subscriptions = %v, want in (0, 1m]", d)
	}
	_, err := e.client.RenewSession(t.Context(), &sessionv1.RenewSessionRequest{Id: sid})
	wantCode(t, err, codes.OK)
	if d := e.pttl(t, e.subsKey(sid)); d <= testTTL-time.Minute {
		t.Errorf("PTTL of subscriptions after renew = %v, want about %v", d, testTTL)
	}
}

func TestSubscribeInvalid(t *testing.T) {
	e := start(t, nil)
	sid := e.create(t).GetId()
	missing := session.NewID()
	tests := []struct {
		name, session, uri string
		code               codes.Code
	}{
		{"missing session", missing, "file:///a", codes.NotFound},
		{"malformed session", "a b", "file:///a", codes.InvalidArgument},
		{"empty uri", sid, "", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.Subscribe(t.Context(),
				&sessionv1.SubscribeRequest{SessionId: tt.session, Uri: tt.uri})
			wantCode(t, err, tt.code)
			_, err = e.client.Unsubscribe(t.Context(),
				&sessionv1.UnsubscribeRequest{SessionId: tt.session, Uri: tt.uri})
			wantCode(t, err, tt.code)
		})
	}
	// A refused subscription leaves nothing behind.
	if n := e.rdb.Exists(t.Context(), e.indexKey("file:///a"), e.subsKey(missing)).Val(); n != 0 {
		t.Errorf("a refused Subscribe left %d keys", n)
	}
	_, err := e.client.PublishResourceUpdated(t.Context(),
		&sessionv1.PublishResourceUpdatedRequest{})
	wantCode(t, err, codes.InvalidArgument)
}
