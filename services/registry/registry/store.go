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
// replicas never leave two live entries with one key.
type Store struct {
	rdb  redis.UniversalClient
	ns   string
	keys []string
}

// Positions in Store.keys; the scripts see them as KEYS[1] to KEYS[15].
// Each kind of entry has an (index, defs, owners) triple.
const (
	keyLeases = iota
	keyProviders
	keyIndex
	keyDefs
	keyOwners
	keyRevision
	keyResourceIndex
	keyResourceDefs
	keyResourceOwners
	keyTemplateIndex
	keyTemplateDefs
	keyTemplateOwners
	keyPromptIndex
	keyPromptDefs
	keyPromptOwners
)

// Kinds is a set of catalogue kinds, one bit each.
type Kinds uint8

// The catalogue kinds. The values are part of the scripts' contract.
const (
	KindTools Kinds = 1 << iota
	KindResources
	KindTemplates
	KindPrompts
)

// base returns the key position of a kind's index, as the scripts count
// (from 1); its defs and owners follow.
func (k Kinds) base() int {
	switch k {
	case KindResources:
		return keyResourceIndex + 1
	case KindTemplates:
		return keyTemplateIndex + 1
	case KindPrompts:
		return keyPromptIndex + 1
	}
	return keyIndex + 1
}

// noun names one entry of the kind in messages.
func (k Kinds) noun() string {
	switch k {
	case KindResources:
		return "resource"
	case KindTemplates:
		return "resource template"
	case KindPrompts:
		return "prompt"
	}
	return "tool"
}

// NewStore returns a store keeping its keys under namespace ns.
func NewStore(rdb redis.UniversalClient, ns string) *Store {
	p := redisx.Tag(ns, "registry") + ":"
	return &Store{rdb: rdb, ns: ns, keys: []string{
		p + "leases", p + "providers", p + "index", p + "defs", p + "owners", p + "revision",
		p + "resources:index", p + "resources:defs", p + "resources:owners",
		p + "templates:index", p + "templates:defs", p + "templates:owners",
		p + "prompts:index", p + "prompts:defs", p + "prompts:owners",
	}}
}

// record is a provider as stored in Redis. The scripts read lease_hash,
// ttl_ms and the entry lists, so their JSON names are part of the
// storage format. The lists are never null: the scripts expect arrays.
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
	// Resources are the URIs the provider owns.
	Resources []string `json:"resources"`
	// Templates are the URI templates the provider owns.
	Templates []string `json:"templates"`
	// Prompts are the exposed prompt names the provider owns.
	Prompts []string `json:"prompts"`
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
	// Resources are keyed by URI.
	Resources []*registryv1.CatalogResource
	// Templates are keyed by URI template.
	Templates []*registryv1.CatalogResourceTemplate
	// Prompts carry their exposed names in Prompt.Name.
	Prompts []*registryv1.CatalogPrompt
}

// Registration is the outcome of a successful Register.
type Registration struct {
	// Provider is the provider as registered.
	Provider *registryv1.Provider
	// Revision is the catalogue revision after the change.
	Revision int64
}

// Changes reports what a store call changed besides its main effect: the
// providers whose lapsed leases it purged, and every kind of entry whose
// list changed, including through those purges.
type Changes struct {
	// Lapsed names the providers purged because their leases lapsed.
	Lapsed []string
	// Kinds are the kinds whose lists changed.
	Kinds Kinds
}

func changes(purged, mask any) Changes {
	return Changes{Lapsed: strs(purged), Kinds: Kinds(asInt(mask))}
}

// hashLease returns the stored form of a lease id.
func hashLease(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// item is one catalogue entry encoded for the register script.
type item struct {
	key string
	def []byte
	// name is the entry's own name at its provider, for messages.
	name string
}

// kindItems lists an entry's items of every kind, in the scripts' order.
type kindItems struct {
	kind  Kinds
	items []item
}

// items encodes every entry of e for the register script.
func (e Entry) items() ([]kindItems, error) {
	tools, err := encodeItems(e.Tools, func(t *registryv1.CatalogTool) (string, string) {
		return t.GetTool().GetName(), t.GetProviderToolName()
	})
	if err != nil {
		return nil, err
	}
	res, err := encodeItems(e.Resources, func(r *registryv1.CatalogResource) (string, string) {
		return r.GetResource().GetUri(), r.GetResource().GetName()
	})
	if err != nil {
		return nil, err
	}
	tpls, err := encodeItems(e.Templates,
		func(t *registryv1.CatalogResourceTemplate) (string, string) {
			return t.GetTemplate().GetUriTemplate(), t.GetTemplate().GetName()
		})
	if err != nil {
		return nil, err
	}
	prompts, err := encodeItems(e.Prompts, func(p *registryv1.CatalogPrompt) (string, string) {
		return p.GetPrompt().GetName(), p.GetProviderPromptName()
	})
	if err != nil {
		return nil, err
	}
	return []kindItems{{KindTools, tools}, {KindResources, res},
		{KindTemplates, tpls}, {KindPrompts, prompts}}, nil
}

// encodeItems encodes entries deterministically, so that an unchanged
// entry is stored as the same bytes and the script can see it unchanged.
func encodeItems[T proto.Message](list []T, names func(T) (key, name string)) ([]item, error) {
	out := make([]item, 0, len(list))
	for _, m := range list {
		key, name := names(m)
		def, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode %q: %w", key, err)
		}
		out = append(out, item{key: key, def: def, name: name})
	}
	return out, nil
}

// Register adds or replaces a provider and its entries. It returns what
// changed, also when it fails. A clash with another live provider's entry
// fails with ErrCollision and changes nothing.
func (s *Store) Register(ctx context.Context, e Entry) (Registration, Changes, error) {
	kinds, err := e.items()
	if err != nil {
		return Registration{}, Changes{}, err
	}
	rec := record{Name: e.Name, Address: e.Address, Prefix: e.Prefix,
		LeaseHash: hashLease(e.LeaseID), TTLMillis: e.TTL.Milliseconds()}
	lists := []*[]string{&rec.Tools, &rec.Resources, &rec.Templates, &rec.Prompts}
	args := []any{rec.Name, "", rec.TTLMillis}
	for i, k := range kinds {
		*lists[i] = make([]string, 0, len(k.items))
		for _, it := range k.items {
			*lists[i] = append(*lists[i], it.key)
		}
		args = append(args, len(k.items))
	}
	for _, k := range kinds {
		for _, it := range k.items {
			args = append(args, it.key, it.def)
		}
	}
	if args[1], err = encodeRecord(rec); err != nil {
		return Registration{}, Changes{}, err
	}

	res, err := s.run(ctx, registerScript, args...)
	if err != nil {
		return Registration{}, Changes{}, fmt.Errorf("register provider: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return Registration{}, changes(res[5], res[6]), collision(kinds, rec.Name, res)
	}
	reg := Registration{Provider: rec.provider(fromMillis(res[1])), Revision: asInt(res[2])}
	return reg, changes(res[3], res[4]), nil
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
// script's answer {0, kind, key, owner, owner's definition, ...}.
func collision(kinds []kindItems, name string, res []any) error {
	field, key, owner := asString(res[1]), asString(res[2]), asString(res[3])
	kind := kindByField[field]
	mine := ""
	for _, k := range kinds {
		for _, it := range k.items {
			if k.kind == kind && it.key == key {
				mine = it.name
			}
		}
	}
	theirs := entryName(kind, []byte(asString(res[4])))
	w := collisionWords[kind]
	return errorf(ErrCollision,
		"%s %q from provider %q (%s %q) collides with %q from provider %q (%s %q)",
		w[0], key, name, w[1], mine, key, owner, w[1], theirs)
}

// kindByField maps the scripts' names of the kinds to their bits.
var kindByField = map[string]Kinds{"tools": KindTools, "resources": KindResources,
	"templates": KindTemplates, "prompts": KindPrompts}

// collisionWords names a kind's key and entry in collision messages.
var collisionWords = map[Kinds][2]string{
	KindTools:     {"tool name", "tool"},
	KindResources: {"resource URI", "resource"},
	KindTemplates: {"resource template", "template"},
	KindPrompts:   {"prompt name", "prompt"},
}

// entryName returns the provider's own name of a stored entry, or "?".
func entryName(kind Kinds, def []byte) string {
	switch kind {
	case KindResources:
		m := &registryv1.CatalogResource{}
		if proto.Unmarshal(def, m) == nil {
			return m.GetResource().GetName()
		}
	case KindTemplates:
		m := &registryv1.CatalogResourceTemplate{}
		if proto.Unmarshal(def, m) == nil {
			return m.GetTemplate().GetName()
		}
	case KindPrompts:
		m := &registryv1.CatalogPrompt{}
		if proto.Unmarshal(def, m) == nil {
			return m.GetProviderPromptName()
		}
	default:
		m := &registryv1.CatalogTool{}
		if proto.Unmarshal(def, m) == nil {
			return m.GetProviderToolName()
		}
	}
	return "?"
}

// Renew extends the lease of provider name and returns the new expiry.
// A wrong lease id or a lapsed lease fails with ErrNotFound.
func (s *Store) Renew(ctx context.Context, name, leaseID string) (time.Time, Changes, error) {
	res, err := s.run(ctx, renewScript, name, hashLease(leaseID))
	if err != nil {
		return time.Time{}, Changes{}, fmt.Errorf("renew lease: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return time.Time{}, changes(res[1], res[2]), errNoLease(name)
	}
	return fromMillis(res[1]), changes(res[2], res[3]), nil
}

// Deregister drops provider name and its entries. A wrong lease id or a
// lapsed lease fails with ErrNotFound.
func (s *Store) Deregister(ctx context.Context, name, leaseID string) (Changes, error) {
	res, err := s.run(ctx, deregisterScript, name, hashLease(leaseID))
	if err != nil {
		return Changes{}, fmt.Errorf("deregister provider: %w", err)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return changes(res[1], res[2]), errNoLease(name)
	}
	return changes(res[1], res[2]), nil
}

// CheckLease tells whether provider name holds the live lease leaseID; it
// fails with ErrNotFound when not.
func (s *Store) CheckLease(ctx context.Context, name, leaseID string) error {
	ok, err := leaseScript.Run(ctx, s.rdb, s.keys, name, hashLease(leaseID)).Int64()
	if err != nil {
		return fmt.Errorf("check lease: %w", err)
	}
	if ok == 0 {
		return errNoLease(name)
	}
	return nil
}

func errNoLease(name string) error {
	return errorf(ErrNotFound,
		"provider %q holds no such lease: it lapsed or was replaced; register again", name)
}

// Reap drops every provider whose lease lapsed and reports them.
func (s *Store) Reap(ctx context.Context) (Changes, error) {
	res, err := s.run(ctx, reapScript)
	if err != nil {
		return Changes{}, fmt.Errorf("reap leases: %w", err)
	}
	return changes(res[0], res[1]), nil
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
