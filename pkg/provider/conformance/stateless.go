package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"switchboard.dev/pkg/provider"
)

// The diagnostic tools of the server-stateless scenario (SEP-2575) and the
// tool that the custom-header scenario (SEP-2243) needs. What those
// scenarios check is the gateway's answer, not the tools' result: the
// tools only give the gateway something to answer about.
// test_trigger_tool_change and test_trigger_prompt_change change the
// catalogue while the provider is registered; the provider registers
// again, and the registry tells the clients' subscriptions that the list
// changed.

// headerSchema mirrors its region argument into the Mcp-Param-Region
// header (SEP-2243); level is an ordinary argument.
const headerSchema = `{
	"type": "object",
	"properties": {
		"region": {
			"type": "string", "description": "Region, mirrored into Mcp-Param-Region",
			"x-mcp-header": "Region"
		},
		"level": {"type": "integer", "description": "An argument with no header"}
	}
}`

// HeaderIn is test_x_mcp_header's input.
type HeaderIn struct {
	Region string `json:"region,omitempty"`
	Level  int64  `json:"level,omitempty"`
}

func addStatelessTools(p *provider.Provider) {
	p.AddTool(provider.Tool{
		Name: "test_missing_capability",
		Description: "Asks the client's model a question whether or not the client " +
			"declared sampling; without it the call must fail with -32021 (SEP-2575)",
	}, func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		text, err := sample(ctx, "", "Say hello", 20)
		if err != nil {
			return nil, err
		}
		return provider.Text("LLM response: " + text), nil
	})
	p.AddTool(provider.Tool{
		Name: "test_streaming_elicitation",
		Description: "Asks the user for a confirmation mid-call; a 2026-07-28 client " +
			"must get it inside a result, never as a request on the stream (SEP-2575)",
	}, func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		ok, accepted, err := askFor[bool](ctx, "", "Continue?", confirmSchema, "confirm")
		if err != nil {
			return nil, err
		}
		if !accepted || !ok {
			return provider.Text("Stopped at the user's request."), nil
		}
		return provider.Text("Continued after the user's confirmation."), nil
	})
	p.AddTool(provider.Tool{
		Name: "test_logging_tool",
		Description: "Sends one info log message, which must not reach a client " +
			"that set no log level (SEP-2575)",
	}, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		if err := req.Log(ctx, provider.LogInfo, "", "test_logging_tool executed"); err != nil {
			return nil, err
		}
		return provider.Text("Sent one info log message."), nil
	})
	var toggling sync.Mutex
	p.AddTool(provider.Tool{
		Name: "test_trigger_tool_change",
		Description: "Adds the tool " + dynamicTool + ", or removes it when present, and " +
			"returns once the change is published (SEP-2575)",
	}, func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		toggling.Lock()
		defer toggling.Unlock()
		if p.RemoveTool(dynamicTool) {
			return published(ctx, p, "Removed the tool "+dynamicTool)
		}
		p.AddTool(provider.Tool{
			Name:        dynamicTool,
			Description: "Comes and goes with every call of test_trigger_tool_change",
		}, func(context.Context, *provider.Request) (*provider.Result, error) {
			return provider.Text("Here for now."), nil
		})
		return published(ctx, p, "Added the tool "+dynamicTool)
	})
	p.AddTool(provider.Tool{
		Name: "test_trigger_prompt_change",
		Description: "Adds the prompt " + dynamicPrompt + ", or removes it when present, and " +
			"returns once the change is published (SEP-2575)",
	}, func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		toggling.Lock()
		defer toggling.Unlock()
		if p.RemovePrompt(dynamicPrompt) {
			return published(ctx, p, "Removed the prompt "+dynamicPrompt)
		}
		p.AddPrompt(provider.Prompt{
			Name:        dynamicPrompt,
			Description: "Comes and goes with every call of test_trigger_prompt_change",
		}, func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
			return provider.UserPrompt("Here for now."), nil
		})
		return published(ctx, p, "Added the prompt "+dynamicPrompt)
	})
	provider.AddTypedTool(p, provider.Tool{
		Name:        "test_x_mcp_header",
		Description: "Echoes its region argument, which clients mirror into a header (SEP-2243)",
		InputSchema: json.RawMessage(headerSchema),
	}, func(_ context.Context, in HeaderIn) (string, error) {
		return "region=" + in.Region, nil
	})
}

// The entries that the trigger tools add and remove.
const (
	dynamicTool   = "test_dynamic_tool"
	dynamicPrompt = "test_dynamic_prompt"
)

// publishTimeout bounds the wait for the registry to read a changed
// catalogue.
const publishTimeout = 10 * time.Second

// published waits until the registry has read p's changed catalogue, so
// that the client's next list, and the list_changed notification, follow
// the call's result.
func published(ctx context.Context, p *provider.Provider, done string) (*provider.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	switch err := p.Sync(ctx); {
	case errors.Is(err, provider.ErrNotRegistered):
		return provider.Text(done + "; no registry was told, as the provider is not registered."), nil
	case err != nil:
		return nil, err
	}
	return provider.Text(done + "."), nil
}
