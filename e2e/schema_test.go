package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// statelessVersion is the stateless protocol revision the tests also
// speak, with clients at their default settings.
const statelessVersion = "2026-07-28"

// schemaFile is the official JSON Schema of a protocol revision the tests
// speak; testdata/schema/README.md names its source.
func schemaFile(version string) string {
	return filepath.Join("testdata", "schema", version, "schema.json")
}

// mcpSchema validates MCP messages against the types of the official
// schema. Every type sits under $defs; each is compiled on first use.
type mcpSchema struct {
	c *jsonschema.Compiler

	mu    sync.Mutex
	types map[string]*jsonschema.Schema
}

// loadSchema reads the schema of the session-based revision the tests
// speak, once for the whole test binary.
var loadSchema = sync.OnceValues(func() (*mcpSchema, error) { return readSchema(protocolVersion) })

// loadStatelessSchema reads the schema of the stateless revision once.
var loadStatelessSchema = sync.OnceValues(func() (*mcpSchema, error) { return readSchema(statelessVersion) })

func readSchema(version string) (*mcpSchema, error) {
	file := schemaFile(version)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	c := jsonschema.NewCompiler()
	// Formats are assertions here, so that a "uri" that is no URI, or
	// blob data that is not base64, fails validation too.
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "byte", Validate: isBase64})
	if err := c.AddResource("mcp.json", doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	return &mcpSchema{c: c, types: map[string]*jsonschema.Schema{}}, nil
}

// isBase64 is the "byte" format: standard base64 with padding.
func isBase64(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err
}

// validate checks v, a value decoded with jsonschema.UnmarshalJSON,
// against the named type of the schema, such as "CallToolResult".
func (s *mcpSchema) validate(typ string, v any) error {
	sch, err := s.compile(typ)
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func (s *mcpSchema) compile(typ string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.types[typ]; ok {
		return sch, nil
	}
	sch, err := s.c.Compile("mcp.json#/$defs/" + typ)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", typ, err)
	}
	s.types[typ] = sch
	return sch, nil
}

// Schema types by method: what the gateway answers to each client
// request, and the notifications and requests it sends on its own.
var (
	resultTypes = map[string]string{
		"initialize":               "InitializeResult",
		"ping":                     "EmptyResult",
		"tools/list":               "ListToolsResult",
		"tools/call":               "CallToolResult",
		"resources/list":           "ListResourcesResult",
		"resources/read":           "ReadResourceResult",
		"resources/templates/list": "ListResourceTemplatesResult",
		"resources/subscribe":      "EmptyResult",
		"resources/unsubscribe":    "EmptyResult",
		"prompts/list":             "ListPromptsResult",
		"prompts/get":              "GetPromptResult",
		"completion/complete":      "CompleteResult",
		"logging/setLevel":         "EmptyResult",
		"server/discover":          "DiscoverResult",
		"subscriptions/listen":     "SubscriptionsListenResult",
	}
	notificationTypes = map[string]string{
		"notifications/progress":                   "ProgressNotification",
		"notifications/message":                    "LoggingMessageNotification",
		"notifications/cancelled":                  "CancelledNotification",
		"notifications/resources/updated":          "ResourceUpdatedNotification",
		"notifications/resources/list_changed":     "ResourceListChangedNotification",
		"notifications/tools/list_changed":         "ToolListChangedNotification",
		"notifications/prompts/list_changed":       "PromptListChangedNotification",
		"notifications/elicitation/complete":       "ElicitationCompleteNotification",
		"notifications/subscriptions/acknowledged": "SubscriptionsAcknowledgedNotification",
	}
	serverRequestTypes = map[string]string{
		"ping":                   "PingRequest",
		"sampling/createMessage": "CreateMessageRequest",
		"elicitation/create":     "ElicitRequest",
		"roots/list":             "ListRootsRequest",
	}
)
