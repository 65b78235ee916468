package stdio

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/config"
)

func TestConfigHeaders(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"none", nil, nil, nil},
		{"repeated flag", []string{"-header", "A: 1", "-url", "http://127.0.0.1:1/mcp",
			"-header=B: x, y"}, nil, []string{"A: 1", "B: x, y"}},
		{"variable", nil, map[string]string{"T_HEADER": "A: 1\n\nB: 2\n"}, []string{"A: 1", "B: 2"}},
		{"flag beats variable", []string{"-header", "C: 3"}, map[string]string{"T_HEADER": "A: 1"},
			[]string{"C: 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := config.NewLoader("test", "T_")
			l.SetLookupEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			var cfg Config
			cfg.Load(l)
			if err := cfg.Parse(l, tt.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, cfg.Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateHeaders(t *testing.T) {
	for _, h := range []string{"no colon", ": empty name", "Bad Name: x", "A: b\r\nC: d"} {
		cfg := Config{URL: "http://127.0.0.1:1/mcp", MaxLineBytes: 1024, ShutdownTimeout: 1,
			Headers: []string{h}}
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate accepted header %q", h)
		}
	}
}
