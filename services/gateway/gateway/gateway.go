// Package gateway is Switchboard's edge: it terminates MCP connections
// (Streamable HTTP, and the HTTP+SSE transport of 2024-11-05 for older
// clients) and turns every MCP message into gRPC calls to the
// session service and the registry. It keeps no state of its own.
//
// Usage:
//
//	var cfg gateway.Config
//	l := config.NewLoader("gateway", "SWITCHBOARD_GATEWAY_")
//	cfg.Load(l)
//	_ = l.Parse(os.Args[1:])
//	_ = cfg.Validate()
//	err := gateway.Run(ctx, logger, cfg)
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/serve"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// Path is where the MCP endpoint is served.
const Path = "/mcp"

// clientServiceConfig spreads calls over every address a target resolves
// to, so that "dns:///session:7100" balances across session replicas.
const clientServiceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Run serves the gateway until ctx is cancelled, then shuts down in stages.
func Run(ctx context.Context, log *slog.Logger, cfg Config) error {
	sconn, err := dial(cfg.SessionAddr, cfg.BackendTimeout)
	if err != nil {
		return fmt.Errorf("dial session service: %w", err)
	}
	defer sconn.Close()
	rconn, err := dial(cfg.RegistryAddr, 0)
	if err != nil {
		return fmt.Errorf("dial registry: %w", err)
	}
	defer rconn.Close()

	h := NewHandler(log, &cfg, sessionv1.NewSessionServiceClient(sconn),
		registryv1.NewRegistryServiceClient(rconn))
	// Legacy messages run after their POST is answered; at shutdown they
	// get the grace period of in-flight requests, then are abandoned.
	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	context.AfterFunc(ctx, func() { time.AfterFunc(cfg.DrainDelay+cfg.ShutdownTimeout, abandon) })
	legacy := NewLegacy(h, work)
	defer legacy.Wait()

	mux := http.NewServeMux()
	mux.Handle(Path, h)
	mux.Handle(LegacySSEPath, legacy)
	mux.Handle(LegacyMessagesPath, legacy)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	return serve.Run(ctx, log, serve.Options{
		Name:            "gateway",
		GRPCAddr:        cfg.GRPCAddr,
		HTTPAddr:        cfg.HTTPAddr,
		HTTP:            func(context.Context, string) (http.Handler, error) { return mux, nil },
		OnShutdown:      h.Close,
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

// dial connects to a backend. timeout, when positive, bounds each unary
// call; the registry's calls are bounded by the registry itself (its
// -call-timeout covers reads, prompts and completions that providers run).
func dial(target string, timeout time.Duration) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(clientServiceConfig),
	}
	if timeout > 0 {
		opts = append(opts, grpc.WithUnaryInterceptor(deadline(timeout)))
	}
	return grpc.NewClient(target, opts...)
}

// deadline bounds every unary backend call that has no deadline of its
// own, so that a backend that hangs (rather than refuses) fails the
// request instead of holding it forever. Streams are left alone: they
// live as long as a client listens.
func deadline(timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
