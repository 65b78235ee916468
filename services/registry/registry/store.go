package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"switchboard.dev/pkg/redisx"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Store is the Redis-backed catalogue. Every change runs as one Lua
// script, so concurrent registrations through any number of registry
// replicas never leave two live tools with one exposed name.
type Store struct {
	rdb  redis.Cmdable
	keys []string
}

// Positions in Store.keys; the scripts see them as KEYS[1] to KEYS[6].
const (
	keyLeases = iota
	keyProviders
	keyIndex
	keyDefs
	keyOwners
	keyRevision
)

// NewStore returns a store keeping its keys under namespace ns.
func NewStore(rdb redis.Cmdable, ns string) *Store {
	p := redisx.Tag(ns, "registry") + ":"
	return &Store{rdb: rdb, keys: []string{
		p + "leases", p + "providers", p + "index", p + "defs", p + "owners", p + "revision",
	}}
}

// record is a provider as stored in Redis. The scripts read lease_hash,
// ttl_ms and tools, so their JSON names are part of the storage format.
type record struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Prefix  string `json:"prefix"`
	// LeaseHash is the SHA-256 of the lease id: the secret itself is
	// never stored.
	LeaseHash string `json:"lease_hash"`
	TTLMillis int64  `json:"ttl_ms"`
	// Tools are the exposed names the provider owns.
	Tools []string `json:"tools"`
}

// Entry is a provider registration to store.
type Entry struct {
	// Name, Address and Prefix describe the provider.
	Name, Address, Prefix string
	// LeaseID is the secret that renews or drops the registration.
	LeaseID string
	// TTL is the granted lease length; renewals extend by it again.
	TTL time.Duration
	// Tools carry their exposed names in Tool.Name.
	Tools []*registryv1.CatalogTool
}

// Registration is the outcome of a successful Register.
type Registration struct {
	// Provider is the provider as registered.
	Provider *registryv1.Provider
	// Revision is the catalogue revision after the change.
	Revision int64
}

// hashLease returns the stored form of a lease id.
func hashLease(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Register adds or replaces a provider and its tools. It returns the
// providers whose lapsed leases it purged on the way, also when it fails.
// A clash with another live provider's tool fails with ErrCollision and
// changes nothing.
func (s *Store) Register(ctx context.Context, e Entry) (Registration, []string, error) {
	rec := record{Name: e.Name, Address: e.Address, Prefix: e.Prefix,
		LeaseHash: hashLease(e.LeaseID), TTLMillis: e.TTL.Milliseconds(),
		Tools: make([]string, 0, len(e.Tools))}
	args := []any{rec.Name, "", rec.TTLMillis}
	for _, t := range e.Tools {
		def, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
		if err != nil {
			return Registration{}, nil, fmt.Errorf("encode tool %q: %w", t.GetTool().GetName(), err)
		}
		rec.Tools = append(rec.Tools, t.GetTool().GetName())
		args = append(args, t.GetTool().GetName(), def)
	}
	enc, err := encodeRecord(rec)
	if err != nil {
		return Registration{}, nil, err
	}
	args[1] = enc

	res, err := s.run(ctx, registerScript, args...)
	if err != nil {
		return Registration{}, nil, fmt.Errorf("register provider: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return Registration{}, strs(res[4]), collision(e.Tools, rec.Name, res)
	}
	reg := Registration{Provider: rec.provider(fromMillis(res[1])), Revision: asInt(res[2])}
	return reg, strs(res[3]), nil
}

// encodeRecord writes rec as JSON without HTML escaping, so that names
// reach the scripts as they are.
func encodeRecord(rec record) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return "", fmt.Errorf("encode provider record: %w", err)
	}
	return buf.String(), nil
}

// collision builds the ErrCollision for a refused registration from the
// script's answer {0, exposed, owner, owner's definition, purged}.
func collision(tools []*registryv1.CatalogTool, name string, res []any) error {
	exposed, owner := asString(res[1]), asString(res[2])
	theirs := &registryv1.CatalogTool{}
	if err := proto.Unmarshal([]byte(asString(res[3])), theirs); err != nil {
		theirs.ProviderToolName = "?"
	}
	mine := ""
	for _, t := range tools {
		if t.GetTool().GetName() == exposed {
			mine = t.GetProviderToolName()
		}
	}
	return errorf(ErrCollision,
		"tool name %q from provider %q (tool %q) collides with %q from provider %q (tool %q)",
		exposed, name, mine, exposed, owner, theirs.GetProviderToolName())
}

// Renew extends the lease of provider name and returns the new expiry.
// A wrong lease id or a lapsed lease fails with ErrNotFound.
func (s *Store) Renew(ctx context.Context, name, leaseID string) (time.Time, []string, error) {
	res, err := s.run(ctx, renewScript, name, hashLease(leaseID))
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("renew lease: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return time.Time{}, strs(res[1]), errNoLease(name)
	}
	return fromMillis(res[1]), strs(res[2]), nil
}

// Deregister drops provider name and its tools. A wrong lease id or a
// lapsed lease fails with ErrNotFound.
func (s *Store) Deregister(ctx context.Context, name, leaseID string) ([]string, error) {
	res, err := s.run(ctx, deregisterScript, name, hashLease(leaseID))
	if err != nil {
		return nil, fmt.Errorf("deregister provider: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return strs(res[1]), errNoLease(name)
	}
	return strs(res[1]), nil
}

func errNoLease(name string) error {
	return errorf(ErrNotFound,
		"provider %q holds no such lease: it lapsed or was replaced; register again", name)
}

// Reap drops every provider whose lease lapsed and returns their names.
func (s *Store) Reap(ctx context.Context) ([]string, error) {
	res, err := reapScript.Run(ctx, s.rdb, s.keys).Result()
	if err != nil {
		return nil, fmt.Errorf("reap leases: %w", err)
	}
	return strs(res), nil
}

// Revision returns the catalogue revision, which grows on every change.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, s.keys[keyRevision]).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return n, nil
}

// Providers lists the live providers ordered by name.
func (s *Store) Providers(ctx context.Context) ([]*registryv1.Provider, error) {
	res, err := s.run(ctx, providersScript)
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	out := make([]*registryv1.Provider, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		var rec record
		if err := json.Unmarshal([]byte(asString(res[i+1])), &rec); err != nil {
			return nil, fmt.Errorf("decode provider record: %w", err)
		}
		out = append(out, rec.provider(fromMillis(res[i])))
	}
	slices.SortFunc(out, func(a, b *registryv1.Provider) int {
		return strings.Compare(a.GetName(), b.GetName())
	})
	return out, nil
}

func (r record) provider(expire time.Time) *registryv1.Provider {
	return &registryv1.Provider{
		Name:       r.Name,
		Address:    r.Address,
		Prefix:     r.Prefix,
		ExpireTime: timestamppb.New(expire),
		ToolCount:  int32(len(r.Tools)),
	}
}

// Tools returns up to limit live tools whose exposed names sort after
// after (from the start when after is empty), in exposed-name order.
func (s *Store) Tools(ctx context.Context, after string, limit int) (
	[]*registryv1.CatalogTool, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	res, err := s.run(ctx, toolsScript, start, limit)
	if err != nil {
		return nil, fmt.Errorf("list tools: %w", err)
	}
	out := make([]*registryv1.CatalogTool, len(res))
	for i, def := range res {
		out[i] = &registryv1.CatalogTool{}
		if err := proto.Unmarshal([]byte(asString(def)), out[i]); err != nil {
			return nil, fmt.Errorf("decode tool: %w", err)
		}
	}
	return out, nil
}

// Lookup finds the live tool with the given exposed name and the address
// of its provider. An unknown or lapsed tool fails with ErrNotFound.
func (s *Store) Lookup(ctx context.Context, exposed string) (
	*registryv1.CatalogTool, string, error) {
	res, err := lookupScript.Run(ctx, s.rdb, s.keys, exposed).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, "", errorf(ErrNotFound, "unknown tool %q", exposed)
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up tool: %w", err)
	}
	tool := &registryv1.CatalogTool{}
	if err := proto.Unmarshal([]byte(asString(res[0])), tool); err != nil {
		return nil, "", fmt.Errorf("decode tool: %w", err)
	}
	var rec record
	if err := json.Unmarshal([]byte(asString(res[1])), &rec); err != nil {
		return nil, "", fmt.Errorf("decode provider record: %w", err)
	}
	return tool, rec.Address, nil
}

// run runs script with the store's keys and returns its array reply.
func (s *Store) run(ctx context.Context, script *redis.Script, args ...any) ([]any, error) {
	return script.Run(ctx, s.rdb, s.keys, args...).Slice()
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, asString(x))
	}
	return out
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// asInt reads an integer reply, which Redis may also hand over as text.
func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case string:
		f, _ := strconv.ParseFloat(n, 64)
		return int64(f)
	}
	return 0
}

func fromMillis(v any) time.Time { return time.UnixMilli(asInt(v)) }
