package session_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

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
	rdb     *redis.Client
	ns      string
	httpURL string
}

// start runs a session service over rdb (nil: the test Redis) until the
// test ends.
func start(t testing.TB, rdb *redis.Client) *env {
	t.Helper()
	if rdb == nil {
		rdb = redistest.Client(t)
	}
	ns := redistest.Namespace(t)
	srv := session.NewServer(session.NewStore(rdb, ns, testTTL), logging.Discard())

	type addrs struct{ grpc, http string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(t.Context(), logging.Discard(), serve.Options{
			Name:     "session",
			GRPCAddr: "127.0.0.1:0",
			HTTPAddr: "127.0.0.1:0",
			Register: func(s *grpc.Server) { sessionv1.RegisterSessionServiceServer(s, srv) },
			HTTP:     session.NewHTTPHandler,
			Ready:    func(g, h string) { ready <- addrs{g, h} },
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
		rdb:     rdb,
		ns:      ns,
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
