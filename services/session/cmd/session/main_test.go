package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/redisx"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// recorder is a slog.Handler that hands every record to the test.
type recorder chan slog.Record

func (r recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	r <- rec.Clone()
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

// next waits for the log record with message msg, failing the test if a
// warning or error comes first.
func (r recorder) next(t *testing.T, msg string) slog.Record {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case rec := <-r:
			if rec.Message == msg {
				return rec
			}
			if rec.Level >= slog.LevelWarn {
				t.Errorf("unexpected log before %q: %s %s", msg, rec.Level, rec.Message)
			}
		case <-timeout:
			t.Fatalf("no %q log record within 15s", msg)
		}
	}
}

// attr returns the string value of rec's attribute key.
func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
		}
		return a.Key != key
	})
	return v
}

// instance is run going in a goroutine.
type instance struct {
	logs               recorder
	ns                 string
	grpcAddr, httpAddr string
	cancel             context.CancelFunc
	done               chan error
}

// startRun calls run on loopback ports over the test Redis and waits until
// it is listening.
func startRun(t *testing.T) *instance {
	t.Helper()
	in := &instance{
		logs: make(recorder, 100),
		ns:   redistest.Namespace(t),
		done: make(chan error, 1),
	}
	cfg := session.Config{
		GRPCAddr:        "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		RedisURL:        redistest.URL(t),
		RedisNamespace:  in.ns,
		SessionTTL:      time.Minute,
		EventLogMaxLen:  100,
		EventLogMaxAge:  time.Minute,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 5 * time.Second,
		// Long enough for the calls the test makes while draining.
		DrainDelay: time.Second,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	in.cancel = cancel
	go func() { in.done <- run(ctx, slog.New(in.logs), cfg) }()

	rec := in.logs.next(t, "listening")
	in.grpcAddr, in.httpAddr = attr(rec, "grpc_addr"), attr(rec, "http_addr")
	return in
}

func TestRunStagedShutdown(t *testing.T) {
	in := startRun(t)
	conn, err := grpc.NewClient(in.grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := sessionv1.NewSessionServiceClient(conn)
	health, stopWatch := watchHealth(t, conn)
	if got := health(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v, want SERVING", got)
	}
	checkKey(t, in.ns, create(t, client))
	events := watchEvents(t, client, create(t, client))

	// Stage 1: health turns NOT_SERVING while both ports keep serving.
	in.cancel()
	in.logs.next(t, "shutting down")
	if got := health(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after cancel %v, want NOT_SERVING", got)
	}
	// A watch is a stream that would hold up the drain until the timeout.
	stopWatch()
	checkKey(t, in.ns, create(t, client))
	postSession(t, "http://"+in.httpAddr)
	// An event watch ends itself once the listeners close, with a code
	// that sends its caller to another instance, so that the drain does
	// not wait for the timeout.
	if _, err := events.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("event watch during shutdown: %v, want Unavailable", err)
	}

	// Stages 2 and 3: listeners close, calls drain, run returns nil with
	// no "shutdown cut short" warning.
	select {
	case err := <-in.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of cancel")
	}
	in.logs.next(t, "stopped")
	for _, addr := range []string{in.grpcAddr, in.httpAddr} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after run returned", addr)
		}
	}
}

// watchHealth watches the "session" health service. It returns a function
// that waits for the next status and one that ends the watch.
func watchHealth(t *testing.T, conn *grpc.ClientConn) (
	next func() healthpb.HealthCheckResponse_ServingStatus, stop func(),
) {
	t.Helper()
	// Not t.Context: the stream must outlive the service's run context.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx,
		&healthpb.HealthCheckRequest{Service: "session"})
	if err != nil {
		t.Fatalf("health watch: %v", err)
	}
	next = func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("health watch: %v", err)
		}
		return resp.GetStatus()
	}
	return next, cancel
}

// watchEvents opens a watch of session id's standalone stream and waits
// until it is live.
func watchEvents(t *testing.T, client sessionv1.SessionServiceClient, id string,
) grpc.ServerStreamingClient[sessionv1.WatchEventsResponse] {
	t.Helper()
	// Not t.Context: the stream must outlive the service's run context.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := client.WatchEvents(ctx,
		&sessionv1.WatchEventsRequest{SessionId: id, Stream: "_"})
	if err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	return stream
}

func create(t *testing.T, client sessionv1.SessionServiceClient) string {
	t.Helper()
	// Bounded, so that a hung drain fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := client.CreateSession(ctx,
		&sessionv1.CreateSessionRequest{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return resp.GetSession().GetId()
}

// checkKey checks that session id is in Redis with an expiry.
func checkKey(t *testing.T, ns, id string) {
	t.Helper()
	rdb := redistest.Client(t)
	key := redisx.Tag(ns, id) + ":session"
	if d, err := rdb.PTTL(t.Context(), key).Result(); err != nil || d <= 0 {
		t.Errorf("PTTL %s = %v, %v; want > 0", key, d, err)
	}
	rdb.Del(t.Context(), key)
}

// postSession creates a session through the REST gateway.
func postSession(t *testing.T, baseURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/sessions",
		strings.NewReader(`{"protocolVersion":"2025-11-25"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/sessions: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/sessions: status %d, want 200", resp.StatusCode)
	}
}
