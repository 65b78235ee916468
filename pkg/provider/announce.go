package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"switchboard.dev/pkg/retry"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Registration says how a provider announces itself to the registry.
type Registration struct {
	// Address is the gRPC target where the registry reaches the provider.
	// Required.
	Address string
	// Prefix is prepended to tool names as "<prefix>__<tool>". Nil means
	// the provider's name; a pointer to "" exposes the names unchanged.
	Prefix *string
	// LeaseTTL is the lease length to ask for. Zero means the registry's
	// default. The registry may grant a different length.
	LeaseTTL time.Duration
}

const (
	// Registration retries back off from minBackoff to maxBackoff, so a
	// restarted registry sees the provider again within seconds.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// callTimeout bounds one registry call; registration includes the
	// registry dialling back and describing the provider.
	callTimeout = 10 * time.Second
	// deregisterTimeout bounds the farewell call at shutdown.
	deregisterTimeout = 3 * time.Second
	// fallbackTTL is assumed when the registry grants no lease length.
	fallbackTTL = 30 * time.Second
)

var providerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// registryClient is the registry API a provider uses.
type registryClient = registryv1.RegistryServiceClient

// lease is a granted registration.
type lease struct {
	id  string
	ttl time.Duration
	// version is the catalogue version the registry read, or a later
	// one.
	version uint64
}

// Announce registers the provider with the registry and keeps it
// registered until ctx ends, then deregisters it and returns nil.
//
// Registration is retried with backoff until it succeeds, so the
// provider may start before the registry. The lease is renewed at a third
// of the granted length; a renewal refused with NOT_FOUND (the lease
// lapsed, say because the registry lost its state) registers again. The
// provider must already be serving at reg.Address, since the registry
// dials it to read the catalogue.
//
// When the catalogue changes (AddTool, RemoveTool and the like), Announce
// registers again under the same name: the registry reads the catalogue
// anew, replaces the provider's entries and the lease, and tells the
// clients which lists changed. Changes made while a registration is under
// way are registered by the next one.
//
// Known shortcoming: the registry gives the new registration a new lease
// and forgets the old one at once, so a NotifyResourceUpdated that races
// with a re-registration may be refused with NOT_FOUND.
func (p *Provider) Announce(ctx context.Context, client registryv1.RegistryServiceClient,
	reg Registration) error {
	if err := p.checkName(); err != nil {
		return err
	}
	if reg.Address == "" {
		return errors.New("registration address is empty")
	}
	p.setAnnouncing(true)
	defer p.setAnnouncing(false)
	for {
		l, ok := p.register(ctx, client, reg)
		if !ok {
			return nil
		}
		if p.hold(ctx, client, l, reg) {
			return nil
		}
	}
}

// hold keeps lease l, and the ones that replace it when the catalogue
// changes, until ctx ends (true, once deregistered) or the lease lapses
// (false).
func (p *Provider) hold(ctx context.Context, client registryClient, l lease,
	reg Registration) bool {
	// seen is the catalogue version after which a change registers
	// again: the one announced, or the one that failed to register.
	seen := l.version
	var retry <-chan time.Time
	for attempt := 0; ; {
		p.held(client, l)
		switch p.keepAlive(ctx, client, l, seen, retry) {
		case leaseLost:
			p.release(l)
			return false
		case shutDown:
			p.release(l)
			p.deregister(ctx, client, l)
			return true
		}
		// The registry replaces the provider's entries and lease with a
		// new registration under the same name. While that fails (say,
		// a new tool's name is another provider's), the old lease is
		// kept alive and the registration retried.
		next, err := p.registerOnce(ctx, client, reg)
		if err != nil {
			attempt++
			wait := backoff(attempt)
			p.log.Warn("registration of the changed catalogue failed", "attempt", attempt,
				"retry_in", wait, "err", err)
			seen, retry = p.catalogueVersion(), time.After(wait)
			continue
		}
		attempt, l, seen, retry = 0, next, next.version, nil
	}
}

// ErrNotRegistered is returned by NotifyResourceUpdated while the
// provider holds no lease: before Announce (or Run) has registered it,
// between a lapsed lease and the next registration, and after shutdown.
var ErrNotRegistered = errors.New("provider: not registered")

// heldLease is the registration Announce holds.
type heldLease struct {
	client registryClient
	id     string
}

// held records l as the lease held and the catalogue it announced.
func (p *Provider) held(client registryClient, l lease) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	p.lease = &heldLease{client: client, id: l.id}
	p.announced = l.version
	p.moved()
}

func (p *Provider) release(l lease) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	if p.lease != nil && p.lease.id == l.id {
		p.lease = nil
		p.moved()
	}
}

// moved wakes Sync. The caller holds p.leaseMu.
func (p *Provider) moved() {
	close(p.leaseMoved)
	p.leaseMoved = make(chan struct{})
}

// setAnnouncing records whether Announce runs, and wakes Sync.
func (p *Provider) setAnnouncing(on bool) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	p.announcing = on
	p.moved()
}

// Sync waits until the registry has read the catalogue as it is when
// Sync is called, so that a tool or prompt added or removed before is
// published, and the clients told, when it returns nil. Before the first
// registration of a running Announce it waits for that. It returns
// ErrNotRegistered when no Announce runs, or as soon as the provider
// loses its lease (see NotifyResourceUpdated), and ctx's error when ctx
// ends first.
func (p *Provider) Sync(ctx context.Context) error {
	want := p.catalogueVersion()
	sawLease := false
	for {
		p.leaseMu.Lock()
		held, announced, wake, announcing := p.lease, p.announced, p.leaseMoved, p.announcing
		p.leaseMu.Unlock()
		switch {
		case held == nil && (!announcing || sawLease):
			return ErrNotRegistered
		case held == nil:
			// Announce runs but has not registered yet: wait for it.
		case announced >= want:
			return nil
		default:
			sawLease = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// NotifyResourceUpdated tells the registry that the resource at uri
// changed, so that clients subscribed to it are notified
// (notifications/resources/updated). The provider must be registered
// through Run or Announce; otherwise it returns ErrNotRegistered. The URI
// should be one the provider serves: a listed resource or one matching a
// template.
func (p *Provider) NotifyResourceUpdated(ctx context.Context, uri string) error {
	p.leaseMu.Lock()
	held := p.lease
	p.leaseMu.Unlock()
	if held == nil {
		return ErrNotRegistered
	}
	_, err := held.client.NotifyResourceUpdated(ctx, &registryv1.NotifyResourceUpdatedRequest{
		Name: p.name, LeaseId: held.id, Uri: uri,
	})
	if err != nil {
		return fmt.Errorf("notify resource updated: %w", err)
	}
	return nil
}

// checkName checks the name against the registry's rule, so that a bad
// name fails at start-up instead of in an endless retry.
func (p *Provider) checkName() error {
	if !providerName.MatchString(p.name) {
		return fmt.Errorf("provider name %q: want 1 to 64 letters, digits, '_' or '-'", p.name)
	}
	return nil
}

// register registers until it succeeds, or reports false when ctx ends.
func (p *Provider) register(ctx context.Context, client registryClient,
	reg Registration) (lease, bool) {
	for attempt := 1; ; attempt++ {
		l, err := p.registerOnce(ctx, client, reg)
		if err == nil {
			return l, true
		}
		if ctx.Err() != nil {
			return lease{}, false
		}
		wait := backoff(attempt)
		p.log.Warn("registration failed", "attempt", attempt, "retry_in", wait, "err", err)
		if !retry.Sleep(ctx, wait) {
			return lease{}, false
		}
	}
}

// registerOnce makes one registration call. A call in flight when ctx
// ends gets a little longer to finish, so that a lease granted at that
// moment is known and can be dropped, rather than left to lapse while the
// registry routes calls to a provider that is gone.
func (p *Provider) registerOnce(ctx context.Context, client registryClient,
	reg Registration) (lease, error) {
	req := &registryv1.RegisterProviderRequest{Name: p.name, Address: reg.Address, Prefix: reg.Prefix}
	if reg.LeaseTTL > 0 {
		req.LeaseTtl = durationpb.New(reg.LeaseTTL)
	}
	// Read before the registry describes the provider, so that a change
	// made meanwhile counts as not yet announced.
	version := p.catalogueVersion()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(deregisterTimeout, cancel) })
	defer stop()
	resp, err := client.RegisterProvider(cctx, req)
	if err != nil {
		return lease{}, err
	}
	l := lease{id: resp.GetLeaseId(), ttl: resp.GetLeaseTtl().AsDuration(), version: version}
	if l.ttl <= 0 {
		l.ttl = fallbackTTL
	}
	p.log.Info("registered", "address", reg.Address,
		"prefix", resp.GetProvider().GetPrefix(), "lease_ttl", l.ttl,
		"tools", resp.GetProvider().GetToolCount())
	return l, nil
}

// renewal is how keepAlive ended.
type renewal int

const (
	// shutDown: ctx ended; the lease is still held.
	shutDown renewal = iota
	// leaseLost: the registry no longer knows the lease.
	leaseLost
	// catalogueChanged: the catalogue changed since the registry read
	// it; the lease is still held.
	catalogueChanged
)

// keepAlive renews l until ctx ends, the registry no longer knows the
// lease, the catalogue changes past version seen, or retry fires (to
// register a change again). Other renewal errors are retried
// sooner, while the lease still has time left.
func (p *Provider) keepAlive(ctx context.Context, client registryClient, l lease,
	seen uint64, retry <-chan time.Time) renewal {
	every := max(l.ttl/3, 10*time.Millisecond)
	wait := every
	for attempt := 0; ; {
		if r, ok := p.waitRenewal(ctx, seen, wait, retry); !ok {
			return r
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		_, err := client.RenewLease(cctx, &registryv1.RenewLeaseRequest{Name: p.name, LeaseId: l.id})
		cancel()
		switch {
		case err == nil:
			attempt, wait = 0, every
		case ctx.Err() != nil:
			return shutDown
		case status.Code(err) == codes.NotFound:
			p.log.Warn("lease lost, registering again", "err", err)
			return leaseLost
		default:
			attempt++
			wait = min(backoff(attempt), every)
			p.log.Warn("lease renewal failed", "attempt", attempt, "retry_in", wait, "err", err)
		}
	}
}

// waitRenewal waits d before the next renewal. It reports false, with
// the reason, when ctx ends, the catalogue changes past version seen, or
// retry fires first.
func (p *Provider) waitRenewal(ctx context.Context, seen uint64, d time.Duration,
	retry <-chan time.Time) (renewal, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		// A wake-up may be left over from a change that the registry
		// read already; only a newer catalogue counts.
		if p.catalogueVersion() > seen {
			return catalogueChanged, false
		}
		select {
		case <-ctx.Done():
			return shutDown, false
		case <-p.changed:
		case <-retry:
			return catalogueChanged, false
		case <-t.C:
			return 0, true
		}
	}
}

// deregister drops the lease so the registry stops routing calls here at
// once rather than when the lease lapses.
func (p *Provider) deregister(ctx context.Context, client registryClient, l lease) {
	// The farewell must outlive the cancelled context that asked for it,
	// but not by much: shutdown is waiting.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deregisterTimeout)
	defer cancel()
	req := &registryv1.DeregisterProviderRequest{Name: p.name, LeaseId: l.id}
	_, err := client.DeregisterProvider(dctx, req)
	if err != nil {
		p.log.Warn("deregistration failed", "err", err)
		return
	}
	p.log.Info("deregistered")
}

// backoff returns the wait before registration retry number attempt
// (from 1), from minBackoff up to maxBackoff.
func backoff(attempt int) time.Duration { return retry.Backoff(attempt, minBackoff, maxBackoff) }
