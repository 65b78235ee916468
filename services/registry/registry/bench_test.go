package registry

import (
	"fmt"
	"sync/atomic"
	"testing"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// BenchmarkListTools reads a catalogue of 5000 tools from five providers.
func BenchmarkListTools(b *testing.B) {
	f := startRegistry(b)
	for i := range 5 {
		names := make([]string, 1000)
		for j := range names {
			names[j] = fmt.Sprintf("tool%04d", j)
		}
		p := startProvider(b, &testProvider{name: fmt.Sprintf("p%d", i), tools: tools(names...)})
		f.register(b, p, nil, 0)
	}
	for _, size := range []int32{100, 1000} {
		b.Run(fmt.Sprintf("page_size=%d", size), func(b *testing.B) {
			req := &registryv1.ListToolsRequest{PageSize: size}
			for b.Loop() {
				resp, err := f.client.ListTools(b.Context(), req)
				if err != nil || len(resp.GetTools()) != int(size) {
					b.Fatalf("list tools: %d tools, %v", len(resp.GetTools()), err)
				}
			}
		})
	}
	b.Run("all_pages", func(b *testing.B) {
		for b.Loop() {
			if n := len(f.listAll(b)); n != 5000 {
				b.Fatalf("walked %d tools", n)
			}
		}
	})
}

// BenchmarkCallTool routes calls through the registry to a provider.
func BenchmarkCallTool(b *testing.B) {
	f := startRegistry(b)
	p := startProvider(b, &testProvider{name: "p", tools: tools("echo")})
	f.register(b, p, nil, 0)
	req := &registryv1.CallToolRequest{Name: "p__echo", ArgumentsJson: `{"text":"hi"}`}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.call(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.call(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkCallToolStreamed routes streamed calls: each logs a progress
// notification and its response to the session and relays both.
func BenchmarkCallToolStreamed(b *testing.B) {
	f := startRegistry(b)
	p := startProvider(b, &testProvider{name: "p", tools: tools("echo"),
		handle: func(stream providerv1.ProviderService_CallToolServer,
			start *providerv1.CallToolStart) error {
			return sendAll(stream, notify("notifications/progress",
				`{"progressToken":1,"progress":1}`), resultMsg(&providerv1.ToolResult{
				ContentJson: `[{"type":"text","text":"hi"}]`}))
		}})
	f.register(b, p, nil, 0)
	sid := f.newSession(b, allCaps)
	var n atomic.Int64
	call := func() error {
		req := streamedReq("p__echo", sid, fmt.Sprintf("b%d", n.Add(1)))
		stream, err := f.client.CallTool(b.Context(), req)
		if err != nil {
			return err
		}
		msgs, err := relayed(stream)
		if err == nil && len(msgs) != 2 {
			err = fmt.Errorf("relayed %d messages, want 2", len(msgs))
		}
		return err
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
