package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the content of the upstreams file:
//
//	allowAdminStdio: false
//	upstreams:
//	  - name: everything
//	    transport: http
//	    url: http://127.0.0.1:9000/mcp
//	  - name: files
//	    transport: stdio
//	    command: npx
//	    args: [-y, "@modelcontextprotocol/server-filesystem", /srv]
type File struct {
	// AllowAdminStdio lets the admin API declare stdio upstreams. It is
	// off by default because such a declaration runs a command on every
	// registry replica.
	AllowAdminStdio bool `yaml:"allowAdminStdio"`
	// Upstreams are the declarations, each with Source set to file.
	Upstreams []Spec `yaml:"upstreams"`
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)
	// headerRE is the token syntax of an HTTP field name (RFC 9110, 5.1).
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// ParseFile decodes and validates the upstreams file. Unknown keys are
// errors that name the key and its line; an empty file declares nothing.
func ParseFile(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, fmt.Errorf("parse: %w", decodeError(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return File{}, errors.New("parse: want one YAML document")
	}
	seen := make(map[string]int, len(f.Upstreams))
	for i := range f.Upstreams {
		s := &f.Upstreams[i]
		s.Source = SourceFile
		if err := Validate(*s); err != nil {
			return File{}, fmt.Errorf("upstreams[%d]: %w", i, err)
		}
		if j, dup := seen[s.Name]; dup {
			return File{}, fmt.Errorf("upstreams[%d]: name %q: already used by upstreams[%d]",
				i, s.Name, j)
		}
		seen[s.Name] = i
	}
	return f, nil
}

// unknownKeyRE matches yaml.v3's report of a key that no field takes.
var unknownKeyRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)

// decodeError rewords yaml.v3's reports of unknown keys, which name a Go
// type, in the file's terms.
func decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownKeyRE.ReplaceAllString(m, `line $1: unknown key "$2"`)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// FileSource is the upstreams file: its version at start, then every
// new version that parses.
type FileSource struct {
	log      *slog.Logger
	path     string
	interval time.Duration
	first    File
	last     [sha256.Size]byte
}

// OpenFile reads and parses the upstreams file at path; the registry
// refuses to start with a file that does not parse. Watch then polls it
// every interval.
func OpenFile(log *slog.Logger, path string, interval time.Duration) (*FileSource, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read upstreams file: %w", err)
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("upstreams file %s: %w", path, err)
	}
	return &FileSource{log: log, path: path, interval: interval, first: f,
		last: sha256.Sum256(data)}, nil
}

// File returns the version read by OpenFile.
func (s *FileSource) File() File { return s.first }

// Validate checks one declaration. Errors name the offending field.
func Validate(s Spec) error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("name %q: want 1 to 64 letters, digits, '_' or '-'", s.Name)
	}
	if s.Prefix != nil && !prefixRE.MatchString(*s.Prefix) {
		return fmt.Errorf("%s: prefix %q: want up to 64 letters, digits, '_' or '-'",
			s.Name, *s.Prefix)
	}
	var err error
	switch s.Transport {
	case TransportHTTP, TransportSSE:
		err = validateRemote(s)
	case TransportStdio:
		err = validateStdio(s)
	case "":
		err = errors.New("transport: required (http, sse or stdio)")
	default:
		err = fmt.Errorf("transport %q: want http, sse or stdio", s.Transport)
	}
	if err == nil {
		err = validateCommon(s)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

// validateRemote checks the fields of an http or sse upstream.
func validateRemote(s Spec) error {
	if s.URL == "" {
		return fmt.Errorf("url: required with transport %s", s.Transport)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an absolute http or https URL", s.URL)
	}
	if u.User != nil {
		return fmt.Errorf("url: put credentials in headers, not in the URL")
	}
	stdio := []struct {
		field string
		set   bool
	}{{"command", s.Command != ""}, {"args", len(s.Args) > 0},
		{"env", len(s.Env) > 0}, {"dir", s.Dir != ""}}
	for _, f := range stdio {
		if f.set {
			return fmt.Errorf("%s: only a stdio upstream has one", f.field)
		}
	}
	for name, value := range s.Headers {
		if !headerRE.MatchString(name) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("headers: %s: the value holds a line break or NUL", name)
		}
	}
	return nil
}

// validateStdio checks the fields of a stdio upstream.
func validateStdio(s Spec) error {
	switch {
	case s.Command == "":
		return errors.New("command: required with transport stdio")
	case s.URL != "":
		return errors.New("url: a stdio upstream has none")
	case len(s.Headers) > 0:
		return errors.New("headers: a stdio upstream has none")
	}
	for name := range s.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return fmt.Errorf("env: %q is not a valid variable name", name)
		}
	}
	return nil
}

// validateCommon checks the fields every transport shares.
func validateCommon(s Spec) error {
	if s.ConnectTimeout < 0 {
		return fmt.Errorf("connectTimeout %s: want zero or more", s.ConnectTimeout)
	}
	if s.CallTimeout < 0 {
		return fmt.Errorf("callTimeout %s: want zero or more", s.CallTimeout)
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"tools.include", s.Tools.Include}, {"tools.exclude", s.Tools.Exclude}} {
		for _, n := range list.names {
			if n == "" {
				return fmt.Errorf("%s: names must not be empty", list.field)
			}
		}
	}
	return nil
}

// Watch reads the file every interval until ctx ends and calls apply
// with each new version that parses. Polling the content, rather than
// watching the file system, also sees the symlink swap by which
// Kubernetes updates a mounted ConfigMap. A version that does not parse,
// or a file that cannot be read, is logged once and the last good version
// stays in force.
func (s *FileSource) Watch(ctx context.Context, apply func(File)) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if f, ok := s.poll(); ok {
			apply(f)
		}
	}
}

// poll reads the file once and reports a new version that parses.
func (s *FileSource) poll() (File, bool) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		// The error counts as a version of its own, so that it is logged
		// once and the file's return counts as a change.
		if sum := sha256.Sum256([]byte(err.Error())); sum != s.last {
			s.log.Warn("upstreams file unreadable; keeping the last good version",
				"path", s.path, "err", err)
			s.last = sum
		}
		return File{}, false
	}
	sum := sha256.Sum256(data)
	if sum == s.last {
		return File{}, false
	}
	s.last = sum
	f, err := ParseFile(data)
	if err != nil {
		s.log.Warn("upstreams file invalid; keeping the last good version",
			"path", s.path, "err", err)
		return File{}, false
	}
	s.log.Info("upstreams file reloaded", "path", s.path, "upstreams", len(f.Upstreams))
	return f, true
}
