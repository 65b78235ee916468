package registry

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

type callStream = providerv1.ProviderService_CallToolServer

func TestCallTool(t *testing.T) {
	f := startRegistry(t)
	a := startProvider(t, &testProvider{name: "a", tools: tools("echo")})
	b := startProvider(t, &testProvider{name: "b", tools: tools("echo")})
	picky := startProvider(t, &testProvider{name: "picky", tools: tools("sum"),
		handle: func(callStream, *providerv1.CallToolStart) error {
			return status.Error(codes.InvalidArgument, `argument "x" must be a number`)
		}})
	mute := startProvider(t, &testProvider{name: "mute", tools: tools("quiet"),
		handle: func(callStream, *providerv1.CallToolStart) error { return nil }})
	broken := startProvider(t, &testProvider{name: "broken", tools: tools("boom"),
		handle: func(callStream, *providerv1.CallToolStart) error {
			return status.Error(codes.Internal, "disk on fire")
		}})
	gone := startProvider(t, &testProvider{name: "gone", tools: tools("echo")})
	for _, p := range []*testProvider{a, b, picky, mute, broken, gone} {
		f.register(t, p, nil, 0)
	}
	gone.srv.Stop()

	tests := []struct {
		name      string
		req       *registryv1.CallToolRequest
		want      *providerv1.ToolResult
		code      codes.Code
		fragments []string
	}{
		{
			name: "routes to a",
			req:  &registryv1.CallToolRequest{Name: "a__echo", ArgumentsJson: `{"n":1}`},
			want: &providerv1.ToolResult{ContentJson: `[{"type":"text","text":"a:echo"}]`,
				StructuredContentJson: `{"n":1}`},
		},
		{
			name: "routes to b",
			req:  &registryv1.CallToolRequest{Name: "b__echo"},
			want: &providerv1.ToolResult{ContentJson: `[{"type":"text","text":"b:echo"}]`},
		},
		{name: "unknown tool", req: &registryv1.CallToolRequest{Name: "nope"},
			code: codes.NotFound, fragments: []string{`unknown tool "nope"`}},
		{name: "no name", req: &registryv1.CallToolRequest{},
			code: codes.InvalidArgument, fragments: []string{"name"}},
		{name: "arguments not an object",
			req:  &registryv1.CallToolRequest{Name: "a__echo", ArgumentsJson: `[1]`},
			code: codes.InvalidArgument, fragments: []string{"arguments_json"}},
		{name: "meta not JSON",
			req:  &registryv1.CallToolRequest{Name: "a__echo", MetaJson: `{`},
			code: codes.InvalidArgument, fragments: []string{"meta_json"}},
		{name: "provider refuses the arguments", req: &registryv1.CallToolRequest{Name: "picky__sum"},
			code: codes.InvalidArgument, fragments: []string{`argument "x" must be a number`}},
		{name: "provider sends no result", req: &registryv1.CallToolRequest{Name: "mute__quiet"},
			code: codes.Internal, fragments: []string{`"mute"`, "without a result"}},
		{name: "provider fails", req: &registryv1.CallToolRequest{Name: "broken__boom"},
			code: codes.Internal, fragments: []string{`"broken"`, "disk on fire"}},
		{name: "provider down", req: &registryv1.CallToolRequest{Name: "gone__echo"},
			code: codes.Unavailable, fragments: []string{`"gone"`, gone.addr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.call(t.Context(), tc.req)
			if tc.code != codes.OK {
				wantCode(t, err, tc.code, tc.fragments...)
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// blockingProvider returns a provider whose calls wait for cancellation
// and report that they saw it.
func blockingProvider(t *testing.T) (p *testProvider, started, cancelled chan struct{}) {
	started, cancelled = make(chan struct{}, 1), make(chan struct{}, 1)
	p = startProvider(t, &testProvider{name: "slow", tools: tools("wait"),
		handle: func(stream callStream, _ *providerv1.CallToolStart) error {
			started <- struct{}{}
			<-stream.Context().Done()
			cancelled <- struct{}{}
			return stream.Context().Err()
		}})
	return p, started, cancelled
}

// await fails the test unless ch delivers within a generous bound.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestCallToolCancel(t *testing.T) {
	f := startRegistry(t)
	p, started, cancelled := blockingProvider(t)
	f.register(t, p, nil, 0)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.call(ctx, &registryv1.CallToolRequest{Name: "slow__wait"})
		errc <- err
	}()
	await(t, started, "the provider to start the call")
	cancel()
	await(t, cancelled, "the provider to see the cancellation")
	wantCode(t, <-errc, codes.Canceled)
}

func TestCallToolTimeout(t *testing.T) {
	f := startRegistry(t, func(c *Config) { c.CallTimeout = 100 * time.Millisecond })
	p, started, cancelled := blockingProvider(t)
	f.register(t, p, nil, 0)

	_, err := f.call(t.Context(), &registryv1.CallToolRequest{Name: "slow__wait"})
	wantCode(t, err, codes.DeadlineExceeded, `"slow__wait"`, "100ms")
	await(t, started, "the provider to start the call")
	await(t, cancelled, "the provider to see the cancellation")
}
