package session_test

import (
	"testing"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// BenchmarkRenewSession measures the call gateways make once per MCP
// request, over real gRPC and Redis on loopback.
func BenchmarkRenewSession(b *testing.B) {
	e := start(b, nil)
	req := &sessionv1.RenewSessionRequest{Id: e.create(b).GetId()}

	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.client.RenewSession(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.client.RenewSession(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAppendEvent measures what the registry does for every message
// of a streamed tool call: one append, with its trimming and publishing.
func BenchmarkAppendEvent(b *testing.B) {
	e := start(b, nil)
	req := &sessionv1.AppendEventRequest{
		SessionId: e.create(b).GetId(), Stream: "k3x9q2", MessageJson: note(1),
	}

	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.client.AppendEvent(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.client.AppendEvent(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAppendWatch measures the latency from an append to its
// delivery on an open watch: one op is an append and the receipt of its
// event.
func BenchmarkAppendWatch(b *testing.B) {
	e := start(b, nil)
	sid := e.create(b).GetId()
	stream, err := e.client.WatchEvents(b.Context(),
		&sessionv1.WatchEventsRequest{SessionId: sid, Stream: "_"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		b.Fatal(err)
	}
	req := &sessionv1.AppendEventRequest{SessionId: sid, Stream: "_", MessageJson: note(1)}
	for b.Loop() {
		resp, err := e.client.AppendEvent(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if ev.GetEvent().GetId() != resp.GetEventId() {
			b.Fatalf("delivered %s, appended %s", ev.GetEvent().GetId(), resp.GetEventId())
		}
	}
}
