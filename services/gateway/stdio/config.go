package stdio

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"switchboard.dev/pkg/config"
)

// Config holds every setting of the stdio bridge.
type Config struct {
	// URL is the gateway's MCP endpoint. Default http://127.0.0.1:8080/mcp.
	URL string
	// MaxLineBytes caps one line read from stdin; a longer line is
	// discarded while it is read and answered with a parse error.
	// Default 4 MiB, the gateway's default body limit.
	MaxLineBytes int
	// Headers are extra "Name: value" HTTP headers sent with every request
	// (an Authorization header, say). The -header flag may be repeated;
	// the variable holds one header per line.
	Headers []string
	// ShutdownTimeout bounds the wait, once stdin ends or a signal comes,
	// for answers still in flight and for the DELETE that ends the
	// session. Default 10s.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the bridge keeps relaying after stdin ends
	// before it waits for answers in flight. Default 0s.
	DrainDelay time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string

	header string // the last -header or the variable, one header per line
}

// Load declares the bridge's settings on l. Parse with c.Parse, then call
// Validate.
func (c *Config) Load(l *config.Loader) {
	l.String(&c.URL, "url", "http://127.0.0.1:8080/mcp", "gateway MCP endpoint (Streamable HTTP)")
	l.Int(&c.MaxLineBytes, "max-line-bytes", 4<<20, "longest accepted stdin line in bytes")
	l.String(&c.header, "header", "",
		"extra HTTP header 'Name: value'; repeat the flag for more (the variable: one per line)")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second,
		"grace period for answers in flight and the session DELETE")
	l.Duration(&c.DrainDelay, "drain-delay", 0, "time to keep relaying after stdin ends")
	l.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	l.String(&c.LogFormat, "log-format", "text", "text or json")
}

// Parse parses args with l, which Load prepared, and collects every
// -header flag: the loader alone keeps only the last one.
func (c *Config) Parse(l *config.Loader, args []string) error {
	if err := l.Parse(args); err != nil {
		return err
	}
	flagged := repeated(l.Settings(), "header", args)
	if len(flagged) > 0 {
		c.Headers = flagged
		return nil
	}
	for _, h := range strings.Split(c.header, "\n") {
		if h = strings.TrimSpace(h); h != "" {
			c.Headers = append(c.Headers, h)
		}
	}
	return nil
}

// repeated returns every value given for the flag name in args. It parses
// args a second time with a flag set shaped like the loader's, so that it
// reads them exactly as the loader did; every setting of the bridge takes
// a value, so each is declared as a string.
func repeated(settings []config.Setting, name string, args []string) []string {
	var out []string
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings {
		if s.Flag == name {
			fs.Func(s.Flag, "", func(v string) error { out = append(out, v); return nil })
			continue
		}
		fs.String(s.Flag, "", "")
	}
	if fs.Parse(args) != nil {
		return nil
	}
	return out
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", c.URL))
	}
	if c.MaxLineBytes < 1024 {
		errs = append(errs, fmt.Errorf("max-line-bytes: %d is below the minimum of 1024",
			c.MaxLineBytes))
	}
	if _, err := parseHeaders(c.Headers); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout: must be positive"))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, errors.New("drain-delay: must not be negative"))
	}
	return errors.Join(errs...)
}

// parseHeaders turns "Name: value" strings into a header.
func parseHeaders(list []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range list {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || !validToken(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("header: %q is not 'Name: value'", s)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	return h, nil
}

// validToken reports whether s is an HTTP header name (RFC 9110, token).
func validToken(s string) bool {
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
