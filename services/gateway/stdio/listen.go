package stdio

import (
	"context"
	"net/http"
)

// listen starts the loop that relays the session's standalone GET stream
// (2025-11-25, Transports, Listening for Messages from the Server),
// replacing any loop of an earlier session.
func (b *Bridge) listen(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	if b.stopGET != nil {
		b.stopGET()
	}
	b.stopGET = cancel
	sid := b.sessionID
	b.mu.Unlock()

	b.listeners.Add(1)
	go func() {
		defer b.listeners.Done()
		defer cancel()
		b.log.Debug("stream opening", "session_id", sid)
		c, attempt := cursor{retry: firstRetry}, 0
		for b.standalone(ctx, &c, &attempt) {
		}
	}()
}

// standalone runs the GET stream once, from the cursor on, and then waits
// before the next attempt; it reports whether to try again. attempt
// counts the failures in a row, for the backoff.
func (b *Bridge) standalone(ctx context.Context, c *cursor, attempt *int) bool {
	resp, err := b.send(ctx, http.MethodGet, nil, c.lastID)
	if ctx.Err() != nil {
		if err == nil {
			resp.Body.Close()
		}
		return false
	}
	if err == nil {
		defer resp.Body.Close()
	}
	switch {
	case err != nil:
		b.log.Debug("stream failed", "err", err)
		*attempt++
	case resp.StatusCode == http.StatusMethodNotAllowed:
		b.log.Info("gateway offers no GET stream")
		return false
	case resp.StatusCode == http.StatusNotFound:
		b.log.Warn("stream closed", "reason", "session not found")
		return false
	case resp.StatusCode == http.StatusBadRequest && c.lastID != "":
		c.lastID = "" // the gateway no longer knows the id: start afresh
	case resp.StatusCode != http.StatusOK || !isEventStream(resp):
		b.log.Warn("stream refused", "status", resp.StatusCode)
		*attempt++
	default:
		*attempt = 0
		b.log.Debug("stream connected", "last_event_id", c.lastID)
		_, err := b.events(resp.Body, c, false)
		b.log.Debug("stream ended", "err", err)
	}
	return sleep(ctx, backoff(c.retry, *attempt))
}
