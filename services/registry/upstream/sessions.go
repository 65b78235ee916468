package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// errTooManyProcesses refuses a client session that would need one
// stdio process more than the cap allows.
var errTooManyProcesses = errors.New("too many processes")

// sessionPool keeps one upstream session per client session, so that
// whatever state the upstream ties to its session never crosses from one
// client to another. Sessions are opened at a client's first request,
// advertising that client's capabilities, and closed when idle.
type sessionPool struct {
	b *bridge

	mu     sync.Mutex
	conns  map[string]*clientConn
	closed bool
}

func newSessionPool(b *bridge) *sessionPool {
	return &sessionPool{b: b, conns: map[string]*clientConn{}}
}

// clientConn is the upstream session of one client session.
type clientConn struct {
	id    string
	ready chan struct{}
	// cs and err are set before ready closes.
	cs  *mcp.ClientSession
	err error

	mu       sync.Mutex
	calls    []*call
	active   int
	lastUsed time.Time
	dead     bool
}

// with runs f on the client session's upstream session. When the
// upstream answers that it no longer knows the session (HTTP 404), the
// session is opened afresh and f runs once more.
func (p *sessionPool) with(ctx context.Context, sessionID, capsJSON string,
	f func(*clientConn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := p.acquire(ctx, sessionID, capsJSON)
		if err != nil {
			return err
		}
		err = f(c)
		p.release(c)
		if attempt == 0 && errors.Is(err, mcp.ErrSessionMissing) {
			p.b.log.Info("upstream session expired, initializing again",
				"session", shortID(sessionID))
			p.discard(c)
			continue
		}
		return err
	}
}

// acquire returns the live upstream session of a client session, opening
// it when there is none. A request without a session id gets a session
// of its own, closed after the request.
func (p *sessionPool) acquire(ctx context.Context, sessionID, capsJSON string) (
	*clientConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errNotServing
	}
	c := p.conns[sessionID]
	if c != nil && c.isDead() {
		delete(p.conns, sessionID)
		go c.close()
		c = nil
	}
	if c == nil {
		if err := p.checkProcesses(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		c = &clientConn{id: sessionID, ready: make(chan struct{})}
		if sessionID != "" {
			p.conns[sessionID] = c
		}
		go p.open(context.WithoutCancel(ctx), c, capsJSON)
	}
	c.mu.Lock()
	c.active++
	c.mu.Unlock()
	p.mu.Unlock()

	select {
	case <-c.ready:
	case <-ctx.Done():
		p.release(c)
		return nil, ctx.Err()
	}
	if c.err != nil {
		p.release(c)
		p.discard(c)
		return nil, c.err
	}
	return c, nil
}

// checkProcesses refuses a new stdio session beyond the process cap,
// which counts the catalogue process too. p.mu is held.
func (p *sessionPool) checkProcesses() error {
	if p.b.spec.Transport != TransportStdio || len(p.conns)+1 < p.b.opts.MaxProcesses {
		return nil
	}
	return fmt.Errorf("%w: upstream %q already runs %d processes, the most allowed",
		errTooManyProcesses, p.b.spec.Name, p.b.opts.MaxProcesses)
}

// open connects c's upstream session; requests waiting for it proceed
// when ready closes. The connection outlives the request that opened it.
func (p *sessionPool) open(ctx context.Context, c *clientConn, capsJSON string) {
	defer close(c.ready)
	if capsJSON == "" {
		capsJSON = p.capabilities(ctx, c.id)
	}
	caps, err := clientCapabilities(capsJSON)
	if err != nil {
		c.err = err
		return
	}
	cs, err := connectWithin(ctx, p.b.connectTimeout(),
		func(ctx context.Context) (*mcp.ClientSession, error) {
			return p.b.connectClient(ctx, caps, c)
		})
	if err != nil {
		c.err = fmt.Errorf("connect to upstream %q: %w", p.b.spec.Name, err)
		return
	}
	c.cs = cs
	go func() {
		cs.Wait()
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
	}()
	// Log messages pass whatever their level: the registry drops those
	// below the client's own level.
	if init := cs.InitializeResult(); init != nil && init.Capabilities != nil &&
		init.Capabilities.Logging != nil {
		lctx, cancel := context.WithTimeout(ctx, p.b.connectTimeout())
		defer cancel()
		err := cs.SetLoggingLevel(lctx, &mcp.SetLoggingLevelParams{Level: "debug"})
		if err != nil {
			p.b.log.Debug("upstream refused logging/setLevel", "err", err)
		}
	}
}

// capabilities reads a client session's capabilities from the session
// service; a session it cannot read gets none.
func (p *sessionPool) capabilities(ctx context.Context, sessionID string) string {
	if sessionID == "" || p.b.opts.Sessions == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	resp, err := p.b.opts.Sessions.GetSession(ctx, &sessionv1.GetSessionRequest{Id: sessionID})
	if err != nil {
		p.b.log.Warn("client capabilities unknown, advertising none",
			"session", shortID(sessionID), "err", err)
		return ""
	}
	return resp.GetSession().GetClientCapabilitiesJson()
}

func (p *sessionPool) release(c *clientConn) {
	c.mu.Lock()
	c.active--
	c.lastUsed = time.Now()
	c.mu.Unlock()
	if c.id == "" {
		p.discard(c)
	}
}

// discard forgets c and closes it once no request uses it.
func (p *sessionPool) discard(c *clientConn) {
	p.mu.Lock()
	if p.conns[c.id] == c {
		delete(p.conns, c.id)
	}
	p.mu.Unlock()
	go c.close()
}

// reap closes the sessions idle for longer than the idle timeout.
func (p *sessionPool) reap(ctx context.Context) {
	idle := p.b.opts.IdleTimeout
	tick := time.NewTicker(max(min(idle/4, 30*time.Second), 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		for id, c := range p.conns {
			if c.idleFor() > idle {
				delete(p.conns, id)
				go c.close()
			}
		}
		p.mu.Unlock()
	}
}

// closeAll ends every upstream session, failing the requests on them.
func (p *sessionPool) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*clientConn{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(c.close)
	}
	wg.Wait()
}

// close ends every session for good.
func (p *sessionPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.closeAll()
}

func (c *clientConn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// idleFor is how long c has had no request; zero while one runs or it
// is still opening.
func (c *clientConn) idleFor() time.Duration {
	select {
	case <-c.ready:
	default:
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active > 0 {
		return 0
	}
	return time.Since(c.lastUsed)
}

// close ends the upstream session once it is open; for stdio this stops
// the process.
func (c *clientConn) close() {
	<-c.ready
	if c.cs != nil {
		c.cs.Close()
	}
}

// clientCapabilities builds the capabilities an upstream session
// advertises from the client's: roots, sampling and elicitation, the
// requests the bridge can relay to the client. Nothing else is passed on.
func clientCapabilities(capsJSON string) (*mcp.ClientCapabilities, error) {
	caps := &mcp.ClientCapabilities{}
	if capsJSON == "" {
		return caps, nil
	}
	var in struct {
		Roots       *mcp.RootCapabilities        `json:"roots"`
		Sampling    *mcp.SamplingCapabilities    `json:"sampling"`
		Elicitation *mcp.ElicitationCapabilities `json:"elicitation"`
	}
	if err := json.Unmarshal([]byte(capsJSON), &in); err != nil {
		return nil, fmt.Errorf("client capabilities: %w", err)
	}
	caps.RootsV2, caps.Sampling, caps.Elicitation = in.Roots, in.Sampling, in.Elicitation
	return caps, nil
}

// shortID names a session in logs without giving its credential away.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
