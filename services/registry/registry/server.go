package registry

import (
	"context"
	crand "crypto/rand"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// describeTimeout bounds the Describe call of a registration.
const describeTimeout = 10 * time.Second

// Server implements registryv1.RegistryServiceServer on top of a Store.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	store *Store
	pool  *pool
	cfg   Config
	log   *slog.Logger
}

// NewServer returns a server that keeps its catalogue in store. Call
// Close when done, to close the connections to providers.
func NewServer(log *slog.Logger, store *Store, cfg Config) *Server {
	return &Server{store: store, pool: newPool(), cfg: cfg, log: log}
}

// Close closes the connections to providers.
func (s *Server) Close() { s.pool.close() }

// RegisterProvider adds or replaces a provider and publishes its tools.
func (s *Server) RegisterProvider(ctx context.Context, req *registryv1.RegisterProviderRequest) (
	*registryv1.RegisterProviderResponse, error) {
	resp, err := s.register(ctx, req)
	if err != nil {
		s.log.Warn("registration refused", "provider", req.GetName(),
			"address", req.GetAddress(), "reason", err)
	}
	return resp, s.toStatus("RegisterProvider", err)
}

func (s *Server) register(ctx context.Context, req *registryv1.RegisterProviderRequest) (
	*registryv1.RegisterProviderResponse, error) {
	sp, err := s.validateRegister(req)
	if err != nil {
		return nil, err
	}
	described, err := s.describe(ctx, sp)
	if err != nil {
		return nil, err
	}
	tools, err := catalogue(sp, described)
	if err != nil {
		return nil, err
	}

	leaseID := crand.Text()
	reg, purged, err := s.store.Register(ctx, Entry{Name: sp.name, Address: sp.address,
		Prefix: sp.prefix, LeaseID: leaseID, TTL: sp.ttl, Tools: tools})
	s.logLapsed(purged)
	if err != nil {
		return nil, err
	}
	s.log.Info("provider up", "provider", sp.name, "address", sp.address,
		"prefix", sp.prefix, "tools", len(tools), "lease_ttl", sp.ttl, "revision", reg.Revision)
	return &registryv1.RegisterProviderResponse{
		Provider: reg.Provider,
		LeaseId:  leaseID,
		LeaseTtl: durationpb.New(sp.ttl),
	}, nil
}

// describe reads the catalogue of the provider being registered.
func (s *Server) describe(ctx context.Context, sp spec) ([]*providerv1.Tool, error) {
	client, release, err := s.pool.acquire(sp.address)
	if err != nil {
		return nil, err
	}
	defer release()
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	resp, err := client.Describe(dctx, &providerv1.DescribeRequest{})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errorf(ErrUnavailable, "provider %q at %s is unavailable: describe: %s",
			sp.name, sp.address, status.Convert(err).Message())
	}
	return resp.GetTools(), nil
}

// RenewLease extends a provider's lease.
func (s *Server) RenewLease(ctx context.Context, req *registryv1.RenewLeaseRequest) (
	*registryv1.RenewLeaseResponse, error) {
	expire, purged, err := s.store.Renew(ctx, req.GetName(), req.GetLeaseId())
	s.logLapsed(purged)
	if err != nil {
		return nil, s.toStatus("RenewLease", err)
	}
	return &registryv1.RenewLeaseResponse{ExpireTime: timestamppb.New(expire)}, nil
}

// DeregisterProvider removes a provider and its tools.
func (s *Server) DeregisterProvider(ctx context.Context,
	req *registryv1.DeregisterProviderRequest) (*registryv1.DeregisterProviderResponse, error) {
	purged, err := s.store.Deregister(ctx, req.GetName(), req.GetLeaseId())
	s.logLapsed(purged)
	if err != nil {
		return nil, s.toStatus("DeregisterProvider", err)
	}
	s.log.Info("provider down", "provider", req.GetName(), "reason", "deregistered")
	return &registryv1.DeregisterProviderResponse{}, nil
}

// ListProviders lists the live providers ordered by name.
func (s *Server) ListProviders(ctx context.Context, _ *registryv1.ListProvidersRequest) (
	*registryv1.ListProvidersResponse, error) {
	providers, err := s.store.Providers(ctx)
	if err != nil {
		return nil, s.toStatus("ListProviders", err)
	}
	return &registryv1.ListProvidersResponse{Providers: providers}, nil
}

// ListTools returns one page of the merged catalogue.
func (s *Server) ListTools(ctx context.Context, req *registryv1.ListToolsRequest) (
	*registryv1.ListToolsResponse, error) {
	resp, err := s.listTools(ctx, req)
	return resp, s.toStatus("ListTools", err)
}

func (s *Server) listTools(ctx context.Context, req *registryv1.ListToolsRequest) (
	*registryv1.ListToolsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, errorf(ErrInvalid, "page_size %d: want zero or more", size)
	case size == 0:
		size = s.cfg.DefaultPageSize
	case size > s.cfg.MaxPageSize:
		size = s.cfg.MaxPageSize
	}
	after, err := decodeCursor(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	// One tool more than the page tells whether another page follows.
	tools, err := s.store.Tools(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListToolsResponse{Tools: tools}
	if len(tools) > size {
		resp.Tools = tools[:size]
		resp.NextPageToken = encodeCursor(tools[size-1].GetTool().GetName())
	}
	return resp, nil
}

// RunReaper drops lapsed providers every interval, give or take a tenth
// so that replicas spread out, until ctx ends.
func (s *Server) RunReaper(ctx context.Context, interval time.Duration) {
	for {
		jitter := time.Duration(rand.Int64N(int64(interval)/5 + 1))
		t := time.NewTimer(interval - interval/10 + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.reap(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reap failed", "err", err)
		}
	}
}

// reap drops lapsed providers and closes connections nobody needs.
func (s *Server) reap(ctx context.Context) error {
	purged, err := s.store.Reap(ctx)
	if err != nil {
		return err
	}
	s.logLapsed(purged)
	providers, err := s.store.Providers(ctx)
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(providers))
	for _, p := range providers {
		keep[p.GetAddress()] = true
	}
	s.pool.prune(keep)
	return nil
}

func (s *Server) logLapsed(names []string) {
	for _, name := range names {
		s.log.Info("provider down", "provider", name, "reason", "lease lapsed")
	}
}
