package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// runnable tells whether a bridge can run the spec at all.
func (s Spec) runnable() error {
	switch s.Transport {
	case TransportHTTP, TransportSSE:
		if s.URL == "" {
			return fmt.Errorf("transport %s needs a url", s.Transport)
		}
	case TransportStdio:
		if s.Command == "" {
			return errors.New("transport stdio needs a command")
		}
	default:
		return fmt.Errorf("unknown transport %q", s.Transport)
	}
	return nil
}

// setState records a change of state and logs it.
func (b *bridge) setState(st State, reason string) {
	b.mu.Lock()
	changed := b.health.State != st || b.health.Reason != reason || b.health.Standby
	if b.health.State != st {
		b.health.Since = time.Now()
	}
	b.health.State, b.health.Reason, b.health.Standby = st, reason, false
	b.mu.Unlock()
	if !changed {
		return
	}
	switch st {
	case StateDown, StateRefused:
		b.log.Warn("upstream state changed", "state", st, "reason", reason)
	default:
		b.log.Info("upstream state changed", "state", st)
	}
}

// setStandby records that another replica owns the upstream.
func (b *bridge) setStandby() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.health.Standby {
		return
	}
	b.health.State, b.health.Standby = StateDown, true
	b.health.Reason = "another registry replica runs this upstream"
	b.health.Since = time.Now()
	b.log.Info("upstream on standby")
}

// fail records a failure that leaves the upstream in state st.
func (b *bridge) fail(st State, what string, err error) {
	reason := b.hideSecrets(what + ": " + err.Error())
	b.mu.Lock()
	b.health.LastError = reason
	b.mu.Unlock()
	b.setState(st, reason)
}

// noteError records a failure that leaves the state as it is.
func (b *bridge) noteError(what string, err error) {
	reason := b.hideSecrets(what + ": " + err.Error())
	b.mu.Lock()
	b.health.LastError = reason
	b.mu.Unlock()
	b.log.Warn("upstream error", "op", what, "err", reason)
}

// hideSecrets removes the upstream URL's query values and password from a
// failure text, which often quotes the URL (HTTP client errors do), before
// it reaches the log or the admin API.
func (b *bridge) hideSecrets(text string) string {
	if b.spec.URL == "" {
		return text
	}
	if safe := redactURL(b.spec.URL); safe != b.spec.URL {
		text = strings.ReplaceAll(text, b.spec.URL, safe)
		if u, err := url.Parse(b.spec.URL); err == nil && u.RawQuery != "" {
			text = strings.ReplaceAll(text, u.RawQuery, "<redacted>")
		}
	}
	return text
}

// markUp records a registered upstream.
func (b *bridge) markUp(init *mcp.InitializeResult, cat *providerv1.DescribeResponse) {
	b.mu.Lock()
	if init != nil {
		b.health.ProtocolVersion = init.ProtocolVersion
		if init.ServerInfo != nil {
			b.health.ServerName = init.ServerInfo.Name
			b.health.ServerVersion = init.ServerInfo.Version
		}
	}
	b.mu.Unlock()
	b.setCounts(cat)
	b.setState(StateUp, "")
}

func (b *bridge) setCounts(cat *providerv1.DescribeResponse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.health.Tools, b.health.Resources = len(cat.GetTools()), len(cat.GetResources())
	b.health.Templates = len(cat.GetResourceTemplates())
	b.health.Prompts = len(cat.GetPrompts())
}

func (b *bridge) healthNow() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health
}

// classify tells whether a failure to reach or initialize an upstream
// leaves it down (it could not be reached or went away) or refused (it
// answered, but not in a way the registry can serve).
func classify(err error) State {
	var rpcErr *jsonrpc.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &rpcErr):
		return StateRefused
	case strings.Contains(err.Error(), "unsupported protocol version"):
		return StateRefused
	case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded), unreachable(err),
		errors.Is(err, mcp.ErrConnectionClosed), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errProcessExited):
		return StateDown
	}
	return StateRefused
}

// unreachable spots network failures that reach here only as text, the
// SDK having formatted the error that carried them.
func unreachable(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "no such host",
		"i/o timeout", "network is unreachable", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
