package provider

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidArguments marks a handler error as the caller's fault: a call
// whose handler returns an error wrapping it is refused with gRPC
// INVALID_ARGUMENT instead of producing an isError result. Handlers that
// decode Request.Arguments themselves use it for arguments they reject.
var ErrInvalidArguments = errors.New("invalid arguments")

// Result is an MCP CallToolResult.
type Result struct {
	// Content holds MCP content blocks, each a JSON object such as
	// TextBlock returns. Nil means none.
	Content []json.RawMessage
	// StructuredContent is a JSON object matching the tool's output
	// schema, passed on verbatim. Nil means none.
	StructuredContent json.RawMessage
	// IsError reports that the tool failed; Content says why.
	IsError bool
	// Meta is the result's _meta object. Nil means none.
	Meta json.RawMessage
}

// TextBlock returns an MCP text content block.
func TextBlock(text string) json.RawMessage {
	b, _ := marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{"text", text})
	return b
}

// ImageBlock returns an MCP image content block holding data, such as
// PNG bytes, base64-encoded.
func ImageBlock(data []byte, mimeType string) json.RawMessage {
	return binaryBlock("image", data, mimeType)
}

// AudioBlock returns an MCP audio content block holding data, such as
// WAV bytes, base64-encoded.
func AudioBlock(data []byte, mimeType string) json.RawMessage {
	return binaryBlock("audio", data, mimeType)
}

func binaryBlock(kind string, data []byte, mimeType string) json.RawMessage {
	b, _ := marshal(struct {
		Type     string `json:"type"`
		Data     string `json:"data"`
		MIMEType string `json:"mimeType"`
	}{kind, base64.StdEncoding.EncodeToString(data), mimeType})
	return b
}

// ResourceBlock returns an MCP embedded resource content block. The
// contents' URI must be set. It returns nil when c.Meta is malformed.
func ResourceBlock(c ResourceContents) json.RawMessage {
	b, err := marshal(struct {
		Type     string           `json:"type"`
		Resource ResourceContents `json:"resource"`
	}{"resource", c})
	if err != nil {
		return nil
	}
	return b
}

// Text returns a successful result holding one text block.
func Text(text string) *Result {
	return &Result{Content: []json.RawMessage{TextBlock(text)}}
}

// Errorf returns a failed result (isError set) whose text block holds the
// formatted message. The message is shown to the model, so it should say
// what went wrong in terms the caller can act on.
func Errorf(format string, args ...any) *Result {
	r := Text(fmt.Sprintf(format, args...))
	r.IsError = true
	return r
}

// Structured returns a successful result whose structuredContent is v
// encoded as JSON, with the same JSON in a text block for clients that do
// not read structured content. v must encode as a JSON object.
func Structured(v any) (*Result, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode structured content: %w", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("structured content must be a JSON object, got %.20s", b)
	}
	return &Result{
		Content:           []json.RawMessage{TextBlock(string(b))},
		StructuredContent: b,
	}, nil
}
