package upstream

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRPCStatus(t *testing.T) {
	tests := []struct {
		code int64
		want codes.Code
	}{
		{jsonrpc.CodeInvalidParams, codes.InvalidArgument},
		{jsonrpc.CodeInvalidRequest, codes.InvalidArgument},
		{codeResourceNotFound, codes.NotFound},
		{jsonrpc.CodeMethodNotFound, codes.Unimplemented},
		{jsonrpc.CodeInternalError, codes.Internal},
		{-32000, codes.Internal},
	}
	for _, tc := range tests {
		err := rpcStatus(&jsonrpc.Error{Code: tc.code, Message: "m"})
		if got := status.Code(err); got != tc.want {
			t.Errorf("code %d: got %v, want %v", tc.code, got, tc.want)
		}
	}
}

func TestSDKLocalErrors(t *testing.T) {
	for code, want := range map[int64]bool{-32003: true, -32004: true, -32005: true,
		-32001: false, -32002: false, jsonrpc.CodeInternalError: false} {
		if got := sdkLocal(&jsonrpc.Error{Code: code, Message: "m"}); got != want {
			t.Errorf("sdkLocal(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestScanLinesDropsLongLines(t *testing.T) {
	in := "short\n" + string(make([]byte, 100)) + "\nlast\nno newline"
	var got []string
	var dropped []int
	err := scanLines(strings.NewReader(in), 10, func(b []byte) error {
		got = append(got, string(b))
		return nil
	}, func(n int) { dropped = append(dropped, n) })
	if err == nil {
		t.Fatal("want io.EOF at the end")
	}
	want := []string{"short\n", "last\n", "no newline\n"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("lines %q, want %q", got, want)
	}
	if len(dropped) != 1 || dropped[0] != 100 {
		t.Errorf("dropped %v, want [100]", dropped)
	}
}
