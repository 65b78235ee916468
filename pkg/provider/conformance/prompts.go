package conformance

import (
	"context"
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
