package mcperr_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/mcperr"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *mcperr.Error
	}{
		{"code and message", mcperr.New(-32603, "the upstream ended the request")},
		{"with data", &mcperr.Error{Code: -32021, Message: "needs sampling",
			Data: json.RawMessage(`{"requiredCapabilities":{"sampling":{}}}`)}},
		{"application code", mcperr.New(42, "custom")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through a gRPC status, as a provider's error crosses the wire.
			wire := tc.in.Status(codes.InvalidArgument).Err()
			got, ok := mcperr.From(status.Convert(wire).Err())
			if !ok {
				t.Fatalf("From(%v) found no MCP error", wire)
			}
			if got.Code != tc.in.Code || got.Message != tc.in.Message || string(got.Data) != string(tc.in.Data) {
				t.Errorf("got %+v, want %+v", got, tc.in)
			}
			if c := status.Code(wire); c != codes.InvalidArgument {
				t.Errorf("fallback code %v, want InvalidArgument", c)
			}
			// Wrapped in the chain, as Go code returns it.
			if got, ok := mcperr.From(fmt.Errorf("call: %w", tc.in)); !ok || got != tc.in {
				t.Errorf("From(wrapped) = %v, %v", got, ok)
			}
		})
	}
}

func TestFromOthers(t *testing.T) {
	for _, err := range []error{nil, fmt.Errorf("plain"), status.Error(codes.Internal, "bare")} {
		if e, ok := mcperr.From(err); ok {
			t.Errorf("From(%v) = %+v, want none", err, e)
		}
	}
	if st, _ := status.FromError(mcperr.New(-32603, "x")); st.Code() != codes.Internal {
		t.Errorf("an *Error handed to gRPC becomes %v, want Internal", st.Code())
	}
}
