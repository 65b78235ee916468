package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"switchboard.dev/pkg/suite"
)

// subcommands names the subcommand whose settings a program's README
// section lists, for programs that have subcommands.
var subcommands = map[string]string{suite.SwitchboardBin: "stdio"}

// programUsage returns what the named program prints for -h (for its
// subcommand's -h, if it has one).
func programUsage(t *testing.T, bin string) string {
	t.Helper()
	args := []string{"-h"}
	if sub, ok := subcommands[bin]; ok {
		args = []string{sub, "-h"}
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, bin), args...)
	// Defaults only: settings in the environment would show as defaults.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") && !strings.HasPrefix(kv, "REDIS_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -h: %v\n%s", bin, err, out)
	}
	return "\n" + string(out)
}

// usageLine matches one setting in a program's -h output.
// Optional settings print "unset by default" instead of a default.
var usageLine = regexp.MustCompile(`(?m)^  (-\S+) \(env (\S+), (?:default "(.*)"|unset by default)\)$`)

// settingRow matches a row of a settings table: flag, then variable.
var settingRow = regexp.MustCompile("^\\| `(-[^`]+)` \\| `([A-Z_]+)`")

// TestReadmeListsEverySetting checks the settings tables of README.md
// against every program's -h output: the program's section has a row for
// each variable that names its flag and its default.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range suite.Binaries {
		rows := readmeRows(t, string(b), strings.TrimPrefix(suite.Packages[bin], "./"))
		matches := usageLine.FindAllStringSubmatch(programUsage(t, bin), -1)
		if len(matches) == 0 {
			t.Errorf("%s -h lists no settings", bin)
		}
		for _, m := range matches {
			flag, env, def := m[1], m[2], m[3]
			row, ok := rows[env]
			switch {
			case !ok:
				t.Errorf("README section of %s has no row for %s (%s)", bin, env, flag)
			case !strings.HasPrefix(row, fmt.Sprintf("| `%s` | `%s` |", flag, env)):
				t.Errorf("README row for %s does not start with its flag %s: %s", env, flag, row)
			case def != "" && !strings.Contains(row, "`"+def+"`"):
				t.Errorf("README row for %s lacks its default `%s`: %s", env, def, row)
			}
		}
	}
}

// readmeRows returns the settings rows, by variable, of the README section
// whose "###" heading names the program's package as `pkg`.
func readmeRows(t *testing.T, readme, pkg string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	in, found := false, false
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "#") {
			in = strings.HasPrefix(line, "### ") && strings.Contains(line, "`"+pkg+"`")
			found = found || in
			continue
		}
		if m := settingRow.FindStringSubmatch(line); in && m != nil {
			rows[m[2]] = line
		}
	}
	if !found {
		t.Errorf("README has no settings section headed with `%s`", pkg)
	}
	return rows
}
