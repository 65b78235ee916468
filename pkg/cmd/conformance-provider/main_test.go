package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"switchboard.dev/pkg/provider/command"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// TestRun runs the conformance provider with its defaults against a test
// registry, calls a tool at the address it registered and stops it.
func TestRun(t *testing.T) {
	reg := providertest.NewRegistry(t)
	noEnv := func(string) (string, bool) { return "", false }
	c, err := command.Parse("conformance-provider", defaults,
		[]string{"-grpc-addr=127.0.0.1:0", "-registry-addr=" + reg.Addr}, noEnv, io.Discard)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, c, io.Discard) }()

	rec := reg.Await(t, "conformance", func(r providertest.Record) bool { return r.Live })
	if rec.Prefix == nil || *rec.Prefix != "" || len(rec.Tools) != 35 || len(rec.Resources) != 3 ||
		len(rec.ResourceTemplates) != 1 || len(rec.Prompts) != 5 {
		t.Errorf("registered prefix %v with %d tools, %d resources, %d templates, %d prompts; "+
			"want empty, 35, 3, 1, 5", rec.Prefix, len(rec.Tools), len(rec.Resources),
			len(rec.ResourceTemplates), len(rec.Prompts))
	}
	conn, err := grpc.NewClient(rec.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	call, err := providertest.RunCall(t.Context(), providerv1.NewProviderServiceClient(conn),
		&providerv1.CallToolStart{Name: "test_simple_text"}, nil)
	if err != nil || !strings.Contains(call.Result.GetContentJson(), "simple text response") {
		t.Errorf("test_simple_text = %v, %v", call, err)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if rec, _ := reg.Lookup("conformance"); rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after run live=%v deregistrations=%d, want false, 1", rec.Live, rec.Deregistrations)
	}
}
