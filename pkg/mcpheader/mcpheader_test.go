package mcpheader_test

import (
	"errors"
	"testing"

	"switchboard.dev/pkg/mcpheader"
)

func TestRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"us-west1":           "us-west1",
		" padded ":           "=?base64?IHBhZGRlZCA=?=",
		"line1\nline2":       "=?base64?bGluZTEKbGluZTI=?=",
		"=?base64?literal?=": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
		"Hello, 世界":          "=?base64?SGVsbG8sIOS4lueVjA==?=",
	} {
		got := mcpheader.Encode(in)
		if got != want {
			t.Errorf("Encode(%q) = %q, want %q", in, got, want)
		}
		if back, err := mcpheader.Decode(got); err != nil || back != in {
			t.Errorf("Decode(%q) = %q, %v; want %q", got, back, err, in)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"a\x00b", mcpheader.ErrBadChars},
		{"caf\xc3\xa9", mcpheader.ErrBadChars},
		{"=?base64?!!!?=", mcpheader.ErrBadBase64},
		{"=?base64?/w==?=", mcpheader.ErrBadBase64}, // 0xff is no UTF-8
	}
	for _, tc := range tests {
		if _, err := mcpheader.Decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
	if got, err := mcpheader.Decode("  tab\tand space "); err != nil || got != "  tab\tand space " {
		t.Errorf("Decode kept %q, %v; want the text as it is", got, err)
	}
}
