package registry

import (
	"encoding/base64"
	"unicode/utf8"
)

// cursorVersion leads every page token, so that the token format can
// change without misreading tokens that clients still hold.
const cursorVersion = 1

// encodeCursor returns the page token that resumes after exposed name
// last.
func encodeCursor(last string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{cursorVersion}, last...))
}

// decodeCursor returns the exposed name a page token resumes after. An
// empty token starts at the beginning.
func decodeCursor(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 2 || b[0] != cursorVersion || !utf8.Valid(b[1:]) {
		return "", errorf(ErrInvalid, "invalid cursor")
	}
	return string(b[1:]), nil
}
