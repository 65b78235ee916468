package retry_test

import (
	"context"
	"testing"
	"time"

	"switchboard.dev/pkg/retry"
)

func TestBackoff(t *testing.T) {
	const first, limit = 100 * time.Millisecond, 5 * time.Second
	tests := []struct {
		attempt int
		max     time.Duration
	}{
		{1, first}, {2, 2 * first}, {6, 3200 * time.Millisecond},
		{7, limit}, {40, limit}, {0, limit},
	}
	for _, tt := range tests {
		for range 50 {
			if got := retry.Backoff(tt.attempt, first, limit); got < tt.max/2 || got > tt.max {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.max/2, tt.max)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !retry.Sleep(t.Context(), time.Millisecond) {
		t.Error("Sleep reported an ended context")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if retry.Sleep(ctx, time.Hour) {
		t.Error("Sleep waited out a cancelled context")
	}
}
