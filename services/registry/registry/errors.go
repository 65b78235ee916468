package registry

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
)

// Sentinel errors classify every failure the registry reports. Test with
// errors.Is; the gRPC edge turns them into status codes in toStatus.
var (
	// ErrInvalid marks a malformed request or provider catalogue.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound marks an unknown tool or an unknown or lapsed lease.
	ErrNotFound = errors.New("not found")
	// ErrCollision marks a registration whose tool names clash with
	// another live provider's.
	ErrCollision = errors.New("tool name collision")
	// ErrPrecondition marks a request that the state of its target
	// refuses: a tool called without the task it requires, a task for a
	// tool without task support, a finished task cancelled, or the result
	// of a task that still runs.
	ErrPrecondition = errors.New("failed precondition")
	// ErrUnavailable marks a provider that cannot be reached.
	ErrUnavailable = errors.New("provider unavailable")
	// ErrProvider marks a provider that broke the provider protocol or
	// failed a call with an error of its own.
	ErrProvider = errors.New("provider failure")
	// ErrSessions marks a session service that failed or cannot be
	// reached.
	ErrSessions = errors.New("session service failure")
	// ErrHeaderMismatch marks a stateless call whose Mcp-Param headers do
	// not match its arguments (2026-07-28, HeaderMismatch).
	ErrHeaderMismatch = errors.New("header mismatch")
)

// codeHeaderMismatch is HeaderMismatch (2026-07-28), which the gateway
// answers with HTTP 400.
const codeHeaderMismatch = -32020

// kindError carries a client-facing message and the sentinel that
// classifies it, without the sentinel's text leaking into the message.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf returns an error of the given kind whose message is formatted as
// by fmt.Errorf, so %w keeps the cause reachable.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// sessionErr wraps a failed session-service call.
func sessionErr(err error) error {
	return errorf(ErrSessions, "session service: %s", status.Convert(err).Message())
}

// toStatus is the one place where registry errors become gRPC statuses.
// Errors of no known kind are failures of the registry itself: the caller
// gets a bare INTERNAL and the detail goes to the log.
func (s *Server) toStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	// A provider's own JSON-RPC error goes on as it came.
	if e, ok := mcperr.From(err); ok {
		return e.Status(codes.Internal).Err()
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrHeaderMismatch):
		return mcperr.New(codeHeaderMismatch, err.Error()).Status(codes.InvalidArgument).Err()
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrCollision), errors.Is(err, ErrPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrSessions):
		code = codes.Unavailable
	case errors.Is(err, ErrProvider):
		code = codes.Internal
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		s.log.Error("request failed", "method", method, "err", err)
		return status.Error(codes.Internal, "internal error")
	}
	return status.Error(code, err.Error())
}
