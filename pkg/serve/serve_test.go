package serve

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"switchboard.dev/pkg/logging"
)

// TestRunStagedShutdown checks the order Run promises: health turns
// NOT_SERVING while requests are still answered, OnShutdown runs, an
// in-flight HTTP request finishes, and Run returns nil.
func TestRunStagedShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan [2]string, 1)
	release, entered := make(chan struct{}), make(chan struct{})
	hooked := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, logging.Discard(), Options{
			Name: "test", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			HTTP:       func(context.Context, string) (http.Handler, error) { return mux, nil },
			OnShutdown: func() { close(hooked) },
			DrainDelay: 300 * time.Millisecond,
			Ready:      func(g, h string) { addrs <- [2]string{g, h} },
		})
	}()
	a := <-addrs
	health := healthClient(t, a[0])
	if st := check(t, health); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before shutdown = %v, want SERVING", st)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + a[1] + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-entered
	cancel()

	// During the drain delay health says NOT_SERVING and the listeners
	// still answer.
	deadline := time.Now().Add(5 * time.Second)
	for check(t, health) != healthpb.HealthCheckResponse_NOT_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("health never turned NOT_SERVING")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-hooked:
		t.Fatal("OnShutdown ran before the drain delay ended")
	default:
	}
	<-hooked
	close(release)
	if got := <-slow; got != "done" {
		t.Errorf("in-flight request got %q, want done", got)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func healthClient(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func check(t *testing.T, c healthpb.HealthClient) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "test"})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN
	}
	return resp.GetStatus()
}

func TestRunListenError(t *testing.T) {
	err := Run(t.Context(), logging.Discard(), Options{Name: "x", GRPCAddr: "256.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "listen grpc") {
		t.Errorf("Run with a bad address = %v, want a listen error", err)
	}
}

// TestRunAdminGuard checks that an admin HTTP port refuses web pages.
func TestRunAdminGuard(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrs := make(chan string, 1)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	go Run(ctx, logging.Discard(), Options{
		Name: "test", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Admin: true,
		HTTP:  func(context.Context, string) (http.Handler, error) { return ok, nil },
		Ready: func(_, h string) { addrs <- h },
	})
	url := "http://" + <-addrs + "/v1/providers"
	for origin, want := range map[string]int{"": 200, "http://evil.example": 403} {
		req, _ := http.NewRequest("GET", url, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Origin %q: status %d, want %d", origin, resp.StatusCode, want)
		}
	}
}
