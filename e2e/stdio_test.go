package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/suite"
)

// stdioProc is a running `switchboard stdio` bridge, driven as a desktop
// client drives it: lines on its stdin, lines from its stdout.
type stdioProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr *lockedBuffer
	// pending holds lines read while waiting for another one.
	pending []string
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stdioLine is one message the bridge wrote.
type stdioLine struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw string
}

// startStdio runs the bridge against url with extra flags, logging JSON
// at debug level to its stderr.
func startStdio(t *testing.T, url string, args ...string) *stdioProc {
	t.Helper()
	args = append([]string{"stdio", "-url", url, "-log-level", "debug", "-log-format", "json"},
		args...)
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, suite.SwitchboardBin), args...)
	p := &stdioProc{t: t, cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bridge: %v", err)
	}
	p.stdin = stdin
	go func() {
		defer close(p.lines)
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				p.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("--- bridge stderr ---\n%s", p.stderr.String())
		}
	})
	return p
}

// send writes one line to the bridge's stdin.
func (p *stdioProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("write to bridge: %v", err)
	}
}

// next returns the first line, pending or new, that match accepts, and
// keeps the others pending. It fails the test after 30s.
func (p *stdioProc) next(what string, match func(stdioLine) bool) stdioLine {
	p.t.Helper()
	for i, raw := range p.pending {
		if m := p.decode(raw); match(m) {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			return m
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case raw, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("bridge stdout ended while waiting for %s", what)
			}
			if m := p.decode(raw); match(m) {
				return m
			}
			p.pending = append(p.pending, raw)
		case <-deadline:
			p.t.Fatalf("no %s from the bridge; other lines: %q", what, p.pending)
		}
	}
}

// decode parses one stdout line, which must be a single JSON message.
func (p *stdioProc) decode(raw string) stdioLine {
	p.t.Helper()
	body, ok := strings.CutSuffix(raw, "\n")
	if !ok || strings.ContainsAny(body, "\r\n") {
		p.t.Fatalf("bridge wrote %q: not one line", raw)
	}
	var m stdioLine
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		p.t.Fatalf("bridge wrote %q: %v", raw, err)
	}
	m.raw = body
	return m
}

// response waits for the response with the raw JSON id.
func (p *stdioProc) response(id string) stdioLine {
	p.t.Helper()
	return p.next("response "+id, func(m stdioLine) bool {
		return m.Method == "" && string(m.ID) == id
	})
}

// call sends a request and returns its response.
func (p *stdioProc) call(id, method, params string) stdioLine {
	p.t.Helper()
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`, id, method, params))
	return p.response(id)
}

// initialize opens the session and returns its id, read from the log.
func (p *stdioProc) initialize() string {
	p.t.Helper()
	m := p.call("1", "initialize", `{"protocolVersion":"`+protocolVersion+
		`","capabilities":{"roots":{}},"clientInfo":{"name":"stdio-e2e","version":"1"}}`)
	want := `"protocolVersion":"` + protocolVersion + `"`
	if m.Error != nil || !strings.Contains(string(m.Result), want) {
		p.t.Fatalf("initialize: %s", m.raw)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p.logged("session started")["session_id"].(string)
}

// logged waits for the bridge's JSON log entry with the message msg.
func (p *stdioProc) logged(msg string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
				return entry
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("bridge never logged %q", msg)
	return nil
}

// close ends stdin and waits for the bridge to exit 0.
func (p *stdioProc) close() {
	p.t.Helper()
	p.stdin.Close()
	for range p.lines { // drain stdout to EOF
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("bridge exit: %v", err)
	}
}

// checkError fails unless m is a JSON-RPC error with the code and raw id.
func checkError(t *testing.T, m stdioLine, code int, id string) {
	t.Helper()
	if m.Error == nil || m.Error.Code != code || string(m.ID) != id {
		t.Errorf("got %s, want error %d with id %s", m.raw, code, id)
	}
}

// TestStdioBridge drives the bridge with raw lines, against each of two
// gateway replicas.
func TestStdioBridge(t *testing.T) {
	s := startSuite(t, 2)
	urls := s.MCPURLs()
	for i, url := range urls {
		t.Run(fmt.Sprintf("replica %d", i+1), func(t *testing.T) {
			p := startStdio(t, url, "-max-line-bytes", "2048",
				"-header", "X-Test: one", "-header", "X-Test: two")
			// Before initialize the gateway refuses with HTTP 400, which
			// must come back as an error for the request.
			checkError(t, p.call("0", "tools/list", `{}`), -32000, "0")
			sid := p.initialize()

			list := p.call("2", "tools/list", `{}`)
			if !strings.Contains(string(list.Result), `"demo__echo"`) {
				t.Errorf("tools/list: %s", list.raw)
			}
			// Past 2^53: the sum survives only if the bridge relays verbatim.
			add := p.call("3", "tools/call",
				`{"name":"demo__add","arguments":{"a":9007199254740993,"b":2}}`)
			if !strings.Contains(add.raw, `9007199254740995`) {
				t.Errorf("demo__add: %s", add.raw)
			}
			checkBadLines(t, p)
			checkConcurrent(t, p)
			checkRoots(t, p)

			p.close()
			checkSessionGone(t, urls, sid)
		})
	}
}

// checkBadLines sends lines the bridge must refuse itself, each followed
// by a ping that must still work.
func checkBadLines(t *testing.T, p *stdioProc) {
	t.Helper()
	long := `{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"demo__echo",` +
		`"arguments":{"text":"` + strings.Repeat("x", 5000) + `"}}}`
	tests := []struct {
		name, line string
		code       int
		id         string
	}{
		{"over-long line", long, -32700, "77"},
		{"over-long garbage", strings.Repeat("y", 9000), -32700, "null"},
		{"malformed JSON", `{"jsonrpc":"2.0","id":5,`, -32700, "null"},
		{"not JSON", `hello`, -32700, "null"},
		{"not JSON-RPC", `{"foo":1}`, -32600, "null"},
		{"batch", `[{"jsonrpc":"2.0","id":6,"method":"ping"}]`, -32600, "null"},
		{"bad method", `{"jsonrpc":"2.0","id":"m","method":7}`, -32600, `"m"`},
	}
	for i, tt := range tests {
		p.send(tt.line)
		m := p.next(tt.name+" error", func(m stdioLine) bool { return m.Error != nil })
		checkError(t, m, tt.code, tt.id)
		id := fmt.Sprintf(`"after-%d"`, i)
		if pong := p.call(id, "ping", `{}`); pong.Error != nil {
			t.Errorf("ping after %s: %s", tt.name, pong.raw)
		}
	}
	p.send("")
	p.send("   ")
}

// checkConcurrent starts a slow tool call and then a ping: the ping's
// answer must come first.
func checkConcurrent(t *testing.T, p *stdioProc) {
	t.Helper()
	p.send(`{"jsonrpc":"2.0","id":"slow","method":"tools/call",` +
		`"params":{"name":"demo__sleep","arguments":{"ms":1500}}}`)
	p.send(`{"jsonrpc":"2.0","id":"quick","method":"ping"}`)
	first := p.next("an answer", func(m stdioLine) bool {
		return string(m.ID) == `"slow"` || string(m.ID) == `"quick"`
	})
	if string(first.ID) != `"quick"` {
		t.Errorf("first answer %s, want the ping's", first.raw)
	}
	if slow := p.response(`"slow"`); !strings.Contains(slow.raw, "slept 1500 ms") {
		t.Errorf("demo__sleep: %s", slow.raw)
	}
}

// checkRoots calls a tool that asks the client for its roots: the
// request arrives on stdout and the answer on stdin goes back in a POST.
func checkRoots(t *testing.T, p *stdioProc) {
	t.Helper()
	p.send(`{"jsonrpc":"2.0","id":"roots","method":"tools/call",` +
		`"params":{"name":"demo__roots","arguments":{}}}`)
	ask := p.next("roots/list", func(m stdioLine) bool { return m.Method == "roots/list" })
	p.send(`{"jsonrpc":"2.0","id":` + string(ask.ID) +
		`,"result":{"roots":[{"uri":"file:///projects/demo","name":"r"}]}}`)
	if m := p.response(`"roots"`); !strings.Contains(m.raw, "file:///projects/demo") {
		t.Errorf("demo__roots: %s", m.raw)
	}
}

// TestStdioBridgeResumes kills the gateway while it streams a tool call
// to the bridge and starts it again: the bridge resumes the stream with
// Last-Event-ID and relays the call's response.
func TestStdioBridgeResumes(t *testing.T) {
	s := startSuite(t, 1)
	p := startStdio(t, s.MCPURLs()[0])
	p.initialize()
	p.send(`{"jsonrpc":"2.0","id":"long","method":"tools/call",` +
		`"params":{"name":"demo__sleep","arguments":{"ms":2000}}}`)
	p.logged("stream resumable")

	g := s.Gateways[0]
	g.Kill()
	if err := g.Start(t.Context()); err != nil {
		t.Fatalf("start %s again: %v", g.Name, err)
	}
	if m := p.response(`"long"`); !strings.Contains(m.raw, "slept 2000 ms") {
		t.Errorf("demo__sleep across the kill: %s", m.raw)
	}
	p.logged("stream resuming")
	p.close()
}

// TestStdioBridgeListChanged checks that a message on the session's GET
// stream reaches stdout: a provider that registers late makes the
// registry broadcast notifications/tools/list_changed.
func TestStdioBridgeListChanged(t *testing.T) {
	s := startSuite(t, 2)
	p := startStdio(t, s.MCPURLs()[1])
	p.initialize()
	p.logged("stream connected")
	// The broadcast reaches streams whose watch is already subscribed,
	// which the bridge cannot see; so another provider joins until one
	// broadcast is heard.
	for i := 1; ; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		_, err := s.AddProvider(ctx, suite.Provider{Name: fmt.Sprintf("late%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("add provider: %v", err)
		}
		if i == 3 || p.heard("notifications/tools/list_changed", 5*time.Second) {
			break
		}
	}
	p.next("list_changed", func(m stdioLine) bool {
		return m.Method == "notifications/tools/list_changed"
	})
	list := p.call("2", "tools/list", `{}`)
	if !strings.Contains(list.raw, `"late1__echo"`) {
		t.Errorf("tools/list after the change: %s", list.raw)
	}

	// SIGTERM, as a client that stops its servers sends, ends the session too.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("bridge exit after SIGTERM: %v", err)
	}
	p.logged("session deleted")
}

// heard reports whether a notification named method arrives within d; it
// keeps every line pending.
func (p *stdioProc) heard(method string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		for _, raw := range p.pending {
			if p.decode(raw).Method == method {
				return true
			}
		}
		select {
		case raw, ok := <-p.lines:
			if !ok {
				return false
			}
			p.pending = append(p.pending, raw)
		case <-deadline:
			return false
		}
	}
}

// TestStdioBridgeGoSDK runs the bridge as a desktop client would: the
// official Go SDK client spawns it and talks MCP over its stdin and
// stdout.
func TestStdioBridgeGoSDK(t *testing.T) {
	s := startSuite(t, 2)
	for i, url := range s.MCPURLs() {
		t.Run(fmt.Sprintf("replica %d", i+1), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, suite.SwitchboardBin), "stdio", "-url", url)
			stderr := &lockedBuffer{}
			cmd.Stderr = stderr
			client := mcp.NewClient(&mcp.Implementation{Name: "stdio-desktop", Version: "1.0.0"}, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd},
				&mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
			if err != nil {
				t.Fatalf("connect: %v\n%s", err, stderr.String())
			}
			if got := cs.InitializeResult().ProtocolVersion; got != protocolVersion {
				t.Errorf("negotiated protocol %q, want %q", got, protocolVersion)
			}
			if names := listToolNames(t, cs); !slices.Contains(names, "demo__echo") ||
				!slices.Contains(names, "demo__add") {
				t.Errorf("tools: %v", names)
			}
			callTools(t, cs, demoCalls)
			if err := cs.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			if !strings.Contains(stderr.String(), "session deleted") {
				t.Errorf("bridge did not delete the session:\n%s", stderr.String())
			}
		})
	}
}

// TestStdioBridgeStateless: a desktop client of the stateless generation
// (the Go SDK client at its defaults) over the bridge. The bridge mirrors
// the request metadata into headers; a request the client cancels with
// notifications/cancelled has its stream closed, which cancels the call.
func TestStdioBridgeStateless(t *testing.T) {
	s := startSuite(t, 1)
	cmd := exec.Command(filepath.Join(binDir, suite.SwitchboardBin), "stdio", "-url", s.MCPURLs()[0])
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "stdio-desktop", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr.String())
	}
	defer cs.Close()
	if got := cs.InitializeResult().ProtocolVersion; got != statelessVersion {
		t.Fatalf("negotiated protocol %q, want %q", got, statelessVersion)
	}
	if names := listToolNames(t, cs); !slices.Contains(names, "demo__echo") {
		t.Errorf("tools: %v", names)
	}
	callTools(t, cs, demoCalls)

	callCtx, stop := context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err = cs.CallTool(callCtx, &mcp.CallToolParams{Name: "demo__count",
		Arguments: map[string]any{"steps": 600, "ms": 100, "key": "stdio-stateless"}})
	stop()
	if err == nil {
		t.Fatal("a minute-long count ended within half a second")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		text, _ := callText(t, cs, "demo__cancelled", map[string]any{"key": "stdio-stateless"})
		if strings.Contains(text, "true") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider never saw the cancelled count: %s\n%s", text, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
