package e2e

import (
	"strings"
	"testing"

	"switchboard.dev/pkg/redistest"
	"switchboard.dev/pkg/redisx"
)

// TestSessionKeysExpire checks that a session lives in Redis under the
// suite's namespace, with an expiry on every key, and that closing the
// session removes it.
func TestSessionKeysExpire(t *testing.T) {
	s := startSuite(t, 1)
	cs := connectGo(t, s.MCPURLs()[0], newSpreader(t, s.MCPURLs()))
	sessionID := cs.ID()
	rdb := redistest.Client(t)
	pattern := globEscape(redisx.Tag(s.Namespace, sessionID)) + "*"

	var keys []string
	iter := rdb.Scan(t.Context(), 0, pattern, 100).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	if len(keys) == 0 {
		t.Fatalf("no Redis key matches %s after initialize", pattern)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(t.Context(), k).Result()
		if err != nil {
			t.Fatalf("pttl %s: %v", k, err)
		}
		if ttl <= 0 {
			t.Errorf("key %s has PTTL %v, want an expiry", k, ttl)
		}
	}

	if err := cs.Close(); err != nil {
		t.Fatalf("close session: %v", err)
	}
	n, err := rdb.Exists(t.Context(), keys...).Result()
	if err != nil {
		t.Fatalf("exists: %v", err)
	}
	if n != 0 {
		t.Errorf("%d of the session's keys %q remain after DELETE", n, keys)
	}
}

// globEscape quotes the characters that Redis glob patterns treat
// specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
