// Package providertest serves a small in-memory registry for tests of
// providers. Like the real registry it grants leases, expires them when
// they are not renewed, dials a registering provider to read its
// catalogue and accepts resource-updated notifications from a live lease;
// it keeps no catalogue across providers and routes no calls.
//
// Usage:
//
//	reg := providertest.NewRegistry(t)
//	go p.Run(ctx, provider.RunOptions{ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr})
//	rec := reg.Await(t, "demo", func(r providertest.Record) bool { return r.Live })
package providertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// DefaultLeaseTTL is granted when a provider asks for no lease length.
const DefaultLeaseTTL = 30 * time.Second

// Record is what the registry knows of one provider.
type Record struct {
	// Name, Address and Prefix are as last registered; Prefix is nil
	// when the request left it unset.
	Name    string
	Address string
	Prefix  *string
	// LeaseTTL is the lease length granted.
	LeaseTTL time.Duration
	// Tools, Resources, ResourceTemplates and Prompts are the catalogue
	// read from the provider at registration.
	Tools             []*providerv1.Tool
	Resources         []*providerv1.Resource
	ResourceTemplates []*providerv1.ResourceTemplate
	Prompts           []*providerv1.Prompt
	// Updated lists the URIs the provider reported changed with
	// NotifyResourceUpdated, oldest first.
	Updated []string
	// Live reports a current lease.
	Live bool
	// Registrations, Renewals and Deregistrations count the successful
	// calls of each kind.
	Registrations, Renewals, Deregistrations int
}

// Registry is an in-memory RegistryService served on a loopback port.
type Registry struct {
	// Addr is the gRPC address the registry listens on.
	Addr string

	mu       sync.Mutex
	records  map[string]*record
	failNext int
}

// server is the gRPC face of a Registry.
type server struct {
	registryv1.UnimplementedRegistryServiceServer
	r *Registry
}

type record struct {
	Record
	leaseID string
	expires time.Time
}

// NewRegistry serves a registry on 127.0.0.1 until the test ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r := &Registry{Addr: lis.Addr().String(), records: make(map[string]*record)}
	s := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(s, &server{r: r})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return r
}

// FailRegistrations makes the next n registrations fail with UNAVAILABLE.
func (r *Registry) FailRegistrations(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// Expire drops a provider's lease, as a registry that lost its state
// would: the provider's next renewal gets NOT_FOUND.
func (r *Registry) Expire(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.records[name]; ok {
		rec.Live, rec.leaseID = false, ""
	}
}

// Lookup returns what the registry knows of the named provider.
func (r *Registry) Lookup(name string) (Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.records[name]
	if !ok {
		return Record{}, false
	}
	out := rec.Record
	out.Updated = slices.Clone(out.Updated)
	return out, true
}

// Await polls until the named provider's record satisfies cond and
// returns it, failing the test after ten seconds.
func (r *Registry) Await(t testing.TB, name string, cond func(Record) bool) Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, ok := r.Lookup(name)
		if ok && cond(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider %q: condition not met; last record %+v", name, rec)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RegisterProvider reads the provider's catalogue and grants a lease.
func (s *server) RegisterProvider(ctx context.Context, req *registryv1.RegisterProviderRequest) (
	*registryv1.RegisterProviderResponse, error) {
	if s.r.failing() {
		return nil, status.Error(codes.Unavailable, "registry is failing on purpose")
	}
	if req.GetName() == "" || req.GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "name and address are required")
	}
	catalogue, err := describe(ctx, req.GetAddress())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "describe provider: %v", err)
	}
	ttl := DefaultLeaseTTL
	if req.GetLeaseTtl() != nil {
		ttl = req.GetLeaseTtl().AsDuration()
	}
	rec := s.r.grant(req, catalogue, ttl)
	prefix := req.GetName()
	if req.Prefix != nil {
		prefix = req.GetPrefix()
	}
	return &registryv1.RegisterProviderResponse{
		Provider: &registryv1.Provider{
			Name: rec.Name, Address: rec.Address, Prefix: prefix,
			ExpireTime: timestamppb.New(rec.expires), ToolCount: int32(len(rec.Tools)),
		},
		LeaseId:  rec.leaseID,
		LeaseTtl: durationpb.New(ttl),
	}, nil
}

// grant records a registration with a fresh lease and returns a copy.
func (r *Registry) grant(req *registryv1.RegisterProviderRequest,
	catalogue *providerv1.DescribeResponse, ttl time.Duration) record {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.records[req.GetName()]
	if rec == nil {
		rec = &record{}
		r.records[req.GetName()] = rec
	}
	rec.Name, rec.Address, rec.Prefix = req.GetName(), req.GetAddress(), req.Prefix
	rec.LeaseTTL, rec.Live = ttl, true
	rec.Tools, rec.Resources = catalogue.GetTools(), catalogue.GetResources()
	rec.ResourceTemplates, rec.Prompts = catalogue.GetResourceTemplates(), catalogue.GetPrompts()
	rec.Registrations++
	rec.leaseID, rec.expires = rand.Text(), time.Now().Add(ttl)
	return *rec
}

func (r *Registry) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failNext > 0 {
		r.failNext--
		return true
	}
	return false
}

func describe(ctx context.Context, addr string) (*providerv1.DescribeResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return providerv1.NewProviderServiceClient(conn).Describe(ctx, &providerv1.DescribeRequest{})
}

// live returns the record that the lease belongs to, dropping a lapsed
// lease. The caller holds r.mu.
func (r *Registry) live(name, leaseID string) (*record, error) {
	rec, ok := r.records[name]
	if ok && rec.Live && time.Now().After(rec.expires) {
		rec.Live, rec.leaseID = false, ""
	}
	if !ok || !rec.Live || rec.leaseID != leaseID {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("no lease for provider %q", name))
	}
	return rec, nil
}

// RenewLease extends a live lease.
func (s *server) RenewLease(_ context.Context, req *registryv1.RenewLeaseRequest) (
	*registryv1.RenewLeaseResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.live(req.GetName(), req.GetLeaseId())
	if err != nil {
		return nil, err
	}
	rec.expires = time.Now().Add(rec.LeaseTTL)
	rec.Renewals++
	return &registryv1.RenewLeaseResponse{ExpireTime: timestamppb.New(rec.expires)}, nil
}

// DeregisterProvider drops a live lease.
func (s *server) DeregisterProvider(_ context.Context, req *registryv1.DeregisterProviderRequest) (
	*registryv1.DeregisterProviderResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.live(req.GetName(), req.GetLeaseId())
	if err != nil {
		return nil, err
	}
	rec.Live, rec.leaseID = false, ""
	rec.Deregistrations++
	return &registryv1.DeregisterProviderResponse{}, nil
}

// NotifyResourceUpdated records a changed resource reported under a live
// lease.
func (s *server) NotifyResourceUpdated(_ context.Context,
	req *registryv1.NotifyResourceUpdatedRequest) (*registryv1.NotifyResourceUpdatedResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.live(req.GetName(), req.GetLeaseId())
	if err != nil {
		return nil, err
	}
	if req.GetUri() == "" {
		return nil, status.Error(codes.InvalidArgument, "uri is required")
	}
	rec.Updated = append(rec.Updated, req.GetUri())
	return &registryv1.NotifyResourceUpdatedResponse{}, nil
}
