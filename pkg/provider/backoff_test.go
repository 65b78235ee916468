package provider

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		max     time.Duration
	}{
		{1, minBackoff},
		{2, 2 * minBackoff},
		{4, 8 * minBackoff},
		{7, maxBackoff},
		{1000, maxBackoff},
	}
	for _, tt := range tests {
		// Jitter keeps each wait within the upper half of its step.
		for range 100 {
			if got := backoff(tt.attempt); got < tt.max/2 || got > tt.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.max/2, tt.max)
			}
		}
	}
}
