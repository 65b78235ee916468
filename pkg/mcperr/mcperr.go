// Package mcperr carries an MCP JSON-RPC error through gRPC, so that a
// provider (or an upstream MCP server behind the registry) can end a
// request with a protocol error of its choosing, and the registry can
// refuse a request with an MCP-defined code, and the gateway hands the
// client exactly that code, message and data.
//
// The error travels as a gRPC status whose details hold a
// google.rpc.ErrorInfo with reason "MCP_ERROR"; its metadata carries the
// code and, when present, the data as JSON text. The status code is only
// a fallback for readers that do not know this package.
package mcperr

import (
	"encoding/json"
	"errors"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reason and Domain mark the ErrorInfo of an MCP error.
const (
	Reason = "MCP_ERROR"
	Domain = "switchboard.dev"
)

// Error is a JSON-RPC error object.
type Error struct {
	Code    int
	Message string
	// Data is the error's data member as JSON text, or nil.
	Data json.RawMessage
}

func (e *Error) Error() string { return e.Message }

// New returns an MCP error with the given code and message.
func New(code int, message string) *Error { return &Error{Code: code, Message: message} }

// Status encodes e as a gRPC status. fallback is the status code readers
// that ignore the details see.
func (e *Error) Status(fallback codes.Code) *status.Status {
	md := map[string]string{"code": strconv.Itoa(e.Code)}
	if len(e.Data) > 0 {
		md["data"] = string(e.Data)
	}
	st := status.New(fallback, e.Message)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: Reason, Domain: Domain, Metadata: md}); err == nil {
		return d
	}
	return st
}

// GRPCStatus lets status.FromError and the gRPC server encode an *Error
// returned by a handler; the fallback code is INTERNAL.
func (e *Error) GRPCStatus() *status.Status { return e.Status(codes.Internal) }

// From decodes the MCP error an error carries: an *Error in its chain, or
// a gRPC status made by Status.
func From(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e, true
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetReason() != Reason || info.GetDomain() != Domain {
			continue
		}
		code, err := strconv.Atoi(info.GetMetadata()["code"])
		if err != nil {
			return nil, false
		}
		e := &Error{Code: code, Message: st.Message()}
		if data := info.GetMetadata()["data"]; data != "" && json.Valid([]byte(data)) {
			e.Data = json.RawMessage(data)
		}
		return e, true
	}
	return nil, false
}
