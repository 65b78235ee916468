package stdio

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name  string
		input string
		want  []string // lines; "!" prefix marks errLineTooLong
	}{
		{"lines", "a\nb\r\n\nc", []string{"a", "b", "", "c"}},
		{"at the limit", strings.Repeat("y", 16) + "\r\nz\n", []string{strings.Repeat("y", 16), "z"}},
		{"over the limit", long + "\nnext\n", []string{"!" + long[:16], "next"}},
		{"over the limit at the end", long, []string{"!" + long[:16]}},
		{"one over", strings.Repeat("y", 17) + "\n", []string{"!" + strings.Repeat("y", 16)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A buffer smaller than a line: lines arrive in pieces.
			r := bufio.NewReaderSize(strings.NewReader(tt.input), 16)
			var got []string
			for {
				line, err := readLine(r, 16)
				if errors.Is(err, io.EOF) {
					break
				}
				switch {
				case errors.Is(err, errLineTooLong):
					got = append(got, "!"+string(line))
				case err != nil:
					t.Fatalf("readLine: %v", err)
				default:
					got = append(got, string(line))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		line   string
		kind   kind
		id     string
		method string
		code   int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, kindRequest, "1", "ping", 0},
		{`{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}`,
			kindRequest, `"a"`, "tools/call", 0},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			kindNotification, "", "notifications/initialized", 0},
		{`{"jsonrpc":"2.0","id":9007199254740993,"result":{}}`, kindResponse, "9007199254740993", "", 0},
		{`{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}`, kindResponse, "2", "", 0},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"`, 0, "", "", codeParseError},
		{`hello`, 0, "", "", codeParseError},
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 0, "", "", codeInvalidRequest},
		{`42`, 0, "", "", codeInvalidRequest},
		{`{"id":3,"method":"ping"}`, 0, "3", "", codeInvalidRequest},
		{`{"jsonrpc":"1.0","id":3,"method":"ping"}`, 0, "3", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, "", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":{},"method":"ping"}`, 0, "", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":4,"method":7}`, 0, "4", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":4,"method":"x","params":"p"}`, 0, "4", "x", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":5}`, 0, "5", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","result":{}}`, 0, "", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":6,"result":{},"error":{}}`, 0, "6", "", codeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			msg, rerr := parse([]byte(tt.line))
			code := 0
			if rerr != nil {
				code = rerr.Code
			}
			got := []any{msg.kind, string(msg.id), msg.method, code}
			want := []any{tt.kind, tt.id, tt.method, tt.code}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecoverID(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"a":"xxxx`, "17"},
		{`{"jsonrpc":"2.0", "id" : "req-1" ,"method":"x`, `"req-1"`},
		{`{"method":"x","params":{"id":5,"big":"xxxx`, ""},
		{`{"jsonrpc":"2.0","id":12`, ""}, // the number may go on
		{`{"jsonrpc":"2.0","id":null,"method":"x`, ""},
		{`[1,2`, ""},
		{`not json`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			if got := string(recoverID([]byte(tt.prefix))); got != tt.want {
				t.Errorf("recoverID = %q, want %q", got, tt.want)
			}
		})
	}
}
