package upstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
)

// codeResourceNotFound is the JSON-RPC code MCP gives an unknown
// resource (2025-11-25, Resources, Error Handling).
const codeResourceNotFound = -32002

// status is the one place where failures of upstream requests become
// gRPC statuses. An upstream's JSON-RPC error passes verbatim (code,
// message and data) as an MCP error, for the gateway to hand to the
// client; an upstream that could not be reached is Unavailable. what
// names the request in messages.
func (b *bridge) status(ctx context.Context, what string, err error) error {
	var rpcErr *jsonrpc.Error
	switch {
	case errors.As(err, &rpcErr) && !sdkLocal(rpcErr):
		return rpcStatus(rpcErr)
	case errors.Is(err, errTooManyProcesses):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, errNotServing):
		return status.Errorf(codes.Unavailable, "upstream %q is not connected", b.spec.Name)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "upstream %q: %s got no answer within %s",
			b.spec.Name, what, b.callTimeout())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, errNoResponse):
		// The outcome is unknown, so this is no tool failure (isError):
		// the client gets a JSON-RPC error and may retry or look.
		b.log.Warn("upstream request lost", "request", what, "err", b.hideSecrets(err.Error()))
		return mcperr.New(jsonrpc.CodeInternalError, fmt.Sprintf(
			"upstream %q: %s: %v; whether it took effect is unknown",
			b.spec.Name, what, errNoResponse)).Status(codes.Unavailable).Err()
	}
	msg := b.hideSecrets(err.Error())
	b.log.Warn("upstream request failed", "request", what, "err", msg)
	return status.Errorf(codes.Unavailable, "upstream %q: %s failed: %s", b.spec.Name, what, msg)
}

// sdkLocal tells the SDK's own failures, which it words as JSON-RPC errors
// with codes of its own, from errors the upstream sent: the client is
// closing (-32003), the connection is closing (-32004), or the transport
// refused the request (-32005), as when the upstream is gone. Those mean
// the upstream could not be reached, not that it answered.
func sdkLocal(e *jsonrpc.Error) bool {
	switch e.Code {
	case -32003, -32004, -32005:
		return true
	}
	return false
}

// rpcStatus carries an upstream's JSON-RPC error verbatim. The status
// code is only what readers that ignore MCP errors see; it is the one a
// gRPC provider would use for the same failure.
func rpcStatus(e *jsonrpc.Error) error {
	fallback := codes.Internal
	switch e.Code {
	case jsonrpc.CodeInvalidParams, jsonrpc.CodeInvalidRequest:
		fallback = codes.InvalidArgument
	case codeResourceNotFound:
		fallback = codes.NotFound
	case jsonrpc.CodeMethodNotFound:
		fallback = codes.Unimplemented
	}
	out := &mcperr.Error{Code: int(e.Code), Message: e.Message}
	if len(e.Data) > 0 {
		out.Data = e.Data
	}
	return out.Status(fallback).Err()
}
