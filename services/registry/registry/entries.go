package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Tools returns up to limit live tools whose exposed names sort after
// after (from the start when after is empty), in exposed-name order.
func (s *Store) Tools(ctx context.Context, after string, limit int) (
	[]*registryv1.CatalogTool, error) {
	return listAs(ctx, s, KindTools, after, limit, newOf[registryv1.CatalogTool])
}

// Resources returns up to limit live resources whose URIs sort after
// after, in URI order.
func (s *Store) Resources(ctx context.Context, after string, limit int) (
	[]*registryv1.CatalogResource, error) {
	return listAs(ctx, s, KindResources, after, limit, newOf[registryv1.CatalogResource])
}

// Templates returns up to limit live resource templates whose URI
// templates sort after after, in template order.
func (s *Store) Templates(ctx context.Context, after string, limit int) (
	[]*registryv1.CatalogResourceTemplate, error) {
	return listAs(ctx, s, KindTemplates, after, limit,
		newOf[registryv1.CatalogResourceTemplate])
}

// Prompts returns up to limit live prompts whose exposed names sort after
// after, in exposed-name order.
func (s *Store) Prompts(ctx context.Context, after string, limit int) (
	[]*registryv1.CatalogPrompt, error) {
	return listAs(ctx, s, KindPrompts, after, limit, newOf[registryv1.CatalogPrompt])
}

// newOf returns a new zero T, as a constructor for listAs and findAs.
func newOf[T any]() *T { return new(T) }

// listAs reads one page of a kind's definitions and decodes them.
func listAs[T proto.Message](ctx context.Context, s *Store, kind Kinds, after string,
	limit int, fresh func() T) ([]T, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	res, err := s.run(ctx, listScript, kind.base(), start, limit)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind.noun(), err)
	}
	out := make([]T, len(res))
	for i, def := range res {
		out[i] = fresh()
		if err := proto.Unmarshal([]byte(asString(def)), out[i]); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kind.noun(), err)
		}
	}
	return out, nil
}

// Lookup finds the live tool with the given exposed name and the address
// of its provider. An unknown or lapsed tool fails with ErrNotFound.
func (s *Store) Lookup(ctx context.Context, exposed string) (
	*registryv1.CatalogTool, string, error) {
	return findAs(ctx, s, KindTools, exposed, newOf[registryv1.CatalogTool])
}

// Resource finds the live resource with the given URI and the address of
// its provider, or fails with ErrNotFound.
func (s *Store) Resource(ctx context.Context, uri string) (
	*registryv1.CatalogResource, string, error) {
	return findAs(ctx, s, KindResources, uri, newOf[registryv1.CatalogResource])
}

// Template finds the live resource template with the given URI template
// and the address of its provider, or fails with ErrNotFound.
func (s *Store) Template(ctx context.Context, uriTemplate string) (
	*registryv1.CatalogResourceTemplate, string, error) {
	return findAs(ctx, s, KindTemplates, uriTemplate,
		newOf[registryv1.CatalogResourceTemplate])
}

// Prompt finds the live prompt with the given exposed name and the
// address of its provider, or fails with ErrNotFound.
func (s *Store) Prompt(ctx context.Context, exposed string) (
	*registryv1.CatalogPrompt, string, error) {
	return findAs(ctx, s, KindPrompts, exposed, newOf[registryv1.CatalogPrompt])
}

// findAs looks up one live entry of a kind and its provider's address.
func findAs[T proto.Message](ctx context.Context, s *Store, kind Kinds, key string,
	fresh func() T) (T, string, error) {
	var zero T
	res, err := lookupScript.Run(ctx, s.rdb, s.keys, kind.base(), key).Slice()
	if errors.Is(err, redis.Nil) {
		return zero, "", errorf(ErrNotFound, "unknown %s %q", kind.noun(), key)
	}
	if err != nil {
		return zero, "", fmt.Errorf("look up %s: %w", kind.noun(), err)
	}
	m := fresh()
	if err := proto.Unmarshal([]byte(asString(res[0])), m); err != nil {
		return zero, "", fmt.Errorf("decode %s: %w", kind.noun(), err)
	}
	var rec record
	if err := json.Unmarshal([]byte(asString(res[1])), &rec); err != nil {
		return zero, "", fmt.Errorf("decode provider record: %w", err)
	}
	return m, rec.Address, nil
}
