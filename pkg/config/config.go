// Package config binds a service's typed settings to command-line flags and
// environment variables, so that each service declares every setting once,
// with its default and its documentation.
//
// A setting named "grpc-addr" in a loader with prefix "SWITCHBOARD_SESSION_"
// is read from the flag -grpc-addr, else from SWITCHBOARD_SESSION_GRPC_ADDR,
// else from its default:
//
//	l := config.NewLoader("session", "SWITCHBOARD_SESSION_")
//	l.String(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7100", "gRPC listen address")
//	if err := l.Parse(os.Args[1:]); err != nil { ... }
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Setting documents one setting, for help output and the README.
type Setting struct {
	Flag    string
	Env     string
	Default string
	Usage   string
	// Optional marks a setting that may be left unset, which is not the
	// same as set to its zero value; Default is then empty.
	Optional bool
}

// Loader collects settings and parses them from flags and the environment.
type Loader struct {
	fs       *flag.FlagSet
	prefix   string
	settings []Setting
	errs     []error
	lookup   func(string) (string, bool)
}

// NewLoader returns a loader for the named program whose environment
// variables start with envPrefix.
func NewLoader(program, envPrefix string) *Loader {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Loader{fs: fs, prefix: envPrefix, lookup: os.LookupEnv}
}

// SetLookupEnv replaces the environment lookup; tests use it.
func (l *Loader) SetLookupEnv(f func(string) (string, bool)) { l.lookup = f }

// EnvName returns the environment variable that backs the named setting.
func (l *Loader) EnvName(name string) string {
	return l.prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Settings lists every declared setting in declaration order.
func (l *Loader) Settings() []Setting { return l.settings }

// env returns the environment value for name, and records the setting.
func (l *Loader) env(name, def, usage string) (string, bool) {
	return l.declare(Setting{Flag: name, Default: def, Usage: usage})
}

// declare records s, naming its variable, and returns that variable's
// value.
func (l *Loader) declare(s Setting) (string, bool) {
	s.Env = l.EnvName(s.Flag)
	l.settings = append(l.settings, s)
	return l.lookup(s.Env)
}

// bad records a malformed environment value, naming the variable.
func (l *Loader) bad(name, value string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: %w", l.EnvName(name), value, err))
}

// String declares a string setting.
func (l *Loader) String(p *string, name, def, usage string) {
	if v, ok := l.env(name, def, usage); ok {
		def = v
	}
	l.fs.StringVar(p, name, def, usage)
}

// Bool declares a boolean setting.
func (l *Loader) Bool(p *bool, name string, def bool, usage string) {
	if v, ok := l.env(name, strconv.FormatBool(def), usage); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.bad(name, v, err)
		}
		def = b
	}
	l.fs.BoolVar(p, name, def, usage)
}

// Int declares an integer setting.
func (l *Loader) Int(p *int, name string, def int, usage string) {
	if v, ok := l.env(name, strconv.Itoa(def), usage); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.bad(name, v, err)
		}
		def = n
	}
	l.fs.IntVar(p, name, def, usage)
}

// Int64 declares a 64-bit integer setting.
func (l *Loader) Int64(p *int64, name string, def int64, usage string) {
	if v, ok := l.env(name, strconv.FormatInt(def, 10), usage); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			l.bad(name, v, err)
		}
		def = n
	}
	l.fs.Int64Var(p, name, def, usage)
}

// Duration declares a duration setting such as "15s".
func (l *Loader) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := l.env(name, def.String(), usage); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.bad(name, v, err)
		}
		def = d
	}
	l.fs.DurationVar(p, name, def, usage)
}

// OptionalString declares a string setting that may be left unset: *p
// stays nil when neither the flag nor the variable is given, and points
// at the given value otherwise, even an empty one. It suits settings
// whose empty value means something other than their default.
func (l *Loader) OptionalString(p **string, name, usage string) {
	*p = nil
	if v, ok := l.declare(Setting{Flag: name, Usage: usage, Optional: true}); ok {
		*p = &v
	}
	l.fs.Func(name, usage, func(s string) error {
		*p = &s
		return nil
	})
}

// List declares a comma-separated list setting.
func (l *Loader) List(p *[]string, name string, def []string, usage string) {
	joined := strings.Join(def, ",")
	if v, ok := l.env(name, joined, usage); ok {
		joined = v
	}
	*p = splitList(joined)
	l.fs.Func(name, usage, func(s string) error {
		*p = splitList(s)
		return nil
	})
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// ErrHelp is returned by Parse when -h or -help was given. Parse writes
// nothing itself: the caller writes the help with Usage.
var ErrHelp = flag.ErrHelp

// Parse reads the environment and then args. Malformed values are
// reported together, each naming its flag or variable.
func (l *Loader) Parse(args []string) error {
	if err := l.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		l.errs = append(l.errs, err)
	}
	if l.fs.NArg() > 0 {
		l.errs = append(l.errs, fmt.Errorf("unexpected arguments: %q", l.fs.Args()))
	}
	return errors.Join(l.errs...)
}

// Usage writes every setting with its flag, variable and default.
func (l *Loader) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s:\n", l.fs.Name())
	for _, s := range l.settings {
		def := fmt.Sprintf("default %q", s.Default)
		if s.Optional {
			def = "unset by default"
		}
		fmt.Fprintf(w, "  -%s (env %s, %s)\n    \t%s\n", s.Flag, s.Env, def, s.Usage)
	}
}
