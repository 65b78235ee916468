package registry

import (
	"context"
	crand "crypto/rand"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// describeTimeout bounds the Describe call of a registration.
const describeTimeout = 10 * time.Second

// Server implements registryv1.RegistryServiceServer on top of a Store.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	store    *Store
	pool     *pool
	sessions sessionv1.SessionServiceClient
	cfg      Config
	log      *slog.Logger
	// instance names this replica in the ids of the requests its calls
	// send to clients, and in its pub/sub inbox.
	instance string
	calls    *callTable
	matcher  uriMatcher
	// background tracks the broadcasts still running; none start once
	// closed is set.
	background sync.WaitGroup
	bgMu       sync.Mutex
	closed     bool
}

// NewServer returns a server that keeps its catalogue in store and logs
// streamed calls and catalogue changes to sessions. Each server is a
// replica of its own with a random instance id. Call Listen to take
// client answers and cancellations, and Close when done.
func NewServer(log *slog.Logger, store *Store, sessions sessionv1.SessionServiceClient,
	cfg Config) *Server {
	return &Server{store: store, pool: newPool(), sessions: sessions, cfg: cfg, log: log,
		instance: strings.ToLower(crand.Text()[:16]), calls: newCallTable()}
}

// Instance returns the replica's instance id.
func (s *Server) Instance() string { return s.instance }

// Shutdown refuses new calls and gives the detached calls grace to end;
// those still running then are cancelled, and end with a failed result.
// It belongs in serve.Options.OnShutdown, so that the RPCs relaying those
// calls end before the server's own deadline.
func (s *Server) Shutdown(grace time.Duration) { s.calls.shutdown(grace) }

// Close cancels the detached calls still running and waits for them to
// log their end, waits for pending broadcasts and closes the connections
// to providers.
func (s *Server) Close() {
	s.calls.shutdown(0)
	s.calls.wait()
	s.bgMu.Lock()
	s.closed = true
	s.bgMu.Unlock()
	s.background.Wait()
	s.pool.close()
}

// goBackground runs f in the background unless the server is closed.
func (s *Server) goBackground(f func()) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if !s.closed {
		s.background.Go(f)
	}
}

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
	entry, err := catalogue(sp, described)
	if err != nil {
		return nil, err
	}

	leaseID := crand.Text()
	entry.LeaseID = leaseID
	reg, changes, err := s.store.Register(ctx, entry)
	s.changed(changes)
	if err != nil {
		return nil, err
	}
	s.log.Info("provider up", "provider", sp.name, "address", sp.address,
		"prefix", sp.prefix, "tools", len(entry.Tools), "resources", len(entry.Resources),
		"resource_templates", len(entry.Templates), "prompts", len(entry.Prompts),
		"lease_ttl", sp.ttl, "revision", reg.Revision)
	return &registryv1.RegisterProviderResponse{
		Provider: reg.Provider,
		LeaseId:  leaseID,
		LeaseTtl: durationpb.New(sp.ttl),
	}, nil
}

// describe reads the catalogue of the provider being registered.
func (s *Server) describe(ctx context.Context, sp spec) (*providerv1.DescribeResponse, error) {
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
	return resp, nil
}

// RenewLease extends a provider's lease.
func (s *Server) RenewLease(ctx context.Context, req *registryv1.RenewLeaseRequest) (
	*registryv1.RenewLeaseResponse, error) {
	expire, changes, err := s.store.Renew(ctx, req.GetName(), req.GetLeaseId())
	s.changed(changes)
	if err != nil {
		return nil, s.toStatus("RenewLease", err)
	}
	return &registryv1.RenewLeaseResponse{ExpireTime: timestamppb.New(expire)}, nil
}

// DeregisterProvider removes a provider and its tools.
func (s *Server) DeregisterProvider(ctx context.Context,
	req *registryv1.DeregisterProviderRequest) (*registryv1.DeregisterProviderResponse, error) {
	changes, err := s.store.Deregister(ctx, req.GetName(), req.GetLeaseId())
	s.changed(changes)
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
	tools, next, err := page(s, req.GetPageSize(), req.GetPageToken(),
		func(after string, n int) ([]*registryv1.CatalogTool, error) {
			return s.store.Tools(ctx, after, n)
		}, (*registryv1.CatalogTool).GetTool, (*providerv1.Tool).GetName)
	if err != nil {
		return nil, err
	}
	return &registryv1.ListToolsResponse{Tools: tools, NextPageToken: next}, nil
}

// pageSize applies the defaults and the cap to a requested page size.
func (s *Server) pageSize(size int32) (int, error) {
	switch {
	case size < 0:
		return 0, errorf(ErrInvalid, "page_size %d: want zero or more", size)
	case size == 0:
		return s.cfg.DefaultPageSize, nil
	case int(size) > s.cfg.MaxPageSize:
		return s.cfg.MaxPageSize, nil
	}
	return int(size), nil
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
	changes, err := s.store.Reap(ctx)
	if err != nil {
		return err
	}
	s.changed(changes)
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
