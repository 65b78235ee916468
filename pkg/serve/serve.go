// Package serve runs a Switchboard service's listeners: a gRPC server with
// the standard health service and server reflection, and an optional HTTP
// server on its own port (cleartext HTTP/1.1 and HTTP/2). It owns the
// staged shutdown every service shares:
//
//  1. health reports NOT_SERVING, so load balancers stop sending work;
//  2. after DrainDelay, both servers stop accepting and OnShutdown hooks run
//     (long-lived streams close themselves there);
//  3. in-flight calls get ShutdownTimeout to finish, then are cut.
//
// Usage:
//
//	err := serve.Run(ctx, logger, serve.Options{
//		Name:     "session",
//		GRPCAddr: cfg.GRPCAddr,
//		Register: func(s *grpc.Server) { sessionv1.RegisterSessionServiceServer(s, svc) },
//	})
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"switchboard.dev/pkg/httpguard"
)

// Options configures Run. Zero values mean the documented defaults.
type Options struct {
	// Name of the service, used in logs and as the health service name.
	Name string
	// GRPCAddr is the gRPC listen address. Required.
	GRPCAddr string
	// HTTPAddr is the HTTP listen address. Empty disables the HTTP server.
	HTTPAddr string
	// Register adds the service's gRPC implementations.
	Register func(*grpc.Server)
	// HTTP builds the HTTP handler once the gRPC listener is bound; it gets
	// the gRPC address so that a grpc-gateway mux can dial it. Its context
	// outlives the run context and ends only after shutdown has drained
	// in-flight HTTP requests, so a mux dialled with it keeps working while
	// they finish.
	HTTP func(ctx context.Context, grpcAddr string) (http.Handler, error)
	// Admin marks the HTTP port as an administrative API (REST over gRPC)
	// that no web page may use: it is wrapped in httpguard.Admin, which
	// refuses requests from browsers and, on a loopback address, foreign
	// Host names.
	Admin bool
	// OnShutdown runs when the servers stop accepting, before in-flight
	// requests are drained. Long-lived streams should end themselves here.
	OnShutdown func()
	// DrainDelay is how long health reports NOT_SERVING before listeners
	// close. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight work. Default 10s.
	ShutdownTimeout time.Duration
	// ServerOptions are extra gRPC server options.
	ServerOptions []grpc.ServerOption
	// Ready, when set, is called with the bound addresses once both
	// listeners are open.
	Ready func(grpcAddr, httpAddr string)
}

// Run serves until ctx is cancelled, then shuts down in stages. It returns
// nil after a clean shutdown.
func Run(ctx context.Context, log *slog.Logger, opts Options) error {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	var lc net.ListenConfig
	glis, err := lc.Listen(ctx, "tcp", opts.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	gs := grpc.NewServer(opts.ServerOptions...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	if opts.Register != nil {
		opts.Register(gs)
	}

	var hsrv *http.Server
	var hlis net.Listener
	// Detached on purpose: see Options.HTTP.
	httpCtx, cancelHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHTTP()
	if opts.HTTPAddr != "" {
		if hsrv, hlis, err = listenHTTP(httpCtx, opts, glis.Addr().String()); err != nil {
			glis.Close()
			return err
		}
	}

	errc := make(chan error, 2)
	go func() { errc <- serveErr("grpc", gs.Serve(glis)) }()
	httpAddr := ""
	if hsrv != nil {
		httpAddr = hlis.Addr().String()
		go func() { errc <- serveErr("http", hsrv.Serve(hlis)) }()
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(opts.Name, healthpb.HealthCheckResponse_SERVING)
	log.Info("listening", "service", opts.Name, "grpc_addr", glis.Addr().String(), "http_addr", httpAddr)
	if opts.Ready != nil {
		opts.Ready(glis.Addr().String(), httpAddr)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		gs.Stop()
		if hsrv != nil {
			hsrv.Close()
		}
		return err
	}
	shutdown(log, opts, hs, gs, hsrv)
	return nil
}

func listenHTTP(ctx context.Context, opts Options, grpcAddr string) (*http.Server, net.Listener, error) {
	h, err := opts.HTTP(ctx, grpcAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("build http handler: %w", err)
	}
	if opts.Admin {
		h = httpguard.Admin(h, httpguard.LoopbackHosts(opts.HTTPAddr))
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", opts.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen http: %w", err)
	}
	return NewHTTPServer(h), lis, nil
}

// NewHTTPServer returns an http.Server that speaks HTTP/1.1 and cleartext
// HTTP/2 (h2c) on one port, since service-mesh sidecars and L7 load
// balancers multiplex many clients over few HTTP/2 connections.
func NewHTTPServer(h http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		HTTP2: &http.HTTP2Config{
			// Many MCP streams share one connection behind a mesh.
			MaxConcurrentStreams: 10000,
		},
	}
}

func serveErr(which string, err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", which, err)
}

func shutdown(log *slog.Logger, opts Options, hs *health.Server, gs *grpc.Server, hsrv *http.Server) {
	log.Info("shutting down", "service", opts.Name, "drain_delay", opts.DrainDelay)
	hs.Shutdown()
	time.Sleep(opts.DrainDelay)

	if opts.OnShutdown != nil {
		opts.OnShutdown()
	}
	// The shutdown deadline is detached from the cancelled run context on
	// purpose: in-flight work deserves its grace period.
	ctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()

	var wg sync.WaitGroup
	if hsrv != nil {
		wg.Go(func() {
			if err := hsrv.Shutdown(ctx); err != nil {
				log.Warn("http shutdown cut short", "service", opts.Name, "err", err)
				hsrv.Close()
			}
		})
	}
	wg.Go(func() {
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			log.Warn("grpc shutdown cut short", "service", opts.Name)
			gs.Stop()
		}
	})
	wg.Wait()
	log.Info("stopped", "service", opts.Name)
}
