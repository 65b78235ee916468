package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DevBin is the development launcher's binary name.
const DevBin = "switchboard-dev"

// SwitchboardBin is the client-side command, whose stdio subcommand
// bridges stdio MCP clients to a gateway.
const SwitchboardBin = "switchboard"

// Binaries lists every program that Build writes.
var Binaries = []string{
	SessionBin, RegistryBin, GatewayBin, ProviderBin, ConformanceProviderBin, DevBin,
	SwitchboardBin,
}

// Packages maps each binary to its package, relative to the repository
// root.
var Packages = map[string]string{
	SessionBin:  "./services/session/cmd/session",
	RegistryBin: "./services/registry/cmd/registry",
	GatewayBin:  "./services/gateway/cmd/gateway",
	ProviderBin: "./pkg/cmd/demo-provider",
	DevBin:      "./pkg/cmd/switchboard-dev",

	SwitchboardBin: "./services/gateway/cmd/switchboard",

	ConformanceProviderBin: "./pkg/cmd/conformance-provider",
}

// Build compiles every binary in Binaries into binDir with `go build`, run in
// the repository root so that the workspace (go.work) applies.
func Build(ctx context.Context, root, binDir string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("create bin dir: %w", err)
	}
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return fmt.Errorf("bin dir: %w", err)
	}
	args := []string{"build", "-o", abs + string(filepath.Separator)}
	for _, bin := range Binaries {
		args = append(args, Packages[bin])
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// FindRoot returns the repository root: the nearest directory at or above
// dir that holds go.work.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find root: no go.work above the working directory")
		}
		dir = parent
	}
}
