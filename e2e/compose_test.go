package e2e

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"switchboard.dev/pkg/suite"
)

// composeFile is the part of docker-compose.yml that the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image     string                       `yaml:"image"`
	Build     *composeBuild                `yaml:"build"`
	Command   []string                     `yaml:"command"`
	Ports     []string                     `yaml:"ports"`
	DependsOn map[string]map[string]string `yaml:"depends_on"`
}

type composeBuild struct {
	Context string `yaml:"context"`
	Target  string `yaml:"target"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	return f
}

func TestComposeServices(t *testing.T) {
	f := readCompose(t)
	tests := []struct {
		service   string
		flags     []string
		dependsOn []string
	}{
		{"redis", nil, nil},
		{"session", []string{"-grpc-addr=0.0.0.0:7100", "-http-addr=0.0.0.0:7180",
			"-redis-url=redis://redis:6379/0"}, []string{"redis"}},
		{"registry", []string{"-grpc-addr=0.0.0.0:7200", "-http-addr=0.0.0.0:7280",
			"-redis-url=redis://redis:6379/0", "-session-addr=session:7100"},
			[]string{"redis", "session"}},
		{"gateway", []string{"-http-addr=0.0.0.0:8080", "-grpc-addr=0.0.0.0:8081",
			"-session-addr=session:7100", "-registry-addr=registry:7200",
			"-allowed-hosts=localhost,127.0.0.1,::1"}, []string{"registry", "session"}},
		{"demo-provider", []string{"-grpc-addr=0.0.0.0:7300",
			"-advertise-addr=demo-provider:7300", "-registry-addr=registry:7200"},
			[]string{"registry"}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.service)
		t.Run(tt.service, func(t *testing.T) {
			svc, ok := f.Services[tt.service]
			if !ok {
				t.Fatalf("no service %q", tt.service)
			}
			if svc.Image == "" && svc.Build == nil {
				t.Error("neither image nor build")
			}
			if tt.flags != nil {
				if diff := cmp.Diff(tt.flags, svc.Command); diff != "" {
					t.Errorf("command (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.dependsOn, sortedKeys(svc.DependsOn)); diff != "" {
				t.Errorf("depends_on (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(sortedKeys(f.Services), sorted(names)); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if got := f.Services["redis"].Image; got != "redis:7-alpine" {
		t.Errorf("redis image %q, want redis:7-alpine", got)
	}
	if got := f.Services["gateway"].Ports; !slices.Contains(got, "127.0.0.1:8080:8080") {
		t.Errorf("gateway ports %q do not publish 8080 on the host's loopback", got)
	}
}

// TestComposeAddresses checks that every address naming another service
// points at a port that service listens on, and that the dependency is
// declared.
func TestComposeAddresses(t *testing.T) {
	f := readCompose(t)
	listens := map[string][]string{"redis": {"6379"}}
	for name, svc := range f.Services {
		for _, arg := range svc.Command {
			flag, value, _ := strings.Cut(arg, "=")
			if strings.HasSuffix(flag, "-addr") && strings.HasPrefix(value, "0.0.0.0:") {
				listens[name] = append(listens[name], strings.TrimPrefix(value, "0.0.0.0:"))
			}
		}
	}
	for name, svc := range f.Services {
		for _, arg := range svc.Command {
			_, value, _ := strings.Cut(arg, "=")
			host, port, ok := serviceAddr(value)
			if !ok || host == "0.0.0.0" {
				continue
			}
			if _, known := f.Services[host]; !known {
				t.Errorf("%s: %s names no service", name, arg)
				continue
			}
			if !slices.Contains(listens[host], port) {
				t.Errorf("%s: %s, but %s listens on %q", name, arg, host, listens[host])
			}
			if _, dep := svc.DependsOn[host]; !dep && host != name {
				t.Errorf("%s: %s, but %s is not in depends_on", name, arg, host)
			}
		}
	}
}

// serviceAddr extracts host and port from "host:port" or a redis:// URL.
func serviceAddr(v string) (host, port string, ok bool) {
	if u, err := url.Parse(v); err == nil && u.Scheme == "redis" {
		return u.Hostname(), u.Port(), true
	}
	host, port, err := net.SplitHostPort(v)
	return host, port, err == nil && port != ""
}

// TestComposeBuilds checks that every built service names a stage of the
// Dockerfile that compiles the service's program, and that every flag
// passed is one the program accepts.
func TestComposeBuilds(t *testing.T) {
	f := readCompose(t)
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(df)
	for name, svc := range f.Services {
		if svc.Build == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			target := svc.Build.Target
			pkg, ok := suite.Packages[target]
			if !ok {
				t.Fatalf("build target %q is no Switchboard program", target)
			}
			stage := regexp.MustCompile(`(?m)^FROM \S+ AS ` + regexp.QuoteMeta(target) + `$`)
			if !stage.MatchString(dockerfile) {
				t.Errorf("Dockerfile has no stage %q", target)
			}
			if !strings.Contains(dockerfile, pkg) {
				t.Errorf("Dockerfile does not build %s", pkg)
			}
			usage := programUsage(t, target)
			for _, arg := range svc.Command {
				flag, _, _ := strings.Cut(arg, "=")
				if !strings.Contains(usage, "\n  "+flag+" (env ") {
					t.Errorf("%s does not accept %s", target, flag)
				}
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sorted(keys)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if len(s) == 0 {
		return nil
	}
	return s
}
