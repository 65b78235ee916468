package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// TestGatewayRestartKeepsSession kills the only gateway in the middle of a
// session, as a crash would, starts it again on the same address and
// carries on with the same session: the gateway keeps no session state.
func TestGatewayRestartKeepsSession(t *testing.T) {
	s := startSuite(t, 1)
	urls := s.MCPURLs()
	sp := newSpreader(t, urls)
	cs := connectGo(t, urls[0], sp)
	sessionID := cs.ID()
	callTools(t, cs, demoCalls[:1])

	g := s.Gateways[0]
	g.Kill()
	before := len(sp.sent())
	if err := g.Start(t.Context()); err != nil {
		t.Fatalf("start the gateway again: %v", err)
	}

	callTools(t, cs, demoCalls)
	if got := cs.ID(); got != sessionID {
		t.Errorf("session id changed from %s to %s", sessionID, got)
	}
	// Every call after the restart went out with the old session id.
	posts := 0
	for _, r := range sp.sent()[before:] {
		if r.Method != http.MethodPost {
			continue
		}
		posts++
		if r.SessionID != sessionID || r.Status/100 != 2 {
			t.Errorf("after restart: %+v, want session %s and status 2xx", r, sessionID)
		}
	}
	if posts < len(demoCalls) {
		t.Errorf("after restart: %d POSTs, want at least %d", posts, len(demoCalls))
	}
}

// TestToolCallSurvivesGatewayKill kills the replica that streams a tool
// call's answer while the call runs. The client resumes the stream with
// Last-Event-ID on whichever replica it reaches next and still gets the
// result, since the call runs on, detached from the dead replica.
func TestToolCallSurvivesGatewayKill(t *testing.T) {
	s := startSuite(t, 2)
	urls := s.MCPURLs()
	sp := newSpreader(t, urls)
	cs := connectGo(t, urls[0], sp)
	before := len(sp.sent())

	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{
			Name: "demo__sleep", Arguments: map[string]any{"ms": 2000}})
		done <- outcome{res, err}
	}()

	g := streamingGateway(t, s.Gateways, sp, before)
	g.Kill()
	if err := g.Start(t.Context()); err != nil {
		t.Fatalf("start %s again: %v", g.Name, err)
	}

	out := <-done
	if out.err != nil {
		t.Fatalf("call across the kill: %v", out.err)
	}
	diff := cmp.Diff([]string{"slept 2000 ms"}, texts(out.res.Content))
	if diff != "" || out.res.IsError {
		t.Errorf("result IsError=%v, text (-want +got):\n%s", out.res.IsError, diff)
	}
	resumed := false
	for _, r := range sp.sent()[before:] {
		if r.Method == http.MethodGet && r.LastEventID != "" && r.Status == http.StatusOK {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("the client never resumed a stream with Last-Event-ID; requests: %+v",
			sp.sent()[before:])
	}
}

// streamingGateway waits for the tools/call POST sent after request number
// `after` to be answered with a stream, and returns the replica serving it.
func streamingGateway(t *testing.T, gateways []*suite.Process, sp *spreader,
	after int) *suite.Process {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range sp.sent()[after:] {
			if r.Method != http.MethodPost || r.Status != http.StatusOK {
				continue
			}
			for _, g := range gateways {
				if g.HTTPAddr == r.Host {
					return g
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no replica answered the tools/call; requests: %+v", sp.sent()[after:])
	return nil
}
