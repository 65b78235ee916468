// Command session runs Switchboard's session service: gRPC on -grpc-addr,
// REST and /healthz on -http-addr, sessions in Redis. Run it with -h for
// every setting and its SWITCHBOARD_SESSION_* environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"switchboard.dev/pkg/config"
	"switchboard.dev/pkg/logging"
	"switchboard.dev/pkg/redisx"
	"switchboard.dev/pkg/serve"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/session"
)

func main() {
	var cfg session.Config
	l := config.NewLoader("session", "SWITCHBOARD_SESSION_")
	cfg.Bind(l)
	if err := l.Parse(os.Args[1:]); errors.Is(err, config.ErrHelp) {
		l.Usage(os.Stdout)
		return
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "session: %v\n", err)
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "session: %v\n", err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "session: %v\n", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, log, cfg)
	stop()
	if err != nil {
		log.Error("session service failed", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then shuts down in stages.
func run(ctx context.Context, log *slog.Logger, cfg session.Config) error {
	rdb, err := openRedis(ctx, log, cfg.RedisURL)
	if err != nil || rdb == nil {
		return err
	}
	defer rdb.Close()
	store := session.NewStore(rdb, cfg.RedisNamespace, cfg.SessionTTL, cfg.EventLog())
	srv := session.NewServer(store, log, nil)
	defer srv.Close()

	// The REST gateway's connection to our own gRPC port is detached from
	// ctx on purpose: serve.Run drains HTTP requests after ctx is
	// cancelled, and they still need it. It closes when run returns.
	gwCtx, closeGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer closeGateway()

	return serve.Run(ctx, log, serve.Options{
		Name:     "session",
		GRPCAddr: cfg.GRPCAddr,
		HTTPAddr: cfg.HTTPAddr,
		Register: func(s *grpc.Server) { sessionv1.RegisterSessionServiceServer(s, srv) },
		HTTP: func(_ context.Context, grpcAddr string) (http.Handler, error) {
			return session.NewHTTPHandler(gwCtx, grpcAddr)
		},
		Admin: true,
		// Watches end themselves so that their callers move elsewhere
		// instead of holding up the drain.
		OnShutdown:      srv.Close,
		ServerOptions:   session.GRPCServerOptions(),
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

// openRedis connects to Redis, retrying while it is unreachable: in a
// compose file or a pod, Redis may start after us. It returns a nil
// client and no error when ctx ends first, which is a clean shutdown.
func openRedis(ctx context.Context, log *slog.Logger, url string) (*redis.Client, error) {
	const retry = time.Second
	for {
		rdb, err := redisx.Open(ctx, url)
		if err == nil {
			return rdb, nil
		}
		log.Warn("redis unreachable, retrying", "err", err, "retry_in", retry)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(retry):
		}
	}
}
