// Package registry is Switchboard's catalogue and router. Providers
// register with a lease; the registry reads their tools with Describe,
// publishes them in one merged catalogue under each provider's prefix,
// and routes tool calls to the provider that owns the tool. The catalogue
// lives in Redis, so any number of registry replicas can serve it.
//
// Usage:
//
//	rdb, err := redisx.Open(ctx, cfg.RedisURL)
//	...
//	err = registry.Run(ctx, log, rdb, cfg, nil)
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/serve"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// reapInterval is how often each replica drops lapsed providers. Reads
// ignore lapsed providers anyway; reaping only frees their keys.
const reapInterval = 5 * time.Second

// Run serves the registry on cfg's addresses until ctx ends, then shuts
// down in stages. Ready, when not nil, gets the bound addresses.
func Run(ctx context.Context, log *slog.Logger, rdb redis.Cmdable, cfg Config,
	ready func(grpcAddr, httpAddr string)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	srv := NewServer(log, NewStore(rdb, cfg.RedisNamespace), cfg)
	defer srv.Close()

	reapCtx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		srv.RunReaper(reapCtx, reapInterval)
	}()
	defer func() { stopReaper(); <-reaped }()

	// The REST gateway's connection must outlive ctx: requests in flight
	// when shutdown starts still need it. It closes when Run returns.
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	return serve.Run(ctx, log, serve.Options{
		Name:     "registry",
		GRPCAddr: cfg.GRPCAddr,
		HTTPAddr: cfg.HTTPAddr,
		Register: func(s *grpc.Server) { registryv1.RegisterRegistryServiceServer(s, srv) },
		HTTP: func(_ context.Context, grpcAddr string) (http.Handler, error) {
			return httpHandler(gwCtx, rdb, grpcAddr)
		},
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Ready:           ready,
	})
}

// httpHandler serves the REST gateway, which dials the registry's own
// gRPC address, and GET /healthz, which reports whether Redis answers.
func httpHandler(ctx context.Context, rdb redis.Cmdable, grpcAddr string) (
	http.Handler, error) {
	gw := runtime.NewServeMux()
	err := registryv1.RegisterRegistryServiceHandlerFromEndpoint(ctx, gw, grpcAddr,
		[]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())})
	if err != nil {
		return nil, fmt.Errorf("register rest gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rdb.Ping(pctx).Err(); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/", gw)
	return mux, nil
}
