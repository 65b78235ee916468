package registry

import (
	"context"
	"time"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// broadcastTimeout bounds one Broadcast to the session service.
const broadcastTimeout = 5 * time.Second

// listChanged maps each kind to the notification that tells clients its
// list changed (MCP 2025-11-25: tools, resources and prompts each have
// one; templates are listed with resources).
var listChanged = []struct {
	kinds  Kinds
	method string
}{
	{KindTools, "notifications/tools/list_changed"},
	{KindResources | KindTemplates, "notifications/resources/list_changed"},
	{KindPrompts, "notifications/prompts/list_changed"},
}

// changed reports a change this replica made to the catalogue: it logs
// the providers whose leases lapsed and tells every session with an open
// standalone stream which lists changed. The broadcasts run in the
// background, so that a slow session service never holds a registration
// up; their failures are logged only.
func (s *Server) changed(c Changes) {
	s.logLapsed(c.Lapsed)
	for _, lc := range listChanged {
		if c.Kinds&lc.kinds == 0 {
			continue
		}
		msg, err := rpcNotification(lc.method, "")
		if err != nil {
			continue
		}
		s.goBackground(func() {
			ctx, cancel := context.WithTimeout(context.Background(), broadcastTimeout)
			defer cancel()
			_, err := s.sessions.Broadcast(ctx, &sessionv1.BroadcastRequest{MessageJson: msg})
			if err != nil {
				s.log.Warn("broadcast failed", "method", lc.method, "err", err)
			}
		})
	}
}

func (s *Server) logLapsed(names []string) {
	for _, name := range names {
		s.log.Info("provider down", "provider", name, "reason", "lease lapsed")
	}
}

// NotifyResourceUpdated tells the sessions subscribed to a URI that the
// resource changed, on behalf of a provider that holds a live lease.
func (s *Server) NotifyResourceUpdated(ctx context.Context,
	req *registryv1.NotifyResourceUpdatedRequest) (
	*registryv1.NotifyResourceUpdatedResponse, error) {
	if req.GetUri() == "" {
		return nil, s.toStatus("NotifyResourceUpdated", errorf(ErrInvalid, "uri: required"))
	}
	if err := s.store.CheckLease(ctx, req.GetName(), req.GetLeaseId()); err != nil {
		return nil, s.toStatus("NotifyResourceUpdated", err)
	}
	resp, err := s.sessions.PublishResourceUpdated(ctx,
		&sessionv1.PublishResourceUpdatedRequest{Uri: req.GetUri()})
	if err != nil {
		return nil, s.toStatus("NotifyResourceUpdated", sessionErr(err))
	}
	s.log.Debug("resource updated", "provider", req.GetName(), "uri", req.GetUri(),
		"sessions", resp.GetSessions())
	return &registryv1.NotifyResourceUpdatedResponse{}, nil
}
