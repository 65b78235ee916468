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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"switchboard.dev/pkg/serve"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
	"switchboard.dev/registry/upstream"
)

// reapInterval is how often each replica drops lapsed providers. Reads
// ignore lapsed providers anyway; reaping only frees their keys.
const reapInterval = 5 * time.Second

// clientServiceConfig spreads calls over every address a target resolves
// to, so that "dns:///session:7100" balances across session replicas.
const clientServiceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Addrs are the bound listen addresses of a running registry. HTTP and
// Admin are empty when disabled.
type Addrs struct {
	GRPC, HTTP, Admin string
}

// Run serves the registry on cfg's addresses until ctx ends, then shuts
// down in stages; detached calls get the shutdown timeout to end before
// they are cancelled. Ready, when not nil, gets the bound addresses.
func Run(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, cfg Config,
	ready func(Addrs)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// The upstreams close when the servers stop accepting (OnShutdown),
	// or here when Run fails before serving.
	up, err := openUpstreams(ctx, log, rdb, cfg)
	if err != nil {
		return err
	}
	defer up.close()
	sconn, err := dialSessions(cfg.SessionAddr)
	if err != nil {
		return err
	}
	defer sconn.Close()
	sessions := sessionv1.NewSessionServiceClient(sconn)
	srv := NewServer(log, NewStore(rdb, cfg.RedisNamespace), sessions, cfg)
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
		Admin: true,
		OnShutdown: func() {
			up.stopAdmin()
			srv.Shutdown(shutdownGrace(cfg.ShutdownTimeout))
			// The bridges deregister through the gRPC server, which
			// still serves until this hook returns.
			up.close()
		},
		DrainDelay:      cfg.DrainDelay,
		ShutdownTimeout: cfg.ShutdownTimeout,
		ServerOptions:   serverOptions(),
		Ready: func(grpcAddr, httpAddr string) {
			up.start(ctx, grpcAddr, sessions)
			if ready != nil {
				ready(Addrs{GRPC: grpcAddr, HTTP: httpAddr, Admin: up.adminAddr()})
			}
		},
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

// upstreams runs the upstream MCP servers that the registry federates:
// the manager that bridges them, the upstreams file, and the admin API
// that declares more of them in Redis.
type upstreams struct {
	log  *slog.Logger
	cfg  Config
	rdb  redis.UniversalClient
	file *upstream.FileSource
	lis  net.Listener

	// Set by start.
	conn      *grpc.ClientConn
	manager   *upstream.Manager
	adminHTTP *http.Server
	adminGRPC *grpc.Server
	stop      context.CancelFunc
	tasks     sync.WaitGroup

	stopOnce, closeOnce sync.Once
}

// openUpstreams reads the upstreams file and binds the admin listener,
// so that a bad file or a busy port fails the start.
func openUpstreams(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient,
	cfg Config) (*upstreams, error) {
	u := &upstreams{log: log, cfg: cfg, rdb: rdb, stop: func() {}}
	if cfg.UpstreamsFile != "" {
		f, err := upstream.OpenFile(log, cfg.UpstreamsFile, cfg.UpstreamsReloadInterval)
		if err != nil {
			return nil, err
		}
		u.file = f
	}
	if cfg.AdminAddr != "" {
		var lc net.ListenConfig
		lis, err := lc.Listen(ctx, "tcp", cfg.AdminAddr)
		if err != nil {
			return nil, fmt.Errorf("listen admin: %w", err)
		}
		u.lis = lis
	}
	return u, nil
}

// start runs the manager, which reaches the registry at its own gRPC
// address, follows both sources of declarations, and serves the admin
// API.
func (u *upstreams) start(ctx context.Context, grpcAddr string,
	sessions sessionv1.SessionServiceClient) {
	conn, err := grpc.NewClient(dialable(grpcAddr),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		u.log.Error("upstreams not started", "err", err)
		return
	}
	u.conn = conn
	u.manager = upstream.NewManager(u.log, upstream.ManagerOptions{
		// Manager settings: the registry's own API, sessions and Redis;
		// the rest keep the manager's defaults.
		Registry:       registryv1.NewRegistryServiceClient(conn),
		Sessions:       sessions,
		Redis:          u.rdb,
		RedisNamespace: u.cfg.RedisNamespace,
		CallTimeout:    u.cfg.CallTimeout,
		LeaseTTL:       min(15*time.Second, u.cfg.MaxLeaseTTL),
		ListenAddr:     u.cfg.UpstreamListenAddr,
		AdvertiseHost:  u.cfg.UpstreamAdvertiseHost,
	})
	var opts upstream.AdminOptions
	opts.Token, opts.PollInterval = u.cfg.AdminToken, u.cfg.UpstreamsReloadInterval
	registry := registryv1.NewRegistryServiceClient(conn)
	opts.Providers = func(ctx context.Context) ([]string, error) {
		resp, err := registry.ListProviders(ctx, &registryv1.ListProvidersRequest{})
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(resp.GetProviders()))
		for _, p := range resp.GetProviders() {
			names = append(names, p.GetName())
		}
		return names, nil
	}
	if u.file != nil {
		opts.File = u.file.File()
	}
	admin := upstream.NewAdmin(u.log, upstream.NewStore(u.rdb, u.cfg.RedisNamespace),
		u.manager, opts)

	runCtx, stop := context.WithCancel(ctx)
	u.stop = stop
	u.tasks.Go(func() { admin.Run(runCtx) })
	if u.file != nil {
		u.tasks.Go(func() {
			u.file.Watch(runCtx, func(f upstream.File) { admin.SetFile(runCtx, f) })
		})
	}
	if u.lis != nil {
		u.serveAdmin(runCtx, admin)
	}
}

// serveAdmin serves the admin API on the admin listener.
func (u *upstreams) serveAdmin(ctx context.Context, admin *upstream.Admin) {
	h, gs, err := admin.Handler(ctx, u.lis.Addr().String())
	if err != nil {
		u.log.Error("admin api not served", "err", err)
		return
	}
	u.adminGRPC, u.adminHTTP = gs, serve.NewHTTPServer(h)
	u.log.Info("admin api listening", "admin_addr", u.lis.Addr().String(),
		"token", u.cfg.AdminToken != "")
	u.tasks.Go(func() {
		if err := u.adminHTTP.Serve(u.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			u.log.Error("admin api stopped", "err", err)
		}
	})
}

// adminAddr is the bound admin address, empty when disabled.
func (u *upstreams) adminAddr() string {
	if u.lis == nil {
		return ""
	}
	return u.lis.Addr().String()
}

// stopAdmin stops the admin API and the following of declarations; the
// upstreams keep running for the calls in flight.
func (u *upstreams) stopAdmin() {
	u.stopOnce.Do(func() {
		if u.adminHTTP != nil {
			ctx, cancel := context.WithTimeout(context.Background(), u.cfg.ShutdownTimeout)
			if err := u.adminHTTP.Shutdown(ctx); err != nil {
				u.adminHTTP.Close()
			}
			cancel()
			u.adminGRPC.Stop()
		} else if u.lis != nil {
			u.lis.Close()
		}
		u.stop()
		u.tasks.Wait()
	})
}

// close stops the admin API, then the upstreams: each bridge
// deregisters, which needs the registry's gRPC server still serving.
//
// Known shortcoming: calls still running through an upstream when the
// registry shuts down end at once rather than within the shutdown
// timeout, since their bridge closes before the servers drain.
func (u *upstreams) close() {
	u.stopAdmin()
	u.closeOnce.Do(func() {
		if u.manager != nil {
			u.manager.Close()
		}
		if u.conn != nil {
			u.conn.Close()
		}
	})
}

// dialable turns a bound address into one to dial: a listener on every
// interface is reached through loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return net.JoinHostPort("127.0.0.1", port)
		}
		return net.JoinHostPort("::1", port)
	}
	return addr
}
