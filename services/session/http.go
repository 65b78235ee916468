package session

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// NewHTTPHandler returns the REST face of SessionService (the routes in
// proto/switchboard/http_rules.yaml, such as POST /v1/sessions), which
// forwards each request to the gRPC server at grpcAddr, plus GET /healthz.
// Its connection to grpcAddr closes when ctx is done.
func NewHTTPHandler(ctx context.Context, grpcAddr string) (http.Handler, error) {
	mux := runtime.NewServeMux()
	// Plaintext: the gateway dials this process's own loopback or pod port.
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	err := sessionv1.RegisterSessionServiceHandlerFromEndpoint(ctx, mux, grpcAddr, opts)
	if err != nil {
		return nil, fmt.Errorf("register rest gateway: %w", err)
	}
	if err := mux.HandlePath(http.MethodGet, "/healthz", healthz); err != nil {
		return nil, fmt.Errorf("register healthz: %w", err)
	}
	return mux, nil
}

// healthz says the process is up. It does not check Redis: a liveness
// probe that failed with Redis would restart healthy replicas in a loop.
func healthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}
