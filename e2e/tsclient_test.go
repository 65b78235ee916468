package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tsOutput is what tsclient/client.mjs prints.
type tsOutput struct {
	ProtocolVersion string
	SessionID       string
	Tools           []string
	Echo, Add, Fail tsCall
	Terminated      bool
	Requests        []struct {
		Host, Method, SessionID string
		Status                  int
	}
}

type tsCall struct {
	Text              []string
	StructuredContent json.RawMessage
	IsError           bool
}

func TestTypeScriptSDKAcrossReplicas(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the TypeScript SDK client needs it")
	}
	dir := filepath.Join(root, "e2e", "tsclient")
	sdk := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")
	if _, err := os.Stat(sdk); err != nil {
		t.Fatalf("the TypeScript SDK is not installed in %s: run make tsdeps", dir)
	}
	s := startSuite(t, 2)
	urls := s.MCPURLs()

	out := runTSClient(t, node, dir, urls)
	if out.ProtocolVersion != protocolVersion {
		t.Errorf("negotiated protocol %q, want %q", out.ProtocolVersion, protocolVersion)
	}
	for _, want := range []string{"demo__echo", "demo__add", "demo__fail"} {
		if !slices.Contains(out.Tools, want) {
			t.Errorf("tools/list lacks %s: %q", want, out.Tools)
		}
	}
	checkTSCall(t, "echo", out.Echo, tsCall{Text: []string{"hello from ts"}})
	checkTSCall(t, "add", out.Add, tsCall{Text: []string{`{"sum":42}`},
		StructuredContent: json.RawMessage(`{"sum":42}`)})
	checkTSCall(t, "fail", out.Fail, tsCall{Text: []string{"boom"}, IsError: true})
	if !out.Terminated {
		t.Error("the client kept its session id after terminateSession")
	}
	checkTSSpread(t, out, urls)
	checkSessionGone(t, urls, out.SessionID)
}

// runTSClient runs client.mjs against urls and decodes its output.
func runTSClient(t *testing.T, node, dir string, urls []string) tsOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"client.mjs"}, urls...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var out tsOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("decode client output: %v\n%s", err, stdout.String())
	}
	if out.SessionID == "" {
		t.Fatalf("no session id in client output: %s", stdout.String())
	}
	return out
}

func checkTSCall(t *testing.T, name string, got, want tsCall) {
	t.Helper()
	if string(got.StructuredContent) == "null" {
		got.StructuredContent = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s result (-want +got):\n%s", name, diff)
	}
}

// checkTSSpread fails the test unless every replica answered a request of
// the session and a DELETE ended it.
func checkTSSpread(t *testing.T, out tsOutput, urls []string) {
	t.Helper()
	served := map[string]int{}
	deleted := false
	for _, r := range out.Requests {
		if r.SessionID == out.SessionID && r.Status/100 == 2 {
			served[r.Host]++
			deleted = deleted || r.Method == "DELETE"
		}
	}
	for _, h := range hosts(urls) {
		if served[h] == 0 {
			t.Errorf("replica %s served no request of session %s; requests: %+v",
				h, out.SessionID, out.Requests)
		}
	}
	if !deleted {
		t.Errorf("no accepted DELETE for session %s; requests: %+v", out.SessionID, out.Requests)
	}
}
