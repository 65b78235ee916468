package provider_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

func promptNames(prompts []*providerv1.Prompt) []string {
	var names []string
	for _, p := range prompts {
		names = append(names, p.GetName())
	}
	return names
}

func noop(context.Context, *provider.Request) (*provider.Result, error) {
	return provider.Text("ok"), nil
}

func noPrompt(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
	return provider.UserPrompt("ok"), nil
}

func noRead(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
	return provider.TextResource(req.URI, "text/plain", "ok"), nil
}

// TestCatalogueChange changes the catalogue of a registered provider and
// checks that Sync returns once the registry has read the change.
func TestCatalogueChange(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := provider.New("live", nil)
	p.AddTool(provider.Tool{Name: "first"}, noop)
	_, stop := run(t, p, provider.RunOptions{
		ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr, LeaseTTL: time.Minute,
	})
	reg.Await(t, "live", func(r providertest.Record) bool { return r.Live })

	tests := []struct {
		name        string
		change      func()
		tools       []string
		prompts     []string
		resources   int
		templates   int
		failings    int
		wantChanged bool
	}{
		{name: "add a tool", change: func() { p.AddTool(provider.Tool{Name: "second"}, noop) },
			tools: []string{"first", "second"}, wantChanged: true},
		{name: "add a prompt", change: func() { p.AddPrompt(provider.Prompt{Name: "hi"}, noPrompt) },
			tools: []string{"first", "second"}, prompts: []string{"hi"}, wantChanged: true},
		{name: "remove a tool", change: func() {
			if !p.RemoveTool("first") {
				t.Error("RemoveTool(first) = false")
			}
		}, tools: []string{"second"}, prompts: []string{"hi"}, wantChanged: true},
		{name: "remove what is not there", change: func() {
			if p.RemoveTool("first") || p.RemovePrompt("nope") || p.RemoveResource("x://y") ||
				p.RemoveResourceTemplate("x://{y}") {
				t.Error("removing a missing entry reported true")
			}
		}, tools: []string{"second"}, prompts: []string{"hi"}},
		{name: "resources come and go", change: func() {
			p.AddResource(provider.Resource{URI: "x://y", Name: "y"}, noRead)
			p.AddResourceTemplate(provider.ResourceTemplate{URITemplate: "x://{y}", Name: "y"},
				noRead)
			p.RemovePrompt("hi")
		}, tools: []string{"second"}, resources: 1, templates: 1, wantChanged: true},
		{
			// While the registry refuses the new catalogue, the old lease
			// is kept alive and the registration retried.
			name: "registration fails at first", failings: 2,
			change: func() {
				p.RemoveResource("x://y")
				p.RemoveResourceTemplate("x://{y}")
			},
			tools: []string{"second"}, wantChanged: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := reg.Lookup("live")
			reg.FailRegistrations(tt.failings)
			tt.change()
			if err := p.Sync(t.Context()); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			rec, _ := reg.Lookup("live")
			if !rec.Live {
				t.Fatal("provider not live after the change")
			}
			got := struct {
				Tools, Prompts       []string
				Resources, Templates int
			}{toolNames(rec.Tools), promptNames(rec.Prompts), len(rec.Resources),
				len(rec.ResourceTemplates)}
			want := struct {
				Tools, Prompts       []string
				Resources, Templates int
			}{tt.tools, tt.prompts, tt.resources, tt.templates}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("catalogue the registry read (-want +got):\n%s", diff)
			}
			if changed := rec.Registrations > before.Registrations; changed != tt.wantChanged {
				t.Errorf("registered again = %v, want %v", changed, tt.wantChanged)
			}
		})
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec, _ := reg.Lookup("live")
	if rec.Live || rec.Deregistrations != 1 {
		t.Errorf("after shutdown live=%v deregistrations=%d, want false, 1",
			rec.Live, rec.Deregistrations)
	}
	if err := p.Sync(t.Context()); !errors.Is(err, provider.ErrNotRegistered) {
		t.Errorf("Sync after shutdown: %v, want ErrNotRegistered", err)
	}
}

// TestCatalogueChangeConcurrent changes the catalogue from many
// goroutines at once, each waiting for its change to be published.
func TestCatalogueChangeConcurrent(t *testing.T) {
	reg := providertest.NewRegistry(t)
	p := provider.New("busy", nil)
	_, stop := run(t, p, provider.RunOptions{
		ListenAddr: "127.0.0.1:0", RegistryAddr: reg.Addr, LeaseTTL: time.Minute,
	})
	reg.Await(t, "busy", func(r providertest.Record) bool { return r.Live })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				name := fmt.Sprintf("t%d_%d", i, j)
				p.AddTool(provider.Tool{Name: name}, noop)
				if j%2 == 1 {
					p.RemoveTool(name)
				}
				if err := p.Sync(t.Context()); err != nil {
					t.Errorf("Sync: %v", err)
				}
			}
		})
	}
	wg.Wait()
	rec, _ := reg.Lookup("busy")
	if diff := cmp.Diff(toolNames(providerTools(p)), toolNames(rec.Tools)); diff != "" ||
		len(rec.Tools) != 8*3 {
		t.Errorf("registry has %d tools, want 24; diff with the provider's (-want +got):\n%s",
			len(rec.Tools), diff)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func providerTools(p *provider.Provider) []*providerv1.Tool {
	var out []*providerv1.Tool
	for _, t := range p.Tools() {
		out = append(out, &providerv1.Tool{Name: t.Name})
	}
	return out
}

// TestSyncNotRegistered checks that Sync does not wait for a provider
// that is not registered.
func TestSyncNotRegistered(t *testing.T) {
	p := provider.New("alone", nil)
	p.AddTool(provider.Tool{Name: "t"}, noop)
	if err := p.Sync(t.Context()); !errors.Is(err, provider.ErrNotRegistered) {
		t.Errorf("Sync: %v, want ErrNotRegistered", err)
	}
}
