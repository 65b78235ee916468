package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// upstreamDecl declares one upstream MCP server. It marshals both into
// the upstreams file (YAML reads JSON) and into the body of the admin
// API's POST /v1/upstreams, whose field names are the same.
type upstreamDecl struct {
	Name      string   `json:"name"`
	Prefix    *string  `json:"prefix,omitempty"`
	Transport string   `json:"transport"`
	URL       string   `json:"url,omitempty"`
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
}

// httpDecl declares an upstream served over Streamable HTTP at url.
func httpDecl(name, prefix, url string) upstreamDecl {
	return upstreamDecl{Name: name, Prefix: &prefix, Transport: "http", URL: url}
}

// everythingDecl declares the official everything server, installed by
// npm in e2e/upstreams, as a stdio upstream under prefix.
func everythingDecl(t *testing.T, name, prefix string) upstreamDecl {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the everything server needs it")
	}
	entry := filepath.Join(root, "e2e", "upstreams", "node_modules", "@modelcontextprotocol",
		"server-everything", "dist", "index.js")
	if _, err := os.Stat(entry); err != nil {
		t.Fatalf("the everything server is not installed (%v): run make tsdeps", err)
	}
	return upstreamDecl{Name: name, Prefix: &prefix, Transport: "stdio", Command: node,
		Args: []string{entry, "stdio"}}
}

// upstreamsFile writes an upstreams file declaring decls and returns its
// path.
func upstreamsFile(t *testing.T, decls ...upstreamDecl) string {
	t.Helper()
	body, err := json.MarshalIndent(map[string]any{"upstreams": decls}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "upstreams.yaml")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// upstreamSuite runs the suite with the demo provider and the upstreams
// of decls declared in a file.
func upstreamSuite(t *testing.T, gateways int, decls []upstreamDecl) *suite.Suite {
	t.Helper()
	return startSuiteWith(t, suiteWithRegistryArgs(gateways,
		"-upstreams-file="+upstreamsFile(t, decls...)))
}

// suiteWithRegistryArgs describes a suite with the demo provider whose
// registry gets args.
func suiteWithRegistryArgs(gateways int, args ...string) suite.Config {
	return suite.Config{Gateways: gateways,
		ExtraArgs: map[string][]string{suite.RegistryBin: args}}
}

// waitListed polls tools/list until every name of want is listed, or,
// with listed false, none is, and returns the last list. Only sessions
// of 2025-11-25 may poll: a stateless client caches lists for their ttl.
func waitListed(t *testing.T, cs *mcp.ClientSession, want []string, listed bool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		names := listToolNames(t, cs)
		ok := containsAll(names, want)
		if !listed {
			ok = !slices.ContainsFunc(want, func(n string) bool { return slices.Contains(names, n) })
		}
		if ok {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %q to be listed: %v; tools: %q", want, listed, names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantText calls a tool and fails the test unless it answers text
// without isError.
func wantText(t *testing.T, cs *mcp.ClientSession, tool string, args any, want string) {
	t.Helper()
	got, isErr := callText(t, cs, tool, args)
	if isErr || got != want {
		t.Errorf("%s answered %q (isError %v), want %q", tool, got, isErr, want)
	}
}

// goUpstream is an MCP server of the official Go SDK, served over
// Streamable HTTP on a loopback port of the test process. Stop and
// Restart kill it and start it again on the same port with no memory of
// its sessions, as a restarted process would be.
type goUpstream struct {
	name string
	// stateless serves without sessions, as 2026-07-28 clients expect;
	// otherwise the server speaks 2025-11-25 only, so that it stays a
	// session-based server whatever its client asks for.
	stateless bool
	// extra adds the tools a test needs to each new server.
	extra func(*mcp.Server)
	// napping receives a value each time the nap tool starts.
	napping chan struct{}
	// wake ends every nap, when the test ends; a nap outlives the
	// server's Stop, as a call does on a process that is killed.
	wake chan struct{}

	mu   sync.Mutex
	addr string
	srv  *http.Server
}

// startGoUpstream serves a new upstream whose whoami tool answers
// "I am <name>" and whose nap tool sleeps until its request is cancelled
// or the test ends.
func startGoUpstream(t *testing.T, name string, stateless bool,
	extra func(*mcp.Server)) *goUpstream {
	t.Helper()
	u := &goUpstream{name: name, stateless: stateless, extra: extra,
		napping: make(chan struct{}, 16), wake: make(chan struct{}), addr: "127.0.0.1:0"}
	u.Restart(t)
	t.Cleanup(func() {
		close(u.wake)
		u.Stop()
	})
	return u
}

// URL is the upstream's MCP endpoint.
func (u *goUpstream) URL() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return "http://" + u.addr + "/mcp"
}

// Restart serves the upstream afresh on its port (a free one the first
// time).
func (u *goUpstream) Restart(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	lis, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatalf("upstream %s: listen on %s: %v", u.name, u.addr, err)
	}
	u.addr = lis.Addr().String()
	server := u.server()
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: u.stateless})
	u.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go u.srv.Serve(lis)
}

// Stop kills the upstream: the listener and every connection close at
// once, calls in flight included.
func (u *goUpstream) Stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv == nil {
		return
	}
	u.srv.Close()
	u.srv = nil
}

// server builds the MCP server of one run.
func (u *goUpstream) server() *mcp.Server {
	var opts mcp.ServerOptions
	if !u.stateless {
		opts.SupportedProtocolVersions = []string{protocolVersion}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: u.name, Version: "1.0.0"}, &opts)
	s.AddTool(&mcp.Tool{Name: "whoami", InputSchema: objectSchema},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return textResult("I am " + u.name), nil
		})
	s.AddTool(&mcp.Tool{Name: "nap", InputSchema: objectSchema},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case u.napping <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-u.wake:
				return nil, errors.New("woken at the end of the test")
			}
		})
	if u.extra != nil {
		u.extra(s)
	}
	return s
}

// objectSchema is the input schema of tools without arguments.
var objectSchema = json.RawMessage(`{"type":"object"}`)

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// upstreamStatus is what the admin API tells of one upstream
// (UpstreamStatus).
type upstreamStatus struct {
	Source string `json:"source"`
	Health struct {
		State     string `json:"state"`
		Reason    string `json:"reason"`
		LastError string `json:"lastError"`
		ToolCount int    `json:"toolCount"`
	} `json:"health"`
}

// admin sends one request to the registry's admin REST API, with the
// bearer token when it is not empty, and returns the status and body.
func admin(t *testing.T, s *suite.Suite, method, path, token string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(opCtx(t), method,
		"http://"+s.Registry.AdminAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// waitHealth polls GET /v1/upstreams/{name} until cond holds for the
// upstream's status, and returns it.
func waitHealth(t *testing.T, s *suite.Suite, name, token, what string,
	cond func(upstreamStatus) bool) upstreamStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := admin(t, s, http.MethodGet, "/v1/upstreams/"+name, token, nil)
		var got struct {
			Upstream upstreamStatus `json:"upstream"`
		}
		if code == http.StatusOK && json.Unmarshal([]byte(body), &got) == nil && cond(got.Upstream) {
			return got.Upstream
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for upstream %s to be %s; last answer %d %s", name, what, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callFailure runs a tool without arguments and returns how it failed,
// by a JSON-RPC error or a result with isError; nil means it succeeded.
func callFailure(ctx context.Context, cs *mcp.ClientSession, name string) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
	switch {
	case err != nil:
		return err
	case res.IsError:
		return fmt.Errorf("isError result: %q", texts(res.Content))
	}
	return nil
}

// containsAll reports whether every name of want is in names.
func containsAll(names, want []string) bool {
	for _, n := range want {
		if !slices.Contains(names, n) {
			return false
		}
	}
	return true
}
