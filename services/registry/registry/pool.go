package registry

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// maxProviderMessage bounds one message from a provider. A Describe of a
// large catalogue easily exceeds gRPC's 4 MiB default.
const maxProviderMessage = 64 << 20

// pool keeps one client connection per provider address, shared by the
// registrations and calls that use it. Connections to addresses no live
// provider uses any more are closed by prune once nothing holds them.
type pool struct {
	mu     sync.Mutex
	conns  map[string]*pooled
	closed bool
}

type pooled struct {
	cc   *grpc.ClientConn
	refs int
}

func newPool() *pool { return &pool{conns: make(map[string]*pooled)} }

// acquire returns a client for the provider at addr and a release func
// that must be called once the client is no longer used.
func (p *pool) acquire(addr string) (providerv1.ProviderServiceClient, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errorf(ErrUnavailable, "registry is shutting down")
	}
	c, ok := p.conns[addr]
	if !ok {
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxProviderMessage)))
		if err != nil {
			return nil, nil, errorf(ErrInvalid, "address %q: %w", addr, err)
		}
		c = &pooled{cc: cc}
		p.conns[addr] = c
	}
	c.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			p.mu.Lock()
			c.refs--
			p.mu.Unlock()
		})
	}
	return providerv1.NewProviderServiceClient(c.cc), release, nil
}

// prune closes the idle connections to addresses not in keep.
func (p *pool) prune(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		if c.refs == 0 && !keep[addr] {
			c.cc.Close()
			delete(p.conns, addr)
		}
	}
}

// close closes every connection; calls still using one fail.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, c := range p.conns {
		c.cc.Close()
		delete(p.conns, addr)
	}
}
