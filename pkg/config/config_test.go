package config

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestOptionalString(t *testing.T) {
	empty, x, y := "", "x", "y"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want *string
	}{
		{"unset", nil, nil, nil},
		{"other variable", nil, map[string]string{"T_OTHER": "x"}, nil},
		{"environment", nil, map[string]string{"T_PREFIX": "x"}, &x},
		{"empty environment", nil, map[string]string{"T_PREFIX": ""}, &empty},
		{"flag", []string{"-prefix=y"}, nil, &y},
		{"empty flag", []string{"-prefix="}, nil, &empty},
		{"flag beats environment", []string{"-prefix", ""}, map[string]string{"T_PREFIX": "x"}, &empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader("test", "T_")
			l.SetLookupEnv(lookup(tt.env))
			// A value left over in the target must not pass for a given one.
			got := &y
			l.OptionalString(&got, "prefix", "name prefix")
			if err := l.Parse(tt.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("prefix mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var s string
	var p *string
	l := NewLoader("test", "T_")
	l.SetLookupEnv(lookup(nil))
	l.String(&s, "name", "demo", "provider name")
	l.OptionalString(&p, "prefix", "name prefix")
	var out bytes.Buffer
	l.Usage(&out)
	want := "Usage of test:\n" +
		"  -name (env T_NAME, default \"demo\")\n    \tprovider name\n" +
		"  -prefix (env T_PREFIX, unset by default)\n    \tname prefix\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("usage mismatch (-want +got):\n%s", diff)
	}
}
