package upstream

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard.dev/pkg/redisx"
	"switchboard.dev/pkg/retry"
)

// ownerLock lets one registry replica at a time run an upstream. It is a
// Redis key under the registry's hash tag holding the owner's instance
// id, which only the owner renews or deletes. Registrations stay safe
// across a takeover because the registry replaces a provider registered
// again under its name, and a stale owner's renewals and deregistration
// carry a lease id that no longer matches.
type ownerLock struct {
	rdb      redis.UniversalClient
	key      string
	instance string
	ttl      time.Duration
}

func newOwnerLock(rdb redis.UniversalClient, ns, name, instance string,
	ttl time.Duration) *ownerLock {
	return &ownerLock{rdb: rdb, key: redisx.Tag(ns, "registry") + ":upstream-owner:" + name,
		instance: instance, ttl: ttl}
}

// renewLockScript extends the lock if this instance holds it, or takes it
// if nobody does; it answers 1 when this instance holds it afterwards.
var renewLockScript = redis.NewScript(`
local owner = redis.call("GET", KEYS[1])
if owner == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
if not owner then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`)

var releaseLockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// hold takes or extends the lock and reports whether this instance holds
// it.
func (l *ownerLock) hold(ctx context.Context) (bool, error) {
	n, err := renewLockScript.Run(ctx, l.rdb, []string{l.key}, l.instance,
		l.ttl.Milliseconds()).Int64()
	return n == 1, err
}

// release drops the lock if this instance holds it, so that another
// replica takes over at once rather than when it lapses.
func (l *ownerLock) release() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return releaseLockScript.Run(ctx, l.rdb, []string{l.key}, l.instance).Err()
}

// runOwned runs the upstream whenever this replica owns it. Without
// Redis every replica owns every upstream.
func (b *bridge) runOwned(ctx context.Context) {
	if b.opts.Redis == nil {
		b.own(ctx)
		return
	}
	lock := newOwnerLock(b.opts.Redis, b.opts.RedisNamespace, b.spec.Name, b.instance,
		b.opts.LeaseTTL)
	defer func() {
		if err := lock.release(); err != nil {
			b.log.Warn("ownership lock not released", "err", err)
		}
	}()
	every := max(b.opts.LeaseTTL/3, 10*time.Millisecond)
	for {
		ok, err := lock.hold(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			b.noteError("take ownership lock", err)
		case ok:
			b.log.Info("upstream owned by this replica")
			b.ownWhileLocked(ctx, lock, every)
		default:
			b.setStandby()
		}
		if !retry.Sleep(ctx, every) {
			return
		}
	}
}

// ownWhileLocked serves the upstream while the lock holds. A lock that
// cannot be renewed for its whole lifetime (Redis away) counts as lost,
// since another replica may have taken it by then.
func (b *bridge) ownWhileLocked(ctx context.Context, lock *ownerLock, every time.Duration) {
	ownCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.own(ownCtx)
	}()
	defer func() { cancel(); <-done }()
	held := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := lock.hold(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ok:
			held = time.Now()
		case err == nil:
			b.log.Warn("upstream ownership lost to another replica")
			return
		case time.Since(held) >= lock.ttl:
			b.noteError("renew ownership lock", err)
			return
		}
	}
}

// backoff returns the wait before reconnection attempt (from 1): from
// half a second, doubling up to limit.
func backoff(attempt int, limit time.Duration) time.Duration {
	return retry.Backoff(attempt, 500*time.Millisecond, limit)
}

var errProcessExited = errors.New("upstream process exited")
