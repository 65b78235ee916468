package session

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors returned by Store and Server; toStatus maps them to gRPC codes.
var (
	// ErrNotFound means the session does not exist: it was never created,
	// it expired, or it was deleted.
	ErrNotFound = errors.New("session not found")
	// ErrInvalidID means a session id is empty, longer than MaxIDLen, or
	// holds a character outside visible ASCII (0x21 to 0x7E).
	ErrInvalidID = errors.New("invalid session id")
	// ErrInvalidArgument means a request field other than the id is
	// malformed, such as client_info_json that is not a JSON object.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrCorrupt means a stored session could not be decoded.
	ErrCorrupt = errors.New("corrupt session record")
	// ErrReplaced ends a watch of a standalone stream when a newer watch of
	// the same stream starts, on any instance.
	ErrReplaced = errors.New("replaced by a newer stream")
	// ErrShuttingDown ends watches when the service stops; the caller can
	// watch again on another instance.
	ErrShuttingDown = errors.New("session service shutting down")
)

// toStatus is the one place that turns this package's errors into gRPC
// status errors. Anything it does not recognise is a Redis failure, which
// a client may retry: UNAVAILABLE.
func toStatus(err error) error {
	var code codes.Code
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrInvalidID), errors.Is(err, ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, ErrCorrupt):
		code = codes.Internal
	case errors.Is(err, ErrReplaced):
		code = codes.Aborted
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}

// isFailure reports whether err is a fault of the service or of Redis,
// rather than of the caller, and so deserves a log line.
func isFailure(err error) bool {
	if errors.Is(err, ErrShuttingDown) {
		return false
	}
	switch status.Code(toStatus(err)) {
	case codes.Unavailable, codes.Internal:
		return true
	}
	return false
}
