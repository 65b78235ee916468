package suite

import (
	"context"
	"fmt"
	"time"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// waitTools polls the registry until each of procs has tools in the
// catalogue, since a provider reports healthy before its registration
// is done.
func (s *Suite) waitTools(ctx context.Context, procs []*Process) error {
	if len(procs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	conn, err := dial(s.Registry.GRPCAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rc := registryv1.NewRegistryServiceClient(conn)
	for {
		missing, err := missingProviders(ctx, rc, procs)
		if err == nil && len(missing) == 0 {
			s.log.Info("tools listed", "providers", len(procs))
			return nil
		}
		select {
		case <-ctx.Done():
			return s.toolsTimeout(missing, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Suite) toolsTimeout(missing []*Process, err error) error {
	if err != nil {
		return fmt.Errorf("list tools: %w%s", err, s.Registry.tail())
	}
	p := missing[0]
	return fmt.Errorf("no tools of provider %q in the registry within %s%s%s",
		p.provider, s.cfg.ReadyTimeout, p.tail(), s.Registry.tail())
}

// missingProviders returns the providers that have no tool in the
// catalogue.
func missingProviders(ctx context.Context, rc registryv1.RegistryServiceClient,
	procs []*Process) ([]*Process, error) {
	seen := map[string]bool{}
	token := ""
	for {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := rc.ListTools(callCtx, &registryv1.ListToolsRequest{PageToken: token})
		cancel()
		if err != nil {
			return nil, err
		}
		for _, t := range resp.GetTools() {
			seen[t.GetProvider()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var missing []*Process
	for _, p := range procs {
		if !seen[p.provider] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}
