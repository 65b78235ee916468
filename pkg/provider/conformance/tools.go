package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"switchboard.dev/pkg/provider"
)

// Texts that scenarios or their documentation spell out.
const (
	simpleText      = "This is a simple text response for testing."
	errorText       = "This tool intentionally returns an error for testing"
	embeddedText    = "This is an embedded resource content."
	reconnectedText = "Reconnection test completed successfully. If you received this, " +
		"the client properly reconnected after stream closure."
)

// stepDelay is the pause between the messages of the logging and
// progress tools, which lets a client see them arrive one by one.
const stepDelay = 50 * time.Millisecond

// schema2020 is the input schema of json_schema_2020_12_tool: every
// keyword must survive tools/list verbatim (SEP-1613, SEP-2106).
const schema2020 = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type": "object",
	"$defs": {
		"address": {
			"$anchor": "addressDef",
			"type": "object",
			"properties": {
				"street": {"type": "string"},
				"city": {"type": "string"}
			}
		}
	},
	"properties": {
		"name": {"type": "string"},
		"address": {"$ref": "#/$defs/address"},
		"contactMethod": {"type": "string", "enum": ["phone", "email"]},
		"phone": {"type": "string"},
		"email": {"type": "string"}
	},
	"allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
	"if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
	"then": {"required": ["phone"]},
	"else": {"required": ["email"]},
	"additionalProperties": false
}`

func addTools(p *provider.Provider) {
	addContentTools(p)
	p.AddTool(provider.Tool{
		Name:        "test_tool_with_logging",
		Description: "Tests tool that emits log messages during execution",
	}, withLogging)
	p.AddTool(provider.Tool{
		Name:        "test_tool_with_progress",
		Description: "Tests tool that reports progress notifications",
	}, withProgress)
	p.AddTool(provider.Tool{
		Name:        "test_error_handling",
		Description: "Tests error response handling",
	}, func(context.Context, *provider.Request) (*provider.Result, error) {
		return provider.Errorf(errorText), nil
	})
	p.AddTool(provider.Tool{
		Name: "test_reconnection",
		Description: "Tests SSE stream disconnection and client reconnection (SEP-1699). " +
			"Server will close the stream mid-call and send the result after client reconnects.",
	}, reconnection)
	p.AddTool(provider.Tool{
		Name: "json_schema_2020_12_tool",
		Description: "Tool with JSON Schema 2020-12 features for conformance testing " +
			"(SEP-1613, SEP-2106)",
		InputSchema: json.RawMessage(schema2020),
	}, func(_ context.Context, req *provider.Request) (*provider.Result, error) {
		return provider.Text("JSON Schema 2020-12 tool called with: " + string(req.Arguments)), nil
	})
	addClientTools(p)
}

// addContentTools adds the tools that return each kind of content block.
func addContentTools(p *provider.Provider) {
	static := func(name, description string, blocks ...json.RawMessage) {
		p.AddTool(provider.Tool{Name: name, Description: description},
			func(context.Context, *provider.Request) (*provider.Result, error) {
				return &provider.Result{Content: blocks}, nil
			})
	}
	static("test_simple_text", "Tests simple text content response", provider.TextBlock(simpleText))
	static("test_image_content", "Tests image content response",
		provider.ImageBlock(pngPixel, "image/png"))
	static("test_audio_content", "Tests audio content response",
		provider.AudioBlock(wavSilence, "audio/wav"))
	static("test_embedded_resource", "Tests embedded resource content response",
		provider.ResourceBlock(provider.ResourceContents{
			URI: "test://embedded-resource", MIMEType: "text/plain", Text: embeddedText,
		}))
	static("test_multiple_content_types",
		"Tests response with multiple content types (text, image, resource)",
		provider.TextBlock("Multiple content types test:"),
		provider.ImageBlock(pngPixel, "image/png"),
		provider.ResourceBlock(provider.ResourceContents{
			URI: "test://mixed-content-resource", MIMEType: "application/json",
			Text: `{"test":"data","value":123}`,
		}))
}

// withLogging sends three info messages a little apart.
func withLogging(ctx context.Context, req *provider.Request) (*provider.Result, error) {
	steps := []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
	for i, msg := range steps {
		if i > 0 {
			if err := pause(ctx, stepDelay); err != nil {
				return nil, err
			}
		}
		if err := req.Log(ctx, provider.LogInfo, "", msg); err != nil {
			return nil, err
		}
	}
	return provider.Text("Tool with logging executed successfully"), nil
}

// withProgress reports 0, 50 and 100 out of 100 a little apart, and
// returns the progress token it echoed.
func withProgress(ctx context.Context, req *provider.Request) (*provider.Result, error) {
	for i, step := range []float64{0, 50, 100} {
		if i > 0 {
			if err := pause(ctx, stepDelay); err != nil {
				return nil, err
			}
		}
		msg := fmt.Sprintf("Completed step %g of %d", step, 100)
		if err := req.Progress(ctx, step, 100, msg); err != nil {
			return nil, err
		}
	}
	token := req.ProgressToken()
	if token == nil {
		return provider.Text("no progress token"), nil
	}
	var s string
	if json.Unmarshal(token, &s) != nil {
		// A numeric token reads as its JSON text.
		s = string(token)
	}
	return provider.Text(s), nil
}

// reconnection cuts the client's SSE stream mid-call, then finishes; the
// client gets the result after resuming the stream (SEP-1699).
func reconnection(ctx context.Context, req *provider.Request) (*provider.Result, error) {
	if err := req.CloseStream(ctx, 10*time.Millisecond); err != nil {
		return nil, err
	}
	if err := pause(ctx, 100*time.Millisecond); err != nil {
		return nil, err
	}
	return provider.Text(reconnectedText), nil
}
