package conformance

import (
	"context"
	"encoding/json"
	"fmt"

	"switchboard.dev/pkg/provider"
)

func addPrompts(p *provider.Provider) {
	p.AddPrompt(provider.Prompt{
		Name: "test_simple_prompt", Title: "Simple Test Prompt",
		Description: "A simple prompt without arguments",
	}, func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
		return provider.UserPrompt("This is a simple prompt for testing."), nil
	})
	cities := completeFrom("paris", "park", "party")
	p.AddPrompt(provider.Prompt{
		Name: "test_prompt_with_arguments", Title: "Prompt With Arguments",
		Description: "A prompt with required arguments",
		Arguments: []provider.PromptArgument{
			{Name: "arg1", Description: "First test argument", Required: true, Complete: cities},
			{Name: "arg2", Description: "Second test argument", Required: true, Complete: cities},
		},
	}, func(_ context.Context, req *provider.PromptRequest) (*provider.PromptResult, error) {
		return provider.UserPrompt(fmt.Sprintf("Prompt with arguments: arg1='%s', arg2='%s'",
			req.Arguments["arg1"], req.Arguments["arg2"])), nil
	})
	p.AddPrompt(provider.Prompt{
		Name: "test_prompt_with_embedded_resource", Title: "Prompt With Embedded Resource",
		Description: "A prompt that includes an embedded resource",
		Arguments: []provider.PromptArgument{
			{Name: "resourceUri", Description: "URI of the resource to embed", Required: true},
		},
	}, embeddedResourcePrompt)
	p.AddPrompt(provider.Prompt{
		Name: "test_prompt_with_image", Title: "Prompt With Image",
		Description: "A prompt that includes image content",
	}, func(context.Context, *provider.PromptRequest) (*provider.PromptResult, error) {
		return &provider.PromptResult{Messages: []provider.PromptMessage{
			provider.UserMessage(provider.ImageBlock(pngPixel, "image/png")),
			provider.UserMessage(provider.TextBlock("Please analyze the image above.")),
		}}, nil
	})
	p.AddPrompt(provider.Prompt{
		Name: "test_input_required_result_prompt", Title: "Prompt Asking For Context",
		Description: "Asks the user which context to use, then renders a prompt with it " +
			"(SEP-2322)",
	}, contextPrompt)
}

// contextKey names the question of test_input_required_result_prompt, as
// the non-tool-request scenario expects.
const contextKey = "user_context"

// contextSchema is the question's requestedSchema.
const contextSchema = `{"type":"object","properties":{"context":{"type":"string"}},` +
	`"required":["context"]}`

// contextPrompt asks a stateless client for a context with an
// input_required result, and renders the prompt with the answer of the
// client's retry. A client that cannot answer, or declines, gets the
// prompt without a context.
func contextPrompt(_ context.Context, req *provider.PromptRequest) (
	*provider.PromptResult, error) {
	if !req.AcceptsInputRequired() {
		return provider.UserPrompt("Answer without any particular context."), nil
	}
	if res, ok := req.ElicitResponse(contextKey); ok {
		var content struct {
			Context string `json:"context"`
		}
		if res.Action != "accept" {
			return provider.UserPrompt("Answer without any particular context."), nil
		}
		if json.Unmarshal(res.Content, &content) == nil && content.Context != "" {
			return provider.UserPrompt("Answer using this context: " + content.Context), nil
		}
	}
	// No usable answer yet: ask (again). The state only marks the retry
	// as one of this prompt's rounds; the provider signs it.
	return nil, &provider.InputRequired{
		Requests: map[string]provider.InputRequest{contextKey: provider.ElicitInput(formParams{
			"What context should the prompt use?", json.RawMessage(contextSchema),
		})},
		State: "asked:" + contextKey,
	}
}

// embeddedResourcePrompt embeds a text resource at the URI given.
func embeddedResourcePrompt(_ context.Context, req *provider.PromptRequest) (
	*provider.PromptResult, error) {
	uri := req.Arguments["resourceUri"]
	if uri == "" {
		return nil, fmt.Errorf("%w: resourceUri is empty", provider.ErrInvalidArguments)
	}
	return &provider.PromptResult{Messages: []provider.PromptMessage{
		provider.UserMessage(provider.ResourceBlock(provider.ResourceContents{
			URI: uri, MIMEType: "text/plain", Text: "Embedded resource content for testing.",
		})),
		provider.UserMessage(provider.TextBlock("Please process the embedded resource above.")),
	}}, nil
}
