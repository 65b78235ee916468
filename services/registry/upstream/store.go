package upstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"switchboard.dev/pkg/redisx"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Store keeps the upstreams declared through the admin API in Redis,
// under the registry's hash tag, so that every registry replica serves
// them:
//
//	<ns>:{registry}:upstreams           HASH name -> Upstream protobuf
//	<ns>:{registry}:upstreams:changed   channel, published on every change
//
// The channel only hastens replicas; they also reread the hash every poll
// interval, so a message lost while a subscription reconnects delays a
// change but never loses it.
type Store struct {
	rdb     redis.UniversalClient
	key     string
	channel string
}

// NewStore returns a store keeping its keys under namespace ns.
func NewStore(rdb redis.UniversalClient, ns string) *Store {
	p := redisx.Tag(ns, "registry") + ":upstreams"
	return &Store{rdb: rdb, key: p, channel: p + ":changed"}
}

// Put creates or replaces the declaration of s.Name.
func (s *Store) Put(ctx context.Context, spec Spec) error {
	b, err := proto.Marshal(specToProto(spec))
	if err != nil {
		return fmt.Errorf("encode upstream: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.key, spec.Name, b)
		p.Publish(ctx, s.channel, spec.Name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store upstream: %w", err)
	}
	return nil
}

// Delete removes the declaration of name and reports whether there was
// one.
func (s *Store) Delete(ctx context.Context, name string) (bool, error) {
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.HDel(ctx, s.key, name)
		p.Publish(ctx, s.channel, name)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("delete upstream: %w", err)
	}
	return del.Val() > 0, nil
}

// List returns every stored declaration, ordered by name, each with
// Source set to api. A declaration that does not decode or no longer
// validates is left out and reported in the error, beside the others.
func (s *Store) List(ctx context.Context) ([]Spec, error) {
	all, err := s.rdb.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("list upstreams: %w", err)
	}
	specs := make([]Spec, 0, len(all))
	var errs []error
	for name, raw := range all {
		var m registryv1.Upstream
		if err := proto.Unmarshal([]byte(raw), &m); err != nil {
			errs = append(errs, fmt.Errorf("stored upstream %q: %w", name, err))
			continue
		}
		spec := specFromProto(&m)
		spec.Source = SourceAPI
		if spec.Name != name {
			errs = append(errs, fmt.Errorf("stored upstream %q: holds %q", name, spec.Name))
			continue
		}
		if err := Validate(spec); err != nil {
			errs = append(errs, fmt.Errorf("stored upstream: %w", err))
			continue
		}
		specs = append(specs, spec)
	}
	slices.SortFunc(specs, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	return specs, errors.Join(errs...)
}

// Subscribe returns a channel that gets a value when a change may have
// been published, and a function that ends the subscription. The
// subscription is live when Subscribe returns.
func (s *Store) Subscribe(ctx context.Context) (<-chan struct{}, func(), error) {
	ps := s.rdb.Subscribe(ctx, s.channel)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, nil, fmt.Errorf("subscribe to upstream changes: %w", err)
	}
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ps.Channel() {
			// One pending signal stands for any number of changes: the
			// receiver rereads the whole set.
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, func() { ps.Close(); <-done }, nil
}
