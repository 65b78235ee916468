// Package redistest gives tests a real Redis: the one REDIS_URL names, or
// a private redis-server started for the test binary. Tests never flush
// a server; each test writes under a namespace of its own.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"switchboard.dev/pkg/redisx"
)

var (
	once   sync.Once
	shared *redisx.Local
	dir    string
	err    error
)

// URL returns the Redis URL for tests: REDIS_URL when set, else a private
// redis-server shared by the whole test binary. The private server stops
// when the process exits; call Stop from TestMain to stop it earlier.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	once.Do(func() {
		dir, err = os.MkdirTemp("", "sb-redis-")
		if err == nil {
			shared, err = redisx.StartServer(context.Background(), dir, 0)
		}
	})
	if err != nil {
		t.Fatalf("start test redis: %v", err)
	}
	return shared.URL
}

// Stop stops the private server, if one was started.
func Stop() {
	if shared != nil {
		shared.Stop()
		os.RemoveAll(dir)
	}
}

// Client returns a client to the test Redis, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c, err := redisx.Open(t.Context(), URL(t))
	if err != nil {
		t.Fatalf("open test redis: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Namespace returns a key namespace unique to this test, so that tests
// sharing one Redis never see each other's keys.
func Namespace(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("sbtest-%s", hex.EncodeToString(b))
}
