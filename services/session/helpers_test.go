package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/redisx"
	"switchboard.dev/pkg/serve"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// testTTL is the session TTL of the test servers.
const testTTL = 30 * time.Minute

// env is a session service on loopback ports over the test Redis.
type env struct {
	client  sessionv1.SessionServiceClient
	srv     *session.Server
	addr    string // gRPC
	rdb     *redis.Client
	ns      string
	httpURL string
}

// setup configures startWith. Zero fields mean the test defaults.
type setup struct {
	rdb    *redis.Client // nil: the test Redis
	ns     string        // "": a fresh namespace
	events session.EventLog
	opts   *session.Options
	log    *slog.Logger // nil: discard
}

// start runs a session service over rdb (nil: the test Redis) until the
// test ends.
func start(t testing.TB, rdb *redis.Client) *env {
	t.Helper()
	return startWith(t, setup{rdb: rdb})
}

// startWith runs a session service configured by cfg until the test ends.
func startWith(t testing.TB, cfg setup) *env {
	t.Helper()
	if cfg.rdb == nil {
		cfg.rdb = redistest.Client(t)
	}
	if cfg.ns == "" {
		cfg.ns = redistest.Namespace(t)
	}
	if cfg.log == nil {
		cfg.log = logging.Discard()
	}
	srv := session.NewServer(session.NewStore(cfg.rdb, cfg.ns, testTTL, cfg.events),
		cfg.log, cfg.opts)
	t.Cleanup(srv.Close)

	type addrs struct{ grpc, http string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(t.Context(), logging.Discard(), serve.Options{
			Name:          "session",
			GRPCAddr:      "127.0.0.1:0",
			HTTPAddr:      "127.0.0.1:0",
			Register:      func(s *grpc.Server) { sessionv1.RegisterSessionServiceServer(s, srv) },
			HTTP:          session.NewHTTPHandler,
			OnShutdown:    srv.Close,
			ServerOptions: session.GRPCServerOptions(),
			Ready:         func(g, h string) { ready <- addrs{g, h} },
		})
	}()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	// t.Context is cancelled before cleanups run, so this waits for the
	// staged shutdown.
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{
		client:  sessionv1.NewSessionServiceClient(conn),
		srv:     srv,
		addr:    a.grpc,
		rdb:     cfg.rdb,
		ns:      cfg.ns,
		httpURL: "http://" + a.http,
	}
}

// key returns the Redis key of session id's hash, as the contract names it.
func (e *env) key(id string) string { return redisx.Tag(e.ns, id) + ":session" }

// create makes a session and fails the test if that fails.
func (e *env) create(t testing.TB) *sessionv1.Session {
	t.Helper()
	resp, err := e.client.CreateSession(t.Context(), &sessionv1.CreateSessionRequest{
		ProtocolVersion:        "2025-11-25",
		ClientInfoJson:         `{"name":"test","version":"1.0"}`,
		ClientCapabilitiesJson: `{}`,
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return resp.GetSession()
}

// pttl returns the PTTL of key: -2 when it does not exist.
func (e *env) pttl(t testing.TB, key string) time.Duration {
	t.Helper()
	d, err := e.rdb.PTTL(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return d
}

// wantCode fails the test unless err carries code.
func wantCode(t testing.TB, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
}

// statusCode returns the gRPC code of err.
func statusCode(err error) codes.Code { return status.Code(err) }

// deadRedis returns a client whose every connection attempt fails without
// any network traffic, and a count of those attempts.
func deadRedis(t testing.TB) (*redis.Client, *atomic.Int32) {
	var dials atomic.Int32
	rdb := redis.NewClient(&redis.Options{
		Addr:       "redis.invalid:6379",
		MaxRetries: -1,
		// One attempt, no backoff: the test wants the failure, not the wait.
		DialerRetries:      1,
		DialerRetryBackoff: func(int) time.Duration { return 0 },
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("redis is down")
		},
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb, &dials
}

// do sends an HTTP request and returns the response, closed at test end.
func do(t testing.TB, method, url, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// waitLimit bounds every wait for something a test expects to happen.
const waitLimit = 10 * time.Second

// appendEvent appends an event and returns its id, failing the test if
// that fails.
func (e *env) appendEvent(t testing.TB, sid, stream, message string, final bool) string {
	t.Helper()
	resp, err := e.client.AppendEvent(t.Context(), &sessionv1.AppendEventRequest{
		SessionId: sid, Stream: stream, MessageJson: message, Final: final,
	})
	if err != nil {
		t.Fatalf("AppendEvent(%s): %v", stream, err)
	}
	return resp.GetEventId()
}

// watchStream is a WatchEvents call read in the background.
type watchStream struct {
	// recvd holds what the call sent, in order; the last item says how
	// it ended.
	recvd chan received
}

// received is one event or the end of a watch.
type received struct {
	event *sessionv1.Event
	end   bool
	err   error // how the call ended; nil for OK
}

// watch opens WatchEvents and returns once the watch is live, which the
// service signals with the response headers.
func (e *env) watch(t testing.TB, sid, stream, after string) *watchStream {
	t.Helper()
	w, err := e.openWatch(t, sid, stream, after)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// openWatch is watch for goroutines other than the test's.
func (e *env) openWatch(t testing.TB, sid, stream, after string) (*watchStream, error) {
	c, err := e.client.WatchEvents(t.Context(), &sessionv1.WatchEventsRequest{
		SessionId: sid, Stream: stream, AfterEventId: after,
	})
	if err != nil {
		return nil, fmt.Errorf("WatchEvents: %w", err)
	}
	w := &watchStream{recvd: make(chan received, 1<<16)}
	go func() {
		for {
			resp, err := c.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				w.recvd <- received{end: true, err: err}
				return
			}
			w.recvd <- received{event: resp.GetEvent()}
		}
	}()
	if _, err := c.Header(); err != nil {
		return nil, fmt.Errorf("WatchEvents header: %w", err)
	}
	return w, nil
}

// next returns the next event, failing the test if the watch ends first
// or nothing comes in time.
func (w *watchStream) next(t testing.TB) *sessionv1.Event {
	t.Helper()
	select {
	case r := <-w.recvd:
		if r.end {
			t.Fatalf("watch ended (%v), want an event", r.err)
		}
		return r.event
	case <-time.After(waitLimit):
		t.Fatalf("no event within %v", waitLimit)
	}
	return nil
}

// expect checks that the next events are want, in order.
func (w *watchStream) expect(t testing.TB, want ...*sessionv1.Event) {
	t.Helper()
	var got []*sessionv1.Event
	for range want {
		got = append(got, w.next(t))
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// end waits for the watch to end with code, failing the test if an event
// comes first, and returns the call's error.
func (w *watchStream) end(t testing.TB, code codes.Code) error {
	t.Helper()
	select {
	case r := <-w.recvd:
		if !r.end {
			t.Fatalf("got event %v, want the watch to end with %v", r.event, code)
		}
		if got := status.Code(r.err); got != code {
			t.Fatalf("watch ended with %v (%v), want %v", got, r.err, code)
		}
		return r.err
	case <-time.After(waitLimit):
		t.Fatalf("watch still open after %v, want it to end with %v", waitLimit, code)
	}
	return nil
}

// event returns the Event a watch should send.
func event(id, message string, final bool) *sessionv1.Event {
	return &sessionv1.Event{Id: id, MessageJson: message, Final: final}
}

// note returns a distinct JSON-RPC notification.
func note(n int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/message","params":{"n":%d}}`, n)
}

// logCounter is a slog.Handler that counts records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: make(map[string]int)} }

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[r.Message]++
	return nil
}
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCounter) WithGroup(string) slog.Handler      { return c }

// count returns how many records with message msg were logged.
func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[msg]
}
