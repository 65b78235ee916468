// Package redisx opens the go-redis client that the stateful services
// share, and names keys so that Redis Cluster stays possible.
package redisx

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open parses url (redis://, rediss:// or unix://), connects and pings.
func Open(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	c := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis at %s: %w", opts.Addr, err)
	}
	return c, nil
}

// Tag wraps id in a Redis Cluster hash tag under namespace ns, so that
// every key built from the result lands on the same cluster slot:
// Tag("sb", "abc") is "sb:{abc}".
func Tag(ns, id string) string { return ns + ":{" + id + "}" }
