package suite

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddProvider(t *testing.T) {
	cfg := fakeConfig(t)
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })

	p, err := s.AddProvider(t.Context(), Provider{Name: "extra", Args: []string{"-log-format=json"}})
	if err != nil {
		t.Fatalf("AddProvider(extra): %v", err)
	}
	if p.Name != "provider-extra" || !p.Running() {
		t.Errorf("added %s, running %v; want provider-extra, running", p.Name, p.Running())
	}
	for _, arg := range []string{"-registry-addr=" + s.Registry.GRPCAddr, "-name=extra",
		"-log-format=json"} {
		if !slices.Contains(p.Args(), arg) {
			t.Errorf("args %q lack %s", p.Args(), arg)
		}
	}
	if !slices.Contains(s.Processes(), p) {
		t.Error("Processes() lacks the added provider")
	}

	for _, pc := range []Provider{{Name: "demo"}, {Name: "extra"}, {}} {
		if _, err := s.AddProvider(t.Context(), pc); err == nil {
			t.Errorf("AddProvider(%q) succeeded, want an error", pc.Name)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop() = %v", err)
	}
	if p.Running() {
		t.Error("the added provider still runs after Stop")
	}
}

func TestAddProviderWithoutTools(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.ReadyTimeout = 2 * time.Second
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	// The fake registry lists no tool of a provider named ghost.
	_, err = s.AddProvider(t.Context(), Provider{Name: "ghost"})
	if err == nil || !strings.Contains(err.Error(), `no tools of provider "ghost"`) {
		t.Errorf("AddProvider(ghost) = %v, want no tools within the ready timeout", err)
	}
}
