// Package session is Switchboard's session service: it owns the state of
// every MCP session, kept in Redis so that any gateway replica can serve
// any session.
//
// Store holds the sessions, their event logs and their subscriptions;
// Server exposes them as the gRPC switchboard.session.v1.SessionService;
// NewHTTPHandler adds the REST face.
//
//	store := session.NewStore(rdb, "sb", 30*time.Minute, session.EventLog{})
//	srv := session.NewServer(store, log, nil)
//	defer srv.Close()
//	grpcServer := grpc.NewServer(session.GRPCServerOptions()...)
//	sessionv1.RegisterSessionServiceServer(grpcServer, srv)
package session

import (
	"context"
	"log/slog"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

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
	opts  Options
	hub   *hub
}

// Options tunes a Server's watches. Zero fields mean the defaults.
type Options struct {
	// WatchBuffer is how many live events a watch queues for a slow
	// client; past that it drops them and reads them from the log again.
	// Default 256.
	WatchBuffer int
	// WatchCheck is how often an open watch reads the log again, which
	// ends it when its session expired and delivers anything the live
	// channel lost. Default 1m.
	WatchCheck time.Duration
	// WatchStartTimeout bounds the wait for Redis to confirm a new watch's
	// subscription. Default 10s.
	WatchStartTimeout time.Duration
}

// NewServer returns a Server backed by store, logging to log. Its first
// watch opens a Redis pub/sub connection, which Close releases.
func NewServer(store *Store, log *slog.Logger, opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 256
	}
	if o.WatchCheck <= 0 {
		o.WatchCheck = time.Minute
	}
	if o.WatchStartTimeout <= 0 {
		o.WatchStartTimeout = 10 * time.Second
	}
	return &Server{store: store, log: log, opts: o,
		hub: newHub(store.rdb, store.broadcastChannel(), log)}
}

// Close ends every open watch with UNAVAILABLE and refuses new ones, so
// that callers move to another instance; the other RPCs keep working. It
// belongs in serve.Options.OnShutdown, and is safe to call again.
func (s *Server) Close() { s.hub.close() }

// GRPCServerOptions returns the gRPC server options the service needs:
// room for one long-lived stream per watched session stream, and client
// keepalive pings often enough to keep idle streams open through
// middleboxes.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
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

// AppendEvent implements sessionv1.SessionServiceServer.
func (s *Server) AppendEvent(ctx context.Context, req *sessionv1.AppendEventRequest) (
	*sessionv1.AppendEventResponse, error,
) {
	id, err := s.store.Append(ctx, req.GetSessionId(), req.GetStream(),
		req.GetMessageJson(), req.GetFinal())
	if err != nil {
		return nil, s.fail(ctx, "AppendEvent", req.GetSessionId(), err)
	}
	return &sessionv1.AppendEventResponse{EventId: id}, nil
}

// WatchEvents implements sessionv1.SessionServiceServer. The response
// headers go out once the watch is live: an event appended after that is
// delivered even when after_event_id is empty.
func (s *Server) WatchEvents(req *sessionv1.WatchEventsRequest,
	ss grpc.ServerStreamingServer[sessionv1.WatchEventsResponse],
) error {
	ctx := ss.Context()
	x, err := s.newWatch(req, ss)
	if err != nil {
		return s.fail(ctx, "WatchEvents", req.GetSessionId(), err)
	}
	defer s.hub.remove(x.w)
	if err := s.hub.add(ctx, x.w, s.opts.WatchStartTimeout); err != nil {
		return s.fail(ctx, "WatchEvents", req.GetSessionId(), err)
	}
	if err := x.run(ctx); err != nil {
		return s.fail(ctx, "WatchEvents", req.GetSessionId(), err)
	}
	return nil
}

// newWatch checks a WatchEvents request and prepares its watch.
func (s *Server) newWatch(req *sessionv1.WatchEventsRequest,
	ss grpc.ServerStreamingServer[sessionv1.WatchEventsResponse],
) (*watch, error) {
	if err := CheckID(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := CheckStream(req.GetStream()); err != nil {
		return nil, err
	}
	after, resume, err := parseAfter(req.GetStream(), req.GetAfterEventId())
	if err != nil {
		return nil, err
	}
	w := newWatcher(s.store.liveChannel(req.GetSessionId()), req.GetStream(),
		s.opts.WatchBuffer)
	return &watch{srv: s, w: w, sid: req.GetSessionId(), ss: ss, last: after,
		tail: !resume}, nil
}

// Broadcast implements sessionv1.SessionServiceServer.
func (s *Server) Broadcast(ctx context.Context, req *sessionv1.BroadcastRequest) (
	*sessionv1.BroadcastResponse, error,
) {
	if err := s.store.Broadcast(ctx, req.GetMessageJson()); err != nil {
		return nil, s.fail(ctx, "Broadcast", "", err)
	}
	return &sessionv1.BroadcastResponse{}, nil
}

// Subscribe implements sessionv1.SessionServiceServer.
func (s *Server) Subscribe(ctx context.Context, req *sessionv1.SubscribeRequest) (
	*sessionv1.SubscribeResponse, error,
) {
	if err := s.store.Subscribe(ctx, req.GetSessionId(), req.GetUri()); err != nil {
		return nil, s.fail(ctx, "Subscribe", req.GetSessionId(), err)
	}
	return &sessionv1.SubscribeResponse{}, nil
}

// Unsubscribe implements sessionv1.SessionServiceServer.
func (s *Server) Unsubscribe(ctx context.Context, req *sessionv1.UnsubscribeRequest) (
	*sessionv1.UnsubscribeResponse, error,
) {
	if err := s.store.Unsubscribe(ctx, req.GetSessionId(), req.GetUri()); err != nil {
		return nil, s.fail(ctx, "Unsubscribe", req.GetSessionId(), err)
	}
	return &sessionv1.UnsubscribeResponse{}, nil
}

// PublishResourceUpdated implements sessionv1.SessionServiceServer.
func (s *Server) PublishResourceUpdated(ctx context.Context,
	req *sessionv1.PublishResourceUpdatedRequest,
) (*sessionv1.PublishResourceUpdatedResponse, error) {
	n, err := s.store.PublishResourceUpdated(ctx, req.GetUri())
	if err != nil {
		return nil, s.fail(ctx, "PublishResourceUpdated", "", err)
	}
	return &sessionv1.PublishResourceUpdatedResponse{Sessions: int32(min(n, math.MaxInt32))}, nil
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
