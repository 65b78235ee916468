package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/retry"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// registryTimeout bounds one call to the registry; a registration
// includes the registry dialling back and calling Describe.
const registryTimeout = 10 * time.Second

// implementation is how the registry introduces itself to upstreams.
var implementation = &mcp.Implementation{Name: "switchboard-registry", Version: "1.0.0"}

// bridge serves one upstream to the registry as a provider: it keeps a
// catalogue session with the upstream, registers the catalogue and
// serves the provider API on a listener of its own, forwarding each
// request on an upstream session of the client session it belongs to.
type bridge struct {
	providerv1.UnimplementedProviderServiceServer

	spec     Spec
	opts     ManagerOptions
	instance string
	log      *slog.Logger
	// broken is set when the bridge could not listen; it never ran.
	broken bool
	addr   string
	srv    *grpc.Server
	cancel context.CancelFunc
	done   chan struct{}
	pool   *sessionPool

	mu     sync.Mutex
	health Health
	// cat is what Describe answers: the filtered catalogue registered
	// last, or being registered.
	cat *providerv1.DescribeResponse
	// lease is the registry lease held, empty when not registered.
	lease string
}

// startBridge listens and starts the bridge's loop. A bridge that
// cannot listen is returned too, reported as refused, with the error.
func startBridge(ctx context.Context, m *Manager, spec Spec) (*bridge, error) {
	b := &bridge{spec: spec, opts: m.opts, instance: m.instance,
		log:  m.log.With("upstream", spec.Name),
		done: make(chan struct{}),
		health: Health{Name: spec.Name, Source: spec.Source, Transport: spec.Transport,
			State: StateConnecting, Since: time.Now()}}
	if err := spec.runnable(); err != nil {
		b.broken = true
		b.setState(StateRefused, err.Error())
		return b, fmt.Errorf("upstream %q: %w", spec.Name, err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", b.opts.ListenAddr)
	if err != nil {
		b.broken = true
		b.setState(StateRefused, "cannot listen: "+err.Error())
		return b, fmt.Errorf("upstream %q: listen: %w", spec.Name, err)
	}
	b.addr = lis.Addr().String()
	if h := b.opts.AdvertiseHost; h != "" {
		_, port, _ := net.SplitHostPort(b.addr)
		b.addr = net.JoinHostPort(h, port)
	}
	b.srv = grpc.NewServer()
	providerv1.RegisterProviderServiceServer(b.srv, b)
	go b.srv.Serve(lis)

	// The bridge outlives the Set call that started it: its loop ends
	// only when stop cancels it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	b.pool = newSessionPool(b)
	go b.pool.reap(runCtx)
	go func() {
		defer close(b.done)
		b.runOwned(runCtx)
	}()
	b.log.Info("upstream bridge started", "transport", spec.Transport, "address", b.addr)
	return b, nil
}

// stop deregisters, ends every upstream session and stops serving.
func (b *bridge) stop() {
	if b.broken {
		return
	}
	b.cancel()
	<-b.done
	b.pool.close()
	b.srv.Stop()
	b.log.Info("upstream bridge stopped")
}

func (b *bridge) connectTimeout() time.Duration {
	if b.spec.ConnectTimeout > 0 {
		return b.spec.ConnectTimeout
	}
	return b.opts.ConnectTimeout
}

func (b *bridge) callTimeout() time.Duration {
	if b.spec.CallTimeout > 0 {
		return b.spec.CallTimeout
	}
	return b.opts.CallTimeout
}

// own keeps the upstream served until ctx ends: it connects, registers,
// and reconnects with backoff whenever the upstream goes down.
func (b *bridge) own(ctx context.Context) {
	for attempt := 0; ; {
		b.setState(StateConnecting, "")
		started := time.Now()
		up := b.serveOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		// An upstream that was up for a while starts its backoff afresh.
		if up && time.Since(started) > b.opts.MaxBackoff {
			attempt = 0
		}
		attempt++
		if !retry.Sleep(ctx, backoff(attempt, b.opts.MaxBackoff)) {
			return
		}
	}
}

// gatewayServerName is the name a Switchboard gateway gives itself in
// serverInfo.
const gatewayServerName = "switchboard"

// errGatewayUpstream refuses an upstream that is a Switchboard gateway.
//
// Known shortcoming: this refuses chaining gateways at all, since the
// bridge cannot tell a gateway in front of this very registry (whose
// catalogue would then grow from its own tools without end) from another
// deployment's.
var errGatewayUpstream = errors.New("the upstream is a Switchboard gateway; " +
	"if it fronted this registry its catalogue would feed on itself, so gateways are not federated")

// serveOnce runs one catalogue session: connect, list, register, then
// follow changes and renew the lease until the upstream goes down or ctx
// ends. It reports whether the upstream got up.
func (b *bridge) serveOnce(ctx context.Context) bool {
	changed := make(chan struct{}, 1)
	cs, err := connectWithin(ctx, b.connectTimeout(),
		func(ctx context.Context) (*mcp.ClientSession, error) {
			return b.connectCatalogue(ctx, changed)
		})
	if err != nil {
		b.fail(classify(err), "connect", err)
		return false
	}
	defer cs.Close()
	if init := cs.InitializeResult(); init != nil && init.ServerInfo != nil &&
		init.ServerInfo.Name == gatewayServerName {
		b.fail(StateRefused, "connect", errGatewayUpstream)
		return false
	}
	closed := make(chan error, 1)
	go func() { closed <- cs.Wait() }()

	subs := map[string]bool{}
	cat, err := b.list(ctx, cs, subs)
	if err != nil {
		b.fail(classify(err), "list catalogue", err)
		return false
	}
	ttl, err := b.register(ctx, cat)
	if err != nil {
		b.fail(registrationState(err), "register", err)
		return false
	}
	b.markUp(cs.InitializeResult(), cat)
	defer b.markDown()
	return b.follow(ctx, cs, closed, changed, subs, ttl)
}

// follow keeps a registered upstream current until it goes down or ctx
// ends, and always reports true: the upstream was up.
func (b *bridge) follow(ctx context.Context, cs *mcp.ClientSession, closed <-chan error,
	changed <-chan struct{}, subs map[string]bool, ttl time.Duration) bool {
	renew := time.NewTicker(renewEvery(ttl))
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case err := <-closed:
			if err == nil {
				err = mcp.ErrConnectionClosed
			}
			b.fail(StateDown, "upstream connection lost", err)
			return true
		case <-changed:
			if ttl2, ok := b.refresh(ctx, cs, subs); ok && ttl2 > 0 {
				ttl = ttl2
				renew.Reset(renewEvery(ttl))
			}
		case <-renew.C:
			if ttl2 := b.renew(ctx); ttl2 > 0 {
				ttl = ttl2
				renew.Reset(renewEvery(ttl))
			}
		}
	}
}

func renewEvery(ttl time.Duration) time.Duration { return max(ttl/3, 10*time.Millisecond) }

// refresh lists the catalogue again after a list_changed notification
// and registers it when it changed. It reports the new lease length, or
// false when nothing was registered.
func (b *bridge) refresh(ctx context.Context, cs *mcp.ClientSession,
	subs map[string]bool) (time.Duration, bool) {
	cat, err := b.list(ctx, cs, subs)
	if err != nil {
		b.noteError("list catalogue", err)
		return 0, false
	}
	b.mu.Lock()
	same := proto.Equal(cat, b.cat)
	old := b.cat
	b.mu.Unlock()
	if same {
		return 0, false
	}
	ttl, err := b.register(ctx, cat)
	if err != nil {
		// The registry changed nothing: keep serving what it still holds.
		b.mu.Lock()
		b.cat = old
		b.mu.Unlock()
		b.noteError("register changed catalogue", err)
		return 0, false
	}
	b.setCounts(cat)
	b.log.Info("upstream catalogue changed", "tools", len(cat.GetTools()),
		"resources", len(cat.GetResources()), "prompts", len(cat.GetPrompts()))
	return ttl, true
}

// register publishes cat under the upstream's name; the registry calls
// Describe, which answers cat. It returns the granted lease length.
func (b *bridge) register(ctx context.Context, cat *providerv1.DescribeResponse) (
	time.Duration, error) {
	b.mu.Lock()
	b.cat = cat
	b.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	resp, err := b.opts.Registry.RegisterProvider(rctx, &registryv1.RegisterProviderRequest{
		Name: b.spec.Name, Address: b.addr, Prefix: b.spec.Prefix,
		LeaseTtl: durationpb.New(b.opts.LeaseTTL),
	})
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.lease = resp.GetLeaseId()
	b.mu.Unlock()
	ttl := resp.GetLeaseTtl().AsDuration()
	if ttl <= 0 {
		ttl = b.opts.LeaseTTL
	}
	return ttl, nil
}

// renew extends the lease. A lease the registry no longer knows (it
// lapsed, say while the registry was away) is registered afresh, which is
// safe because only the owner of the upstream runs this loop. It returns
// a new lease length after such a registration, else 0.
func (b *bridge) renew(ctx context.Context) time.Duration {
	b.mu.Lock()
	lease, cat := b.lease, b.cat
	b.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	_, err := b.opts.Registry.RenewLease(rctx, &registryv1.RenewLeaseRequest{
		Name: b.spec.Name, LeaseId: lease})
	if err == nil || ctx.Err() != nil {
		return 0
	}
	if status.Code(err) != codes.NotFound {
		b.noteError("renew lease", err)
		return 0
	}
	b.log.Warn("lease lost, registering again", "err", err)
	ttl, err := b.register(ctx, cat)
	if err != nil {
		b.noteError("register again", err)
		return 0
	}
	return ttl
}

// markDown deregisters and ends the upstream sessions of every client,
// so that calls in flight fail at once rather than hang.
func (b *bridge) markDown() {
	b.mu.Lock()
	lease := b.lease
	b.lease = ""
	b.mu.Unlock()
	b.pool.closeAll()
	if lease == "" {
		return
	}
	// The farewell must outlive the cancelled context that ended the
	// upstream's service, but not by much: a stop is waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := b.opts.Registry.DeregisterProvider(ctx, &registryv1.DeregisterProviderRequest{
		Name: b.spec.Name, LeaseId: lease})
	if err != nil && status.Code(err) != codes.NotFound {
		b.log.Warn("deregistration failed", "err", err)
		return
	}
	b.log.Info("upstream deregistered")
}

// registrationState tells how a refused registration leaves the
// upstream: a catalogue the registry rejects is refused, a registry that
// cannot be reached leaves it down.
func registrationState(err error) State {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists:
		return StateRefused
	}
	return StateDown
}

// connectWithin connects, giving up after d. The context the connection
// gets is not bounded by d: the SSE transport keeps its event stream on
// it for the session's whole life. It ends when the session does.
func connectWithin(ctx context.Context, d time.Duration,
	connect func(context.Context) (*mcp.ClientSession, error)) (*mcp.ClientSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(d, cancel)
	cs, err := connect(ctx)
	if !timer.Stop() {
		if cs != nil {
			cs.Close()
		}
		cancel()
		return nil, fmt.Errorf("no answer within %s: %w", d, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		cs.Wait()
		cancel()
	}()
	return cs, nil
}

// errNotServing answers provider requests while the upstream is not up.
var errNotServing = errors.New("upstream not connected")
