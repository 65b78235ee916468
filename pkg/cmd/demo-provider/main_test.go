package main

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/command"
	"switchboard.dev/pkg/provider/demo"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// TestRun runs the demo provider with its defaults against a test
// registry, calls a tool at the address it registered and stops it.
func TestRun(t *testing.T) {
	reg := providertest.NewRegistry(t)
	noEnv := func(string) (string, bool) { return "", false }
	c, err := command.Parse("demo-provider", defaults,
		[]string{"-grpc-addr=127.0.0.1:0", "-registry-addr=" + reg.Addr}, noEnv, io.Discard)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, c, io.Discard) }()

	rec := reg.Await(t, "demo", func(r providertest.Record) bool { return r.Live })
	if want := demoTools(); rec.Prefix != nil || rec.LeaseTTL != 15*time.Second ||
		len(rec.Tools) != want {
		t.Errorf("registered prefix %v ttl %v with %d tools, want unset, 15s, %d",
			rec.Prefix, rec.LeaseTTL, len(rec.Tools), want)
	}
	conn, err := grpc.NewClient(rec.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := callAdd(t, providerv1.NewProviderServiceClient(conn)); err != nil {
		t.Errorf("add: %v", err)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if rec, _ := reg.Lookup("demo"); rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after run live=%v deregistrations=%d, want false, 1", rec.Live, rec.Deregistrations)
	}
}

// demoTools counts the demo catalogue's tools, so that the test follows
// the catalogue as it grows.
func demoTools() int {
	p := provider.New("demo", nil)
	demo.AddTools(p)
	return len(p.Tools())
}

func callAdd(t *testing.T, c providerv1.ProviderServiceClient) error {
	stream, err := c.CallTool(t.Context())
	if err != nil {
		return err
	}
	err = stream.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "add", ArgumentsJson: `{"a":-9223372036854775808,"b":1}`},
	}})
	if err != nil {
		return err
	}
	resp, err := stream.Recv()
	if err != nil {
		return err
	}
	if got := resp.GetResult().GetStructuredContentJson(); got != `{"sum":-9223372036854775807}` {
		t.Errorf("structured content = %s", got)
	}
	return nil
}
