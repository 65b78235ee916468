package suite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func fakeConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		BinDir:       fakeBinDir(t),
		Dir:          t.TempDir(),
		RedisURL:     "redis://127.0.0.1:1/0", // the fakes never dial it
		ExtraEnv:     []string{fakeEnv + "=1"},
		ReadyTimeout: 20 * time.Second,
		StopTimeout:  5 * time.Second,
	}
}

func TestStartWiresProcesses(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.Gateways = 2
	cfg.Namespace = "ns1"
	cfg.LogLevel = "debug"
	empty := ""
	cfg.Providers = []Provider{{Name: "demo", Prefix: &empty}}
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })

	want := map[string][]string{
		"session": {"-grpc-addr=" + s.Session.GRPCAddr, "-http-addr=" + s.Session.HTTPAddr,
			"-log-level=debug", "-redis-url=" + cfg.RedisURL, "-redis-namespace=ns1"},
		"registry": {"-grpc-addr=" + s.Registry.GRPCAddr, "-http-addr=" + s.Registry.HTTPAddr,
			"-log-level=debug", "-redis-url=" + cfg.RedisURL, "-redis-namespace=ns1",
			"-session-addr=" + s.Session.GRPCAddr, "-admin-addr=" + s.Registry.AdminAddr},
		"gateway-2": {"-grpc-addr=" + s.Gateways[1].GRPCAddr,
			"-http-addr=" + s.Gateways[1].HTTPAddr, "-log-level=debug",
			"-session-addr=" + s.Session.GRPCAddr, "-registry-addr=" + s.Registry.GRPCAddr},
		"provider-demo": {"-grpc-addr=" + s.Providers[0].GRPCAddr, "-log-level=debug",
			"-registry-addr=" + s.Registry.GRPCAddr, "-name=demo", "-prefix="},
	}
	for _, p := range s.Processes() {
		if w, ok := want[p.Name]; ok {
			if diff := cmp.Diff(w, p.Args()); diff != "" {
				t.Errorf("%s args (-want +got):\n%s", p.Name, diff)
			}
		}
		if !p.Running() {
			t.Errorf("%s is not running", p.Name)
		}
	}
	if got := s.MCPURLs(); len(got) != 2 || got[0] == got[1] {
		t.Errorf("MCPURLs() = %q, want two distinct URLs", got)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop() = %v, want nil", err)
	}
	for _, p := range s.Processes() {
		if p.Running() {
			t.Errorf("%s still running after Stop", p.Name)
		}
	}
}

func TestDistinctAddresses(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.Gateways = 3
	s, err := newSuite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.plan(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, p := range s.Processes() {
		for _, a := range []string{p.GRPCAddr, p.HTTPAddr} {
			if a == "" {
				continue
			}
			if other, dup := seen[a]; dup {
				t.Errorf("%s and %s share %s", other, p.Name, a)
			}
			seen[a] = p.Name
		}
	}
}

func TestFixedPorts(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.Ports = DefaultPorts()
	cfg.Providers = []Provider{{Name: "demo", Port: DefaultProviderPort}}
	s, err := newSuite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.plan(); err != nil {
		t.Fatal(err)
	}
	got := []string{s.Session.GRPCAddr, s.Session.HTTPAddr, s.Registry.GRPCAddr,
		s.Registry.HTTPAddr, s.Gateways[0].HTTPAddr, s.Gateways[0].GRPCAddr,
		s.Providers[0].GRPCAddr}
	want := []string{"127.0.0.1:7100", "127.0.0.1:7180", "127.0.0.1:7200",
		"127.0.0.1:7280", "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:7300"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"http://127.0.0.1:8080/mcp"}, s.MCPURLs()); diff != "" {
		t.Errorf("MCPURLs (-want +got):\n%s", diff)
	}
}

// fakeProcess returns a process running the fake gateway with extra args.
func fakeProcess(t *testing.T, args ...string) *Process {
	t.Helper()
	cfg := fakeConfig(t)
	s, err := newSuite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	p := s.process("gateway-1", GatewayBin, loopback(ports[0]), loopback(ports[1]))
	p.args = append(p.args, args...)
	t.Cleanup(func() { p.Kill() })
	return p
}

func TestProcessKillAndStartAgain(t *testing.T) {
	p := fakeProcess(t)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := p.Pid()
	if err := p.Start(t.Context()); err == nil {
		t.Error("second Start of a running process succeeded")
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("start again on the same address: %v", err)
	}
	if p.Pid() == first {
		t.Errorf("pid unchanged after restart: %d", first)
	}
	if err := p.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop() = %v, want nil", err)
	}
	// Every run appends to one log.
	if n := strings.Count(p.Tail(100), "fake gateway args"); n != 3 {
		t.Errorf("log holds %d runs, want 3:\n%s", n, p.Tail(100))
	}
}

func TestProcessStartFailures(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"exits", []string{"-fake-exit=3"}, []string{"exited during start-up", "exit status 3",
			"fake gateway args"}},
		{"missing binary", nil, []string{"start:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeProcess(t, tt.args...)
			if tt.args == nil {
				p.bin = filepath.Join(t.TempDir(), "absent")
			}
			err := p.Start(t.Context())
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestProcessStopKillsStubbornProgram(t *testing.T) {
	p := fakeProcess(t, "-fake-ignore-term")
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := p.Stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop() = %v, want an error saying it was killed", err)
	}
	if p.Running() {
		t.Error("running after Stop")
	}
}

func TestWaitReportsUnexpectedExit(t *testing.T) {
	s, err := Start(t.Context(), fakeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })

	// A kill on purpose is not reported.
	s.Gateways[0].Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("Wait after Kill = %v, want nil", err)
	}

	// Another process's crash is.
	pid := s.Registry.Pid()
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	proc.Kill()
	err = s.Wait(t.Context())
	if err == nil || !strings.Contains(err.Error(), "registry exited unexpectedly") {
		t.Errorf("Wait() = %v, want the registry's exit", err)
	}
	if err := s.Stop(); err == nil || !strings.Contains(err.Error(), "had exited") {
		t.Errorf("Stop() = %v, want the registry's earlier exit", err)
	}
}

func TestPrefixWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole lines", []string{"a\nb\n"}, "p | a\np | b\n"},
		{"split line", []string{"ab", "c\nd", "\n"}, "p | abc\np | d\n"},
		{"partial kept", []string{"x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &prefixWriter{w: &buf, prefix: "p | "}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("3\n4", tailFile(path, 2)); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	if got := tailFile(filepath.Join(t.TempDir(), "absent"), 2); !strings.Contains(got, "unreadable") {
		t.Errorf("tail of a missing file = %q", got)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ports)
	if len(slices.Compact(ports)) != 20 {
		t.Errorf("FreePorts returned duplicates: %v", ports)
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FindRoot(deep)
	if err != nil || got != root {
		t.Errorf("FindRoot() = %q, %v, want %q", got, err, root)
	}
}

func TestProviderBinary(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.Providers = []Provider{{Name: "demo"}, {Name: "conf", Bin: ConformanceProviderBin}}
	s, err := newSuite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.plan(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Providers {
		got = append(got, p.Name+" "+filepath.Base(p.bin))
	}
	want := []string{"provider-demo demo-provider", "provider-conf conformance-provider"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
}
