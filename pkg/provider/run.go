package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/serve"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// RunOptions configures Run.
type RunOptions struct {
	// ListenAddr is the gRPC listen address, such as "127.0.0.1:7300".
	// Required.
	ListenAddr string
	// AdvertiseAddr is the gRPC target given to the registry. Empty means
	// the bound listen address, which suits a loopback or fixed host
	// address but not a wildcard one such as ":7300".
	AdvertiseAddr string
	// RegistryAddr is the registry's gRPC target. Empty means serve
	// without registering.
	RegistryAddr string
	// Prefix is the tool name prefix; see Registration.Prefix.
	Prefix *string
	// LeaseTTL is the lease length to ask for. Zero means the registry's
	// default.
	LeaseTTL time.Duration
	// DrainDelay is how long health reports NOT_SERVING before the
	// listener closes. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for calls in flight at shutdown.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the bound gRPC address once the
	// provider serves, before it registers.
	Ready func(grpcAddr string)
}

// Run serves the provider's gRPC API (with health and reflection) and
// keeps it registered with the registry until ctx ends. It then
// deregisters, so that the registry routes no new calls here, and shuts
// down in stages, letting calls in flight finish. It returns nil after a
// clean shutdown.
func (p *Provider) Run(ctx context.Context, opts RunOptions) error {
	if opts.ListenAddr == "" {
		return fmt.Errorf("listen address is empty")
	}
	registry, err := p.dialRegistry(opts.RegistryAddr)
	if err != nil {
		return err
	}
	if registry != nil {
		defer registry.Close()
	}

	// The server outlives ctx on purpose: it keeps answering until the
	// registry has been told that the provider is leaving.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	announceCtx, stopAnnouncing := context.WithCancel(ctx)
	defer stopAnnouncing()
	ready := make(chan string, 1)
	done := make(chan struct{})
	var serveErr error
	go func() {
		defer close(done)
		serveErr = serve.Run(serveCtx, p.log, p.serveOptions(opts, ready))
		// A server that failed cannot be announced any longer.
		stopAnnouncing()
	}()

	var addr string
	select {
	case addr = <-ready:
	case <-done:
		return serveErr
	}
	if opts.Ready != nil {
		opts.Ready(addr)
	}
	err = p.announceUntilDone(announceCtx, registry, opts, addr)
	stopServing()
	<-done
	return errors.Join(err, serveErr)
}

// dialRegistry returns a client for the registry, or nil when there is
// none to register with.
func (p *Provider) dialRegistry(addr string) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, nil
	}
	if err := p.checkName(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	return conn, nil
}

func (p *Provider) serveOptions(opts RunOptions, ready chan<- string) serve.Options {
	return serve.Options{
		Name:     p.name,
		GRPCAddr: opts.ListenAddr,
		Register: func(s *grpc.Server) {
			providerv1.RegisterProviderServiceServer(s, p.Service())
		},
		DrainDelay:      opts.DrainDelay,
		ShutdownTimeout: opts.ShutdownTimeout,
		Ready:           func(grpcAddr, _ string) { ready <- grpcAddr },
	}
}

// announceUntilDone keeps the provider registered until ctx ends, or
// just waits when there is no registry.
func (p *Provider) announceUntilDone(ctx context.Context, registry *grpc.ClientConn,
	opts RunOptions, addr string) error {
	if registry == nil {
		<-ctx.Done()
		return nil
	}
	if opts.AdvertiseAddr != "" {
		addr = opts.AdvertiseAddr
	}
	return p.Announce(ctx, registryv1.NewRegistryServiceClient(registry), Registration{
		Address:  addr,
		Prefix:   opts.Prefix,
		LeaseTTL: opts.LeaseTTL,
	})
}
