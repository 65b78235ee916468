// Package registry is Switchboard's catalogue and router. Providers
// register with a lease; the registry reads their tools, resources,
// resource templates and prompts with Describe, publishes them in one
// merged catalogue (tools and prompts under each provider's prefix), and
// routes tool calls, reads, prompts and completions to the provider that
// owns them. The catalogue lives in Redis, so any number of registry
// replicas can serve it.
//
// A tool call with a session stream runs detached from its RPC: every
// message of the call is logged to the session through the session
// service, so that a client resumes it on any gateway. Client answers to
// the provider's requests and cancellations reach the replica that runs
// the call through Redis pub/sub.
//
// A tool call may also run as an MCP task: it answers at once with a
// task, kept in Redis under the session's hash tag, which any replica
// reports on, cancels, and hands the outcome of once the call ended.
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
	"google.golang.org/grpc/keepalive"

	"switchboard.dev/pkg/serve"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// reapInterval is how often each replica drops lapsed providers. Reads
// ignore lapsed providers anyway; reaping only frees their keys.
const reapInterval = 5 * time.Second

// clientServiceConfig spreads calls over every address a target resolves
// to, so that "dns:///session:7100" balances across session replicas.
const clientServiceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Run serves the registry on cfg's addresses until ctx ends, then shuts
// down in stages; detached calls get the shutdown timeout to end before
// they are cancelled. Ready, when not nil, gets the bound addresses.
func Run(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, cfg Config,
	ready func(grpcAddr, httpAddr string)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	sconn, err := dialSessions(cfg.SessionAddr)
	if err != nil {
		return err
	}
	defer sconn.Close()
	srv := NewServer(log, NewStore(rdb, cfg.RedisNamespace),
		sessionv1.NewSessionServiceClient(sconn), cfg)
	stopListening, err := srv.Listen(ctx)
	if err != nil {
		srv.Close()
		return err
	}
	// Answers and cancellations must reach the calls that Close waits for.
	defer func() { srv.Close(); stopListening() }()
	log.Info("registry instance", "instance_id", srv.Instance())

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
		Admin:           true,
		OnShutdown:      func() { srv.Shutdown(shutdownGrace(cfg.ShutdownTimeout)) },
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
		ServerOptions:   serverOptions(),
		Ready:           ready,
	})
}

// serverOptions lift gRPC's limit of concurrent streams, since a gateway
// relays every streamed tool call over few connections, and let clients
// ping often enough to keep idle call streams open through middleboxes.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
}

// dialSessions returns a connection to the session service; it connects
// lazily, at the first call.
func dialSessions(target string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(clientServiceConfig))
	if err != nil {
		return nil, fmt.Errorf("dial session service: %w", err)
	}
	return cc, nil
}

// shutdownGrace is how long detached calls may still run at shutdown:
// the shutdown timeout less a tenth (at most a second), which their final
// events need to reach the session log and the relaying RPCs.
func shutdownGrace(timeout time.Duration) time.Duration {
	return timeout - min(timeout/10, time.Second)
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
