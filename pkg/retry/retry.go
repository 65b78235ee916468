// Package retry holds the waiting that reconnect loops share.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry number attempt (from 1): first,
// doubling up to limit, with jitter (between half and all of it) so that
// many clients restarted together do not retry in step.
func Backoff(attempt int, first, limit time.Duration) time.Duration {
	d := limit
	if attempt >= 1 && attempt < 32 {
		if step := first << (attempt - 1); step > 0 && step < limit {
			d = step
		}
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d, or reports false if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
