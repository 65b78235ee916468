package gateway

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
)

// This file is the one place where internal failures become protocol
// answers: HTTP statuses for the transport, JSON-RPC errors for methods,
// and isError results for tool execution failures.

// httpError is answered with an HTTP status and a JSON-RPC error body
// before any MCP method runs.
type httpError struct {
	status int
	rpc    *rpcError
	// allow is the Allow header for 405 answers.
	allow string
}

func (e *httpError) Error() string { return e.rpc.Message }

func newHTTPError(status, code int, msg string) *httpError {
	return &httpError{status: status, rpc: newRPCError(code, msg)}
}

var (
	errMissingSession = newHTTPError(http.StatusBadRequest, codeTransport,
		"bad request: Mcp-Session-Id header is required")
	errUnknownSession = newHTTPError(http.StatusNotFound, codeSessionNotFound,
		"session not found: it expired or was deleted; initialize a new session")
	errForbiddenOrigin = newHTTPError(http.StatusForbidden, codeTransport,
		"forbidden: Origin is not allowed")
	errForbiddenHost = newHTTPError(http.StatusForbidden, codeTransport,
		"forbidden: Host is not allowed")
	errNotAcceptable = newHTTPError(http.StatusNotAcceptable, codeTransport,
		"not acceptable: Accept must admit application/json or text/event-stream")
	errNotAcceptableSSE = newHTTPError(http.StatusNotAcceptable, codeTransport,
		"not acceptable: Accept must admit text/event-stream")
	errUnsupportedMedia = newHTTPError(http.StatusUnsupportedMediaType, codeTransport,
		"unsupported media type: Content-Type must be application/json")
	errTooLarge = newHTTPError(http.StatusRequestEntityTooLarge, codeTransport,
		"request entity too large")
	errBackend = newHTTPError(http.StatusServiceUnavailable, codeInternalError,
		"service unavailable: session store unreachable, retry later")
	errBadLastEventID = newHTTPError(http.StatusBadRequest, codeTransport,
		"bad request: Last-Event-ID was not issued by this server")
	errShuttingDown = newHTTPError(http.StatusServiceUnavailable, codeInternalError,
		"service unavailable: gateway is shutting down, retry on another replica")
)

func errMethodNotAllowed() *httpError {
	e := newHTTPError(http.StatusMethodNotAllowed, codeTransport,
		"method not allowed: use POST, GET or DELETE")
	e.allow = "GET, POST, DELETE"
	return e
}

func errBadProtocolVersion(v string) *httpError {
	return newHTTPError(http.StatusBadRequest, codeTransport,
		"bad request: unsupported MCP-Protocol-Version "+quote(clip(v))+
			"; supported: "+joinVersions())
}

// fromRPC answers a message-level error (parse error, invalid request)
// found before a method could run: HTTP 400 with the JSON-RPC error.
func fromRPC(e *rpcError) *httpError {
	return &httpError{status: http.StatusBadRequest, rpc: e}
}

// sessionError maps a session-service failure to the transport answer.
func sessionError(err error) *httpError {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument:
		return errUnknownSession
	default:
		return errBackend
	}
}

// watchError maps a refused watch: an id naming another session's or an
// unknown stream is the client's mistake, the rest as for sessions.
func watchError(err error) *httpError {
	if status.Code(err) == codes.InvalidArgument {
		return errBadLastEventID
	}
	return sessionError(err)
}

// methodError maps a failure of a backend call made by an MCP method to a
// JSON-RPC error. Unknown tools and invalid arguments are the client's
// mistakes (-32602); the rest is an internal error the client may retry.
func methodError(err error) *rpcError {
	var re *rpcError
	if errors.As(err, &re) {
		return re
	}
	if e := mcpError(err); e != nil {
		return e
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument, codes.OutOfRange:
		return newRPCError(codeInvalidParams, st.Message())
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return newRPCError(codeInternalError, "backend unavailable: "+st.Message())
	default:
		return newRPCError(codeInternalError, "internal error: "+st.Message())
	}
}

// toolFailure tells whether a tools/call failure is a tool execution error,
// which MCP reports as a result with isError: true so that the model can
// see it, rather than as a protocol error (a JSON-RPC error that the
// provider or the registry chose is always a protocol error). Arguments that fail the tool's
// input schema are execution errors from 2025-11-25 on (Tools, Error
// Handling), so that the model can correct itself; earlier revisions
// listed them as invalid params.
func toolFailure(err error, version string) (string, bool) {
	if errors.Is(err, context.Canceled) || mcpError(err) != nil {
		return "", false
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		if version >= "2025-11-25" {
			return st.Message(), true
		}
	case codes.Unavailable:
		return "tool provider unavailable: " + st.Message(), true
	case codes.DeadlineExceeded:
		return "tool call timed out: " + st.Message(), true
	case codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown,
		codes.FailedPrecondition, codes.PermissionDenied, codes.Unimplemented:
		return "tool call failed: " + st.Message(), true
	}
	return "", false
}

// mcpError returns the JSON-RPC error a backend failure carries as it
// came, such as a provider's own protocol error or the registry's
// HeaderMismatch (2026-07-28), or nil (see package mcperr).
func mcpError(err error) *rpcError {
	e, ok := mcperr.From(err)
	if !ok {
		return nil
	}
	return &rpcError{Code: e.Code, Message: e.Message, Data: e.Data}
}
