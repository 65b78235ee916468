package suite

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"switchboard.dev/pkg/serve"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// The test binary doubles as every program of the suite: linked under a
// program's name and run with fakeEnv set, it serves gRPC health like the
// real program, so that the harness is tested without building the
// services.
const fakeEnv = "SUITE_TEST_FAKE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) != "" {
		os.Exit(runFake(filepath.Base(os.Args[0]), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeBinDir links the test binary under every program's name.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{SessionBin, RegistryBin, GatewayBin, ProviderBin} {
		if err := os.Symlink(exe, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runFake acts as the named program. -fake-exit makes it exit with that
// code before serving; -fake-ignore-term makes it ignore SIGTERM.
func runFake(name string, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "", "")
	httpAddr := fs.String("http-addr", "", "")
	exit := fs.Int("fake-exit", -1, "")
	ignoreTerm := fs.Bool("fake-ignore-term", false, "")
	for _, f := range []string{"redis-url", "redis-namespace", "session-addr",
		"registry-addr", "admin-addr", "name", "prefix", "log-level", "log-format"} {
		fs.String(f, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Fprintf(os.Stderr, "fake %s args: %s\n", name, strings.Join(args, " "))
	if *exit >= 0 {
		return *exit
	}
	sigs := []os.Signal{os.Interrupt}
	if !*ignoreTerm {
		sigs = append(sigs, syscall.SIGTERM)
	} else {
		signal.Ignore(syscall.SIGTERM)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := serve.Run(ctx, log, serve.Options{
		Name:            name,
		GRPCAddr:        *grpcAddr,
		HTTPAddr:        *httpAddr,
		ShutdownTimeout: 2 * time.Second,
		Register: func(s *grpc.Server) {
			if name == RegistryBin {
				registryv1.RegisterRegistryServiceServer(s, fakeRegistry{})
			}
		},
		HTTP: func(context.Context, string) (http.Handler, error) {
			return http.NotFoundHandler(), nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fakeRegistry lists one tool of a provider named "demo" and one of a
// provider named "extra".
type fakeRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
}

func (fakeRegistry) ListTools(context.Context, *registryv1.ListToolsRequest) (
	*registryv1.ListToolsResponse, error) {
	return &registryv1.ListToolsResponse{Tools: []*registryv1.CatalogTool{
		{Tool: &providerv1.Tool{Name: "demo__echo"}, Provider: "demo"},
		{Tool: &providerv1.Tool{Name: "extra__echo"}, Provider: "extra"},
	}}, nil
}
