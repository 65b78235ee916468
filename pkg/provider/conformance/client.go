package conformance

import (
	"context"
	"encoding/json"
	"fmt"

	"switchboard.dev/pkg/provider"
)

// The tools here ask the client for something while they run: a model's
// completion (sampling) or the user's input (elicitation).

// SamplingIn is test_sampling's input.
type SamplingIn struct {
	Prompt string `json:"prompt" jsonschema:"The prompt to send to the LLM"`
}

// ElicitationIn is test_elicitation's input.
type ElicitationIn struct {
	Message string `json:"message" jsonschema:"The message to show the user"`
}

// elicitationSchema is what test_elicitation asks the user for.
const elicitationSchema = `{
	"type": "object",
	"properties": {
		"username": {"type": "string", "description": "User's response"},
		"email": {"type": "string", "description": "User's email address"}
	},
	"required": ["username", "email"]
}`

// defaultsSchema has a default for every primitive type (SEP-1034).
const defaultsSchema = `{
	"type": "object",
	"properties": {
		"name": {"type": "string", "description": "User name", "default": "John Doe"},
		"age": {"type": "integer", "description": "User age", "default": 30},
		"score": {"type": "number", "description": "User score", "default": 95.5},
		"status": {
			"type": "string", "description": "User status",
			"enum": ["active", "inactive", "pending"], "default": "active"
		},
		"verified": {"type": "boolean", "description": "Verification status", "default": true}
	},
	"required": []
}`

// enumsSchema has each of the five enum forms of SEP-1330.
const enumsSchema = `{
	"type": "object",
	"properties": {
		"untitledSingle": {
			"type": "string", "description": "Select one option",
			"enum": ["option1", "option2", "option3"]
		},
		"titledSingle": {
			"type": "string", "description": "Select one option with titles",
			"oneOf": [
				{"const": "value1", "title": "First Option"},
				{"const": "value2", "title": "Second Option"},
				{"const": "value3", "title": "Third Option"}
			]
		},
		"legacyEnum": {
			"type": "string", "description": "Select one option (legacy)",
			"enum": ["opt1", "opt2", "opt3"],
			"enumNames": ["Option One", "Option Two", "Option Three"]
		},
		"untitledMulti": {
			"type": "array", "description": "Select multiple options",
			"minItems": 1, "maxItems": 3,
			"items": {"type": "string", "enum": ["option1", "option2", "option3"]}
		},
		"titledMulti": {
			"type": "array", "description": "Select multiple options with titles",
			"minItems": 1, "maxItems": 3,
			"items": {
				"anyOf": [
					{"const": "value1", "title": "First Choice"},
					{"const": "value2", "title": "Second Choice"},
					{"const": "value3", "title": "Third Choice"}
				]
			}
		}
	},
	"required": []
}`

func addClientTools(p *provider.Provider) {
	provider.AddTypedTool(p, provider.Tool{
		Name:        "test_sampling",
		Description: "Tests server-initiated sampling (LLM completion request)",
	}, sampling)
	provider.AddTypedTool(p, provider.Tool{
		Name:        "test_elicitation",
		Description: "Tests server-initiated elicitation (user input request)",
	}, func(ctx context.Context, in ElicitationIn) (string, error) {
		res, err := elicit(ctx, in.Message, elicitationSchema)
		if err != nil {
			return "", err
		}
		return "User response: " + res, nil
	})
	elicitTool := func(name, description, message, schema string) {
		p.AddTool(provider.Tool{Name: name, Description: description},
			func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
				res, err := elicit(ctx, message, schema)
				if err != nil {
					return nil, err
				}
				return provider.Text("Elicitation completed: " + res), nil
			})
	}
	elicitTool("test_elicitation_sep1034_defaults",
		"Tests elicitation with default values per SEP-1034",
		"Please review and update the form fields with defaults", defaultsSchema)
	elicitTool("test_elicitation_sep1330_enums",
		"Tests elicitation with enum schema improvements per SEP-1330",
		"Please select options from the enum fields", enumsSchema)
}

// sampling asks the client's model to answer the prompt.
func sampling(ctx context.Context, in SamplingIn) (string, error) {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type message struct {
		Role    string  `json:"role"`
		Content content `json:"content"`
	}
	res, err := provider.RequestFromContext(ctx).CreateMessage(ctx, struct {
		Messages  []message `json:"messages"`
		MaxTokens int       `json:"maxTokens"`
	}{[]message{{"user", content{"text", in.Prompt}}}, 100})
	if err != nil {
		return "", fmt.Errorf("sampling failed: %w", err)
	}
	var got content
	if json.Unmarshal(res.Content, &got) != nil || got.Type != "text" {
		return "LLM response: (non-text response)", nil
	}
	return "LLM response: " + got.Text, nil
}

// elicit asks the user to fill in schema and describes the answer as
// "action=..., content=...".
func elicit(ctx context.Context, message, schema string) (string, error) {
	res, err := provider.RequestFromContext(ctx).Elicit(ctx, struct {
		Message         string          `json:"message"`
		RequestedSchema json.RawMessage `json:"requestedSchema"`
	}{message, json.RawMessage(schema)})
	if err != nil {
		return "", fmt.Errorf("elicitation failed: %w", err)
	}
	content := res.Content
	if content == nil {
		content = json.RawMessage("{}")
	}
	return fmt.Sprintf("action=%s, content=%s", res.Action, content), nil
}
