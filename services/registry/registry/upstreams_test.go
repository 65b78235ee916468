package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"switchboard.dev/pkg/logging"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func TestAdminConfig(t *testing.T) {
	tests := []struct {
		name, addr, token, want string
	}{
		{"loopback without token", "127.0.0.1:7290", "", ""},
		{"ipv6 loopback without token", "[::1]:7290", "", ""},
		{"localhost without token", "localhost:7290", "", ""},
		{"disabled", "", "", ""},
		{"every interface without token", ":7290", "", "admin-token is required"},
		{"public address without token", "0.0.0.0:7290", "", "admin-token is required"},
		{"public address with token", "0.0.0.0:7290", "t", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.AdminAddr, cfg.AdminToken = tc.addr, tc.token
			err := cfg.Validate()
			if tc.want == "" && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRunRefusesOpenAdmin checks that the registry does not start with an
// admin API reachable from elsewhere and no token, nor with a bad
// upstreams file.
func TestRunRefusesOpenAdmin(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "upstreams.yaml")
	if err := os.WriteFile(bad, []byte("upstreams: [{name: x, bogus: 1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"open admin", func(c *Config) { c.AdminAddr = "0.0.0.0:0" }, "admin-token is required"},
		{"bad file", func(c *Config) { c.UpstreamsFile = bad }, `unknown key "bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			err := Run(t.Context(), logging.Discard(), nil, cfg, func(Addrs) {
				t.Error("the registry started")
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestUpstreamsAdmin runs two registry replicas with one upstreams file
// and an admin token, declares an upstream through one replica's admin
// API and finds it on the other's, next to the file's.
func TestUpstreamsAdmin(t *testing.T) {
	// An endpoint of the test's own that is no MCP server.
	dead := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(dead.Close)
	file := filepath.Join(t.TempDir(), "upstreams.yaml")
	content := "upstreams:\n  - {name: fromfile, transport: http, url: " + dead.URL + "/mcp}\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startRegistry(t, func(c *Config) {
		c.UpstreamsFile, c.AdminToken = file, "tok"
		c.UpstreamsReloadInterval = 50 * time.Millisecond
	})
	r := f.replica(t)
	auth := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok")
	admin := registryv1.NewUpstreamAdminServiceClient(dial(t, f.adminAddr))
	other := registryv1.NewUpstreamAdminServiceClient(dial(t, r.adminAddr))

	_, err := admin.ListUpstreams(t.Context(), &registryv1.ListUpstreamsRequest{})
	wantCode(t, err, codes.Unauthenticated, "admin token required")

	_, err = admin.AddUpstream(auth, &registryv1.AddUpstreamRequest{Upstream: &registryv1.Upstream{
		Name: "api", Transport: "http", Url: dead.URL + "/other"}})
	if err != nil {
		t.Fatalf("AddUpstream: %v", err)
	}
	_, err = admin.AddUpstream(auth, &registryv1.AddUpstreamRequest{Upstream: &registryv1.Upstream{
		Name: "fromfile", Transport: "http", Url: dead.URL + "/other"}})
	wantCode(t, err, codes.FailedPrecondition, "the upstreams file declares")

	eventually(t, "the other replica runs both upstreams", func() bool {
		resp, err := other.ListUpstreams(auth, &registryv1.ListUpstreamsRequest{})
		if err != nil {
			t.Fatalf("ListUpstreams: %v", err)
		}
		var got []string
		for _, u := range resp.GetUpstreams() {
			if u.GetHealth().GetState() != "" {
				got = append(got, u.GetUpstream().GetName()+"/"+u.GetSource())
			}
		}
		return strings.Join(got, ",") == "api/api,fromfile/file"
	})

	// The file changes: its upstream goes, on both replicas.
	if err := os.WriteFile(file, []byte("upstreams: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the file's upstream leaves", func() bool {
		_, err := other.GetUpstream(auth, &registryv1.GetUpstreamRequest{Name: "fromfile"})
		return status.Code(err) == codes.NotFound
	})
	if _, err := other.RemoveUpstream(auth,
		&registryv1.RemoveUpstreamRequest{Name: "api"}); err != nil {
		t.Fatalf("RemoveUpstream: %v", err)
	}
	eventually(t, "the API's upstream leaves the first replica", func() bool {
		_, err := admin.GetUpstream(auth, &registryv1.GetUpstreamRequest{Name: "api"})
		return status.Code(err) == codes.NotFound
	})
}

// TestAdminRESTPort reaches the admin API's REST face on the admin port.
func TestAdminRESTPort(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(dead.Close)
	f := startRegistry(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	body := `{"name":"web","transport":"http","url":"` + dead.URL + `/mcp"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+f.adminAddr+"/v1/upstreams",
		strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /v1/upstreams = %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get("http://" + f.adminAddr + "/v1/upstreams/web")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/upstreams/web = %d, want 200", resp.StatusCode)
	}
}

// TestUpstreamListenConfig: bridges that listen on every interface need a
// host the other replicas can dial.
func TestUpstreamListenConfig(t *testing.T) {
	tests := []struct {
		name, listen, advertise, want string
	}{
		{"default loopback", "127.0.0.1:0", "", ""},
		{"pod address", "10.1.2.3:0", "", ""},
		{"every interface with a host", "0.0.0.0:0", "registry-0.registry", ""},
		{"every interface without a host", "0.0.0.0:0", "", "set upstream-advertise-host"},
		{"empty host without a host", ":0", "", "set upstream-advertise-host"},
		{"not host:port", "7250", "", "want host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.UpstreamListenAddr, cfg.UpstreamAdvertiseHost = tc.listen, tc.advertise
			err := cfg.Validate()
			if tc.want == "" && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
