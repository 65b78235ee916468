package suite

import (
	"context"
	"errors"
	"fmt"
)

// AddProvider starts one more provider in the running suite, as a provider
// that comes up late would, and waits until its tools are in the
// registry's catalogue. Stop stops it with the others; stopping it earlier
// deregisters it. AddProvider must not run concurrently with itself or
// with Stop.
func (s *Suite) AddProvider(ctx context.Context, pc Provider) (*Process, error) {
	if pc.Name == "" {
		return nil, errors.New("suite: add provider: name is required")
	}
	for _, p := range s.Providers {
		if p.provider == pc.Name {
			return nil, fmt.Errorf("suite: add provider: %q already runs", pc.Name)
		}
	}
	port := pc.Port
	if port == 0 {
		ports, err := FreePorts(1)
		if err != nil {
			return nil, err
		}
		port = ports[0]
	}
	p := s.provider(pc, loopback(port))
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	s.Providers = append(s.Providers, p)
	if err := s.waitTools(ctx, []*Process{p}); err != nil {
		return nil, err
	}
	return p, nil
}
