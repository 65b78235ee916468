// Package session is Switchboard's session service: it owns the state of
// every MCP session, kept in Redis so that any gateway replica can serve
// any session.
//
// Store holds the sessions; Server exposes them as the gRPC
// switchboard.session.v1.SessionService; NewHTTPHandler adds the REST face.
//
//	store := session.NewStore(rdb, "sb", 30*time.Minute)
//	sessionv1.RegisterSessionServiceServer(grpcServer, session.NewServer(store, log))
package session

import (
	"context"
	"log/slog"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// Server implements sessionv1.SessionServiceServer over a Store.
//
// DeleteSession answers NOT_FOUND for an id that does not exist, so that a
// gateway can answer 404 to an MCP client deleting an unknown session;
// deleting twice is therefore harmless but not silent.
type Server struct {
	sessionv1.UnimplementedSessionServiceServer
	store *Store
	log   *slog.Logger
}

// NewServer returns a Server backed by store, logging to log.
func NewServer(store *Store, log *slog.Logger) *Server {
	return &Server{store: store, log: log}
}

// CreateSession implements sessionv1.SessionServiceServer.
func (s *Server) CreateSession(ctx context.Context, req *sessionv1.CreateSessionRequest) (
	*sessionv1.CreateSessionResponse, error,
) {
	sess, err := s.store.Create(ctx, req)
	if err != nil {
		return nil, s.fail(ctx, "CreateSession", "", err)
	}
	s.log.DebugContext(ctx, "session created",
		"session_id", sess.GetId(), "protocol_version", sess.GetProtocolVersion())
	return &sessionv1.CreateSessionResponse{Session: sess}, nil
}

// GetSession implements sessionv1.SessionServiceServer.
func (s *Server) GetSession(ctx context.Context, req *sessionv1.GetSessionRequest) (
	*sessionv1.GetSessionResponse, error,
) {
	sess, err := s.store.Get(ctx, req.GetId())
	if err != nil {
		return nil, s.fail(ctx, "GetSession", req.GetId(), err)
	}
	return &sessionv1.GetSessionResponse{Session: sess}, nil
}

// RenewSession implements sessionv1.SessionServiceServer.
func (s *Server) RenewSession(ctx context.Context, req *sessionv1.RenewSessionRequest) (
	*sessionv1.RenewSessionResponse, error,
) {
	sess, err := s.store.Renew(ctx, req.GetId())
	if err != nil {
		return nil, s.fail(ctx, "RenewSession", req.GetId(), err)
	}
	return &sessionv1.RenewSessionResponse{Session: sess}, nil
}

// UpdateSession implements sessionv1.SessionServiceServer.
func (s *Server) UpdateSession(ctx context.Context, req *sessionv1.UpdateSessionRequest) (
	*sessionv1.UpdateSessionResponse, error,
) {
	sess, err := s.store.Update(ctx, req)
	if err != nil {
		return nil, s.fail(ctx, "UpdateSession", req.GetId(), err)
	}
	return &sessionv1.UpdateSessionResponse{Session: sess}, nil
}

// DeleteSession implements sessionv1.SessionServiceServer.
func (s *Server) DeleteSession(ctx context.Context, req *sessionv1.DeleteSessionRequest) (
	*sessionv1.DeleteSessionResponse, error,
) {
	if err := s.store.Delete(ctx, req.GetId()); err != nil {
		return nil, s.fail(ctx, "DeleteSession", req.GetId(), err)
	}
	s.log.DebugContext(ctx, "session deleted", "session_id", req.GetId())
	return &sessionv1.DeleteSessionResponse{}, nil
}

// fail logs err once, at error level for Redis and internal failures and
// at debug level for the caller's mistakes, and returns its gRPC status.
func (s *Server) fail(ctx context.Context, method, id string, err error) error {
	level := slog.LevelDebug
	if isFailure(err) {
		level = slog.LevelError
	}
	// A malformed id may be anything; keep it out of the logs.
	if CheckID(id) != nil {
		id = ""
	}
	s.log.Log(ctx, level, "session call failed", "method", method, "session_id", id, "err", err)
	return toStatus(err)
}
