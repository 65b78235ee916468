package upstream

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// ManagerOptions carries what the bridges need. Registry is required;
// every other field has a default, filled in by NewManager.
type ManagerOptions struct {
	// Registry is where bridges register, renew their leases and report
	// changed resources. Required.
	Registry registryv1.RegistryServiceClient
	// Sessions reads a client session's capabilities, which its upstream
	// session then advertises. Nil advertises none for requests that do
	// not carry them (reads, prompts, completions).
	Sessions sessionv1.SessionServiceClient
	// ListenAddr is where each bridge serves the provider API. Default
	// "127.0.0.1:0".
	ListenAddr string
	// AdvertiseHost is the host registered for the bridges, with each
	// bridge's bound port: the address every registry replica dials to
	// route a call to an upstream this replica runs. Empty means the bound
	// host.
	AdvertiseHost string
	// LeaseTTL is the lease asked of the registry, and the lifetime of an
	// ownership lock. Default 15s.
	LeaseTTL time.Duration
	// ConnectTimeout bounds connecting and initializing when a Spec sets
	// none. Default 10s.
	ConnectTimeout time.Duration
	// CallTimeout bounds one request to an upstream when a Spec sets none.
	// Default 5m.
	CallTimeout time.Duration
	// IdleTimeout is how long a client session's upstream session (for
	// stdio, its process) lives without requests. Default 5m.
	IdleTimeout time.Duration
	// MaxLineBytes is the longest stdout line read from a stdio upstream;
	// longer lines are dropped. Default 4 MiB.
	MaxLineBytes int
	// MaxProcesses caps the processes of one stdio upstream: the catalogue
	// process and one per client session. Default 32.
	MaxProcesses int
	// PingInterval is how often the catalogue session pings its upstream,
	// to notice one that stopped answering. Default 15s.
	PingInterval time.Duration
	// MaxBackoff caps the wait between reconnection attempts. Default 30s.
	MaxBackoff time.Duration
	// Redis, when set, holds the ownership locks that let only one
	// registry replica run each upstream. Nil runs every upstream here.
	Redis redis.UniversalClient
	// RedisNamespace prefixes the lock keys; use the registry's. Default
	// "sb".
	RedisNamespace string
}

func (o ManagerOptions) withDefaults() ManagerOptions {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1:0"
	}
	set(&o.LeaseTTL, 15*time.Second)
	set(&o.ConnectTimeout, 10*time.Second)
	set(&o.CallTimeout, 5*time.Minute)
	set(&o.IdleTimeout, 5*time.Minute)
	set(&o.PingInterval, 15*time.Second)
	set(&o.MaxBackoff, 30*time.Second)
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 4 << 20
	}
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = 32
	}
	if o.RedisNamespace == "" {
		o.RedisNamespace = "sb"
	}
	return o
}

// State is where an upstream stands.
type State string

// The states of an upstream.
const (
	// StateConnecting: connecting or initializing, not yet registered.
	StateConnecting State = "connecting"
	// StateUp: initialized and registered with the registry.
	StateUp State = "up"
	// StateDown: unreachable, or run by another replica (Standby).
	StateDown State = "down"
	// StateRefused: reachable but not servable (initialize failed, an
	// unsupported protocol version, a catalogue the registry refused).
	StateRefused State = "refused"
)

// Health reports one upstream as this replica sees it.
type Health struct {
	Name      string
	Source    Source
	Transport Transport
	State     State
	// Reason says why the upstream is down or refused.
	Reason string
	// Standby is true while another registry replica owns the upstream.
	Standby bool
	// ProtocolVersion, ServerName and ServerVersion come from the last
	// successful initialize.
	ProtocolVersion string
	ServerName      string
	ServerVersion   string
	// The catalogue's sizes, after the tool filter.
	Tools, Resources, Templates, Prompts int
	// Since is when State last changed.
	Since time.Time
	// LastError is the last failure seen, even once recovered.
	LastError string
}

// Manager runs one bridge per declared upstream.
type Manager struct {
	log      *slog.Logger
	opts     ManagerOptions
	instance string

	mu      sync.Mutex
	bridges map[string]*bridge
	closed  bool
}

// NewManager returns a manager with no upstreams; call Set to declare
// them and Close when done.
func NewManager(log *slog.Logger, opts ManagerOptions) *Manager {
	return &Manager{log: log, opts: opts.withDefaults(),
		instance: strings.ToLower(rand.Text()[:16]), bridges: map[string]*bridge{}}
}

// Set reconciles the running bridges with specs: it starts the new ones,
// stops the removed ones, restarts the changed ones and leaves the rest
// alone. Specs must have unique names. ctx bounds starting the listeners.
func (m *Manager) Set(ctx context.Context, specs []Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("upstream manager closed")
	}
	want := make(map[string]Spec, len(specs))
	for _, s := range specs {
		want[s.Name] = s
	}
	var stop []*bridge
	for name, b := range m.bridges {
		if s, ok := want[name]; !ok || b.broken || !reflect.DeepEqual(s, b.spec) {
			stop = append(stop, b)
			delete(m.bridges, name)
		}
	}
	stopAll(stop)
	var errs []error
	for _, s := range specs {
		if _, ok := m.bridges[s.Name]; ok {
			continue
		}
		// A bridge that cannot listen stays listed as refused, so that
		// Health shows it; the next Set tries it again.
		b, err := startBridge(ctx, m, s)
		if err != nil {
			m.log.Error("upstream not started", "upstream", s.Name, "err", err)
			errs = append(errs, err)
		}
		m.bridges[s.Name] = b
	}
	return errors.Join(errs...)
}

// Health reports every upstream, ordered by name.
func (m *Manager) Health() []Health {
	m.mu.Lock()
	list := make([]*bridge, 0, len(m.bridges))
	for _, b := range m.bridges {
		list = append(list, b)
	}
	m.mu.Unlock()
	out := make([]Health, 0, len(list))
	for _, b := range list {
		out = append(out, b.healthNow())
	}
	slices.SortFunc(out, func(a, b Health) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops every bridge: each deregisters, ends its upstream sessions
// and processes, and releases its ownership lock.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	list := make([]*bridge, 0, len(m.bridges))
	for _, b := range m.bridges {
		list = append(list, b)
	}
	m.bridges = map[string]*bridge{}
	m.mu.Unlock()
	stopAll(list)
}

// stopAll stops bridges in parallel, so that one slow farewell does not
// hold up the others.
func stopAll(list []*bridge) {
	var wg sync.WaitGroup
	for _, b := range list {
		wg.Go(b.stop)
	}
	wg.Wait()
}
