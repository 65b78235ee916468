// Package mcpheader encodes and decodes the values the stateless
// generation of MCP (2026-07-28) mirrors into HTTP headers: Mcp-Name and
// Mcp-Param-{Name}. A value that a header cannot carry as it is travels in
// the Base64 sentinel form "=?base64?...?=" (Streamable HTTP, Value
// Encoding). The gateway decodes Mcp-Name, the registry decodes
// Mcp-Param headers against a tool's schema, and the stdio bridge encodes
// both for the clients it stands in for.
package mcpheader

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
)

const prefix, suffix = "=?base64?", "?="

// ErrBadChars and ErrBadBase64 are what Decode refuses.
var (
	ErrBadChars  = errors.New("the value has characters a header may not carry")
	ErrBadBase64 = errors.New("the value is not valid Base64 of UTF-8 text")
)

// Decode returns the value a header carries: the header text as it is, or
// the decoded text of the sentinel form. Characters outside visible ASCII,
// space and tab are refused.
func Decode(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return "", ErrBadChars
		}
	}
	if !sentinel(v) {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(v[len(prefix) : len(v)-len(suffix)])
	if err != nil || !utf8.Valid(b) {
		return "", ErrBadBase64
	}
	return string(b), nil
}

// Encode writes v as a header may carry it: as it is when it is visible
// ASCII with no surrounding space and does not look like the sentinel,
// else in the sentinel form.
func Encode(v string) string {
	plain := v != "" && v == strings.TrimSpace(v) && !sentinel(v)
	for i := 0; plain && i < len(v); i++ {
		plain = v[i] >= 0x20 && v[i] < 0x7f
	}
	if plain {
		return v
	}
	return prefix + base64.StdEncoding.EncodeToString([]byte(v)) + suffix
}

func sentinel(v string) bool {
	return len(v) >= len(prefix)+len(suffix) && strings.HasPrefix(v, prefix) && strings.HasSuffix(v, suffix)
}
