package redisx

import (
	"context"
	"strings"
	"testing"
)

func TestTag(t *testing.T) {
	if got := Tag("sb", "abc"); got != "sb:{abc}" {
		t.Errorf("Tag = %q, want sb:{abc}", got)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, url := range []string{"nope://x", "redis://127.0.0.1:1/0"} {
		if _, err := Open(context.Background(), url); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
}

// TestStartServer starts a real private redis-server, uses it and stops
// it, twice over so that Stop is known to free everything.
func TestStartServer(t *testing.T) {
	l, err := StartServer(t.Context(), t.TempDir(), 0)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	defer l.Stop()
	if l.Embedded || !strings.HasPrefix(l.URL, "redis://127.0.0.1:") {
		t.Errorf("local = %+v, want a real server on loopback", l)
	}
	c, err := Open(t.Context(), l.URL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	l.Stop()
	l.Stop()
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Error("server still answers after Stop")
	}
}
