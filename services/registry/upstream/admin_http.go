package upstream

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"switchboard.dev/pkg/httpguard"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Handler serves the admin API's gRPC and REST faces on one port, the
// listener at addr: HTTP/2 requests with a gRPC content type go to a gRPC
// server, the rest to the REST gateway, which httpguard.Admin keeps away
// from web pages. Serve it with an http.Server that speaks cleartext
// HTTP/2 (serve.NewHTTPServer); stop the returned gRPC server after that
// server has shut down.
func (a *Admin) Handler(ctx context.Context, addr string) (http.Handler, *grpc.Server, error) {
	gs := grpc.NewServer()
	registryv1.RegisterUpstreamAdminServiceServer(gs, a)

	// The gateway calls the service in process, so the gRPC face and the
	// REST face share authorize and toStatus.
	// Unknown fields are refused rather than dropped: a misspelt key
	// would otherwise declare a different upstream than meant.
	gw := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
		}}))
	if err := registryv1.RegisterUpstreamAdminServiceHandlerServer(ctx, gw, a); err != nil {
		return nil, nil, fmt.Errorf("register admin rest gateway: %w", err)
	}
	rest := httpguard.Admin(limitBody(gw), httpguard.LoopbackHosts(addr))

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			// No browser sends a gRPC request without a CORS preflight,
			// which nothing here answers; one with an Origin is refused
			// all the same.
			if len(r.Header.Values("Origin")) > 0 {
				http.Error(w, "forbidden: requests from web pages are not accepted",
					http.StatusForbidden)
				return
			}
			gs.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
	return h, gs, nil
}

// maxAdminBody bounds a REST request body: a declaration is small, and
// whatever is accepted is stored in Redis and copied to every replica.
const maxAdminBody = 1 << 20

// limitBody refuses bodies over maxAdminBody while they are read.
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxAdminBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		h.ServeHTTP(w, r)
	})
}
