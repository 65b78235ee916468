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
