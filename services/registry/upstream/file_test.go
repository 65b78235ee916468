package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/logging"
)

const goodFile = `
allowAdminStdio: true
upstreams:
  - name: everything
    prefix: ""
    transport: http
    url: http://127.0.0.1:9000/mcp
    headers: {Authorization: "Bearer x"}
    connectTimeout: 10s
    callTimeout: 2m
    tools: {include: [echo, add], exclude: [add]}
  - name: files
    transport: stdio
    command: npx
    args: [-y, server]
    env: {K: V}
    dir: /srv
  - name: old
    transport: sse
    url: https://example.test/sse
`

func TestParseFile(t *testing.T) {
	empty := ""
	got, err := ParseFile([]byte(goodFile))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	want := File{AllowAdminStdio: true, Upstreams: []Spec{
		{Name: "everything", Prefix: &empty, Transport: TransportHTTP,
			URL: "http://127.0.0.1:9000/mcp", Headers: map[string]string{"Authorization": "Bearer x"},
			ConnectTimeout: 10 * time.Second, CallTimeout: 2 * time.Minute,
			Tools:  ToolFilter{Include: []string{"echo", "add"}, Exclude: []string{"add"}},
			Source: SourceFile},
		{Name: "files", Transport: TransportStdio, Command: "npx", Args: []string{"-y", "server"},
			Env: map[string]string{"K": "V"}, Dir: "/srv", Source: SourceFile},
		{Name: "old", Transport: TransportSSE, URL: "https://example.test/sse", Source: SourceFile},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseFile (-want +got):\n%s", diff)
	}

	for _, in := range []string{"", "# nothing\n", "upstreams: []\n"} {
		if f, err := ParseFile([]byte(in)); err != nil || len(f.Upstreams) != 0 {
			t.Errorf("ParseFile(%q) = %v, %v; want no upstreams", in, f, err)
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	// one returns a file with one upstream made of the given lines.
	one := func(lines ...string) string {
		return "upstreams:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	http := []string{"name: a", "transport: http", "url: http://127.0.0.1:1/mcp"}
	with := func(extra ...string) string { return one(append(append([]string{}, http...), extra...)...) }
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level key", "allowAdminStdio: true\nbogus: 1\n", `line 2: unknown key "bogus"`},
		{"unknown upstream key", with("urll: x"), `line 5: unknown key "urll"`},
		{"duplicate key", with("url: http://127.0.0.1:2/"), `"url" already defined`},
		{"two documents", "upstreams: []\n---\nupstreams: []\n", "want one YAML document"},
		{"not a list", "upstreams: {}\n", "cannot unmarshal"},
		{"bad duration", with("callTimeout: soon"), "line 5"},
		{"number as duration", with("callTimeout: 10"), "line 5"},
		{"negative duration", with("connectTimeout: -1s"), "connectTimeout -1s: want zero or more"},
		{"missing name", one("transport: http", "url: http://127.0.0.1:1/"), `upstreams[0]: name ""`},
		{"bad name", one("name: a b", "transport: stdio", "command: x"), `name "a b": want 1 to 64`},
		{"long name", one("name: "+strings.Repeat("n", 65), "transport: stdio", "command: x"),
			"want 1 to 64"},
		{"bad prefix", with("prefix: a.b"), `prefix "a.b"`},
		{"missing transport", one("name: a", "url: http://127.0.0.1:1/"), "transport: required"},
		{"bad transport", one("name: a", "transport: ws", "url: ws://x/"), `transport "ws"`},
		{"http without url", one("name: a", "transport: http"), "url: required with transport http"},
		{"sse without url", one("name: a", "transport: sse"), "url: required with transport sse"},
		{"ftp url", one("name: a", "transport: http", "url: ftp://x/"), "want an absolute http or https URL"},
		{"relative url", one("name: a", "transport: http", "url: /mcp"), "want an absolute http"},
		{"credentials in url", one("name: a", "transport: http", "url: http://u:p@x/"),
			"put credentials in headers"},
		{"http with command", with("command: x"), "command: only a stdio upstream has one"},
		{"http with env", with("env: {A: b}"), "env: only a stdio upstream has one"},
		{"bad header name", with(`headers: {"a b": x}`), `"a b" is not a valid header name`},
		{"header value with newline", with(`headers: {A: "x\ny"}`), "line break"},
		{"stdio without command", one("name: a", "transport: stdio"), "command: required"},
		{"stdio with url", one("name: a", "transport: stdio", "command: x", "url: http://x/"),
			"url: a stdio upstream has none"},
		{"stdio with headers", one("name: a", "transport: stdio", "command: x", "headers: {A: b}"),
			"headers: a stdio upstream has none"},
		{"bad env name", one("name: a", "transport: stdio", "command: x", `env: {"A=B": c}`),
			`env: "A=B" is not a valid variable name`},
		{"empty tool name", with(`tools: {include: [""]}`), "tools.include: names must not be empty"},
		{"duplicate upstream",
			"upstreams:\n  - {name: a, transport: stdio, command: x}\n" +
				"  - {name: a, transport: stdio, command: y}\n",
			`upstreams[1]: name "a": already used by upstreams[0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseFile = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "upstreams: [{name: a}]\n")
	tests := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none.yaml"), "read upstreams file"},
		{"invalid", bad, "bad.yaml: upstreams[0]: a: transport: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenFile(logging.Discard(), tc.path, time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenFile = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestFileReload polls a file through good, bad, missing and good
// versions: only new versions that parse are applied.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "upstreams.yaml")
	v1 := "upstreams: [{name: a, transport: stdio, command: x}]\n"
	v2 := "upstreams: [{name: b, transport: stdio, command: x}]\n"
	writeFile(t, path, v1)
	src, err := OpenFile(logging.Discard(), path, time.Hour)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	if got := names(src.File().Upstreams); got != "a" {
		t.Fatalf("first version = %q, want a", got)
	}
	steps := []struct {
		name    string
		edit    func()
		applied string // names of the version applied; empty: none
	}{
		{"unchanged", func() {}, ""},
		{"bad", func() { writeFile(t, path, "upstreams: [{name: b}]\n") }, ""},
		{"bad again", func() {}, ""},
		{"good", func() { writeFile(t, path, v2) }, "b"},
		{"missing", func() { os.Remove(path) }, ""},
		{"back", func() { writeFile(t, path, v2) }, "b"},
		{"unknown key", func() { writeFile(t, path, v1+"extra: 1\n") }, ""},
		{"first again", func() { writeFile(t, path, v1) }, "a"},
	}
	for _, s := range steps {
		s.edit()
		f, ok := src.poll()
		got := ""
		if ok {
			got = names(f.Upstreams)
		}
		if got != s.applied {
			t.Errorf("%s: applied %q, want %q", s.name, got, s.applied)
		}
	}
}

// TestFileWatch checks that Watch applies a new version, through a
// symlink swap as Kubernetes makes them.
func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "v1"), "upstreams: []\n")
	writeFile(t, filepath.Join(dir, "v2"), "upstreams: [{name: b, transport: stdio, command: x}]\n")
	link := filepath.Join(dir, "upstreams.yaml")
	if err := os.Symlink("v1", link); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(logging.Discard(), link, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	applied := make(chan File, 1)
	go src.Watch(t.Context(), func(f File) { applied <- f })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Symlink("v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-applied:
		if got := names(f.Upstreams); got != "b" {
			t.Errorf("applied %q, want b", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new version was never applied")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// names joins the names of specs with commas.
func names(specs []Spec) string {
	n := make([]string, len(specs))
	for i, s := range specs {
		n[i] = s.Name
	}
	return strings.Join(n, ",")
}
