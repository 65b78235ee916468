package gateway

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantKind kind
		wantCode int
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, kindRequest, 0},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"ping"}`, kindRequest, 0},
		{"big id", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}`, kindRequest, 0},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, kindNotification, 0},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, kindResponse, 0},
		{"error response", `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`, kindResponse, 0},
		{"whitespace", " \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n", kindRequest, 0},
		{"not json", `{"jsonrpc":`, 0, codeParseError},
		{"empty", ``, 0, codeParseError},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, 0, codeParseError},
		{"string", `"ping"`, 0, codeInvalidRequest},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 0, codeInvalidRequest},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, 0, codeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, 0, codeInvalidRequest},
		{"nothing", `{"jsonrpc":"2.0"}`, 0, codeInvalidRequest},
		{"id only", `{"jsonrpc":"2.0","id":1}`, 0, codeInvalidRequest},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, 0, codeInvalidRequest},
		{"null id request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, codeInvalidRequest},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, 0, codeInvalidRequest},
		{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, 0, codeInvalidRequest},
		{"bool id", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, 0, codeInvalidRequest},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, 0, codeInvalidRequest},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, 0, codeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMessage([]byte(tt.body))
			if tt.wantCode != 0 {
				var re *rpcError
				if !errors.As(err, &re) || re.Code != tt.wantCode {
					t.Fatalf("parseMessage(%q) error = %v, want code %d", tt.body, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMessage(%q) = %v", tt.body, err)
			}
			if m.kind != tt.wantKind {
				t.Errorf("kind = %v, want %v", m.kind, tt.wantKind)
			}
		})
	}
}

func TestResponseKeepsIDVerbatim(t *testing.T) {
	for _, id := range []string{`1`, `"x"`, `123456789012345678901234567890`, `-7`} {
		got := response(json.RawMessage(id), struct{}{}, nil)
		want := `{"jsonrpc":"2.0","id":` + id + `,"result":{}}`
		if string(got) != want {
			t.Errorf("response(%s) = %s, want %s", id, got, want)
		}
	}
	got := response(nil, nil, newRPCError(codeParseError, "bad"))
	if want := `{"jsonrpc":"2.0","error":{"code":-32700,"message":"bad"}}`; string(got) != want {
		t.Errorf("error response = %s, want %s", got, want)
	}
}

func TestDecodeParams(t *testing.T) {
	var p callParams
	for _, bad := range []string{`[]`, `"x"`, `5`, `{"name":5}`} {
		if err := decodeParams(json.RawMessage(bad), &p); err == nil {
			t.Errorf("decodeParams(%s) succeeded, want invalid params", bad)
		}
	}
	for _, ok := range []string{``, `null`, `{}`, `{"name":"x","arguments":{"n":12345678901234567890}}`} {
		if err := decodeParams(json.RawMessage(ok), &p); err != nil {
			t.Errorf("decodeParams(%s) = %v", ok, err)
		}
	}
	if string(p.Arguments) != `{"n":12345678901234567890}` {
		t.Errorf("arguments = %s, want them verbatim", p.Arguments)
	}
}

func TestParseMessageRefusesInvalidUTF8(t *testing.T) {
	for _, body := range []string{
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\xc3\"}}",
	} {
		_, err := parseMessage([]byte(body))
		var re *rpcError
		if !errors.As(err, &re) || re.Code != codeParseError {
			t.Errorf("parseMessage(%q) = %v, want a parse error", body, err)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip(strings.Repeat("x", 1000)); len(got) != 67 {
		t.Errorf("clip kept %d bytes, want 64 and an ellipsis", len(got))
	}
	if got := clip("short"); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
}
