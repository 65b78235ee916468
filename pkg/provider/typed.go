package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
)

// AddFunc adds a tool backed by a typed Go function.
//
// The input schema is inferred from In, which must be a struct (or a map
// with string keys): exported fields become properties named by their
// json tags, fields without omitempty or omitzero are required, unknown
// properties are refused, and a `jsonschema:"..."` tag describes a field.
// Arguments are checked against the schema and decoded into In; fields
// of type any receive json.Number, so no digit of a number is lost.
//
// What fn returns depends on Out. A struct or map is returned as
// structuredContent, described by an output schema inferred from Out,
// with the same JSON in a text block; a string as a plain text block;
// anything else as a text block holding its JSON. An error from fn
// becomes a result with isError set and the error's text, unless it wraps
// ErrInvalidArguments.
//
// Like AddTool, AddFunc panics on an invalid name or on types that have
// no JSON Schema.
func AddFunc[In, Out any](p *Provider, name, description string,
	fn func(context.Context, In) (Out, error)) {
	AddTypedTool(p, Tool{Name: name, Description: description}, fn)
}

// AddTypedTool is AddFunc for a tool with more metadata, such as a title
// or annotations. Schemas left nil in t are inferred from In and Out;
// schemas that are set are published as given and must accept what In
// and Out encode.
func AddTypedTool[In, Out any](p *Provider, t Tool, fn func(context.Context, In) (Out, error)) {
	structured, err := inferSchemas[In, Out](&t)
	if err != nil {
		panic(fmt.Sprintf("provider: add tool %q: %v", t.Name, err))
	}
	p.AddTool(t, typedHandler(fn, structured))
}

// inferSchemas fills in t's missing schemas and reports whether Out is
// returned as structured content.
func inferSchemas[In, Out any](t *Tool) (structured bool, err error) {
	if t.InputSchema == nil {
		in, err := objectSchema[In]()
		if err != nil {
			return false, fmt.Errorf("input type: %w", err)
		}
		if in == nil {
			var zero In
			return false, fmt.Errorf("input type %T is not a struct or map", zero)
		}
		if t.InputSchema, err = json.Marshal(in); err != nil {
			return false, fmt.Errorf("encode input schema: %w", err)
		}
	}
	if t.OutputSchema != nil {
		return true, nil
	}
	out, err := objectSchema[Out]()
	if err != nil || out == nil {
		// Outputs that are not objects are returned as text, which needs
		// no schema.
		return false, nil
	}
	if t.OutputSchema, err = json.Marshal(out); err != nil {
		return false, fmt.Errorf("encode output schema: %w", err)
	}
	return true, nil
}

// objectSchema infers T's schema and returns it when T encodes as a JSON
// object, or nil otherwise.
func objectSchema[T any]() (*jsonschema.Schema, error) {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		return nil, err
	}
	// A pointer admits null, but tool arguments and structured results
	// are always objects.
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") && slices.Contains(s.Types, "object") {
		s.Type, s.Types = "object", nil
	}
	if s.Type != "object" {
		return nil, nil
	}
	return s, nil
}

func typedHandler[In, Out any](fn func(context.Context, In) (Out, error), structured bool) Handler {
	return func(ctx context.Context, req *Request) (*Result, error) {
		var in In
		if err := decodeArgs(req.Arguments, &in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return outputResult(out, structured)
	}
}

// decodeArgs decodes checked arguments into v. UseNumber keeps numbers
// bound for interface fields exact.
func decodeArgs(args json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArguments, err)
	}
	return nil
}

func outputResult(out any, structured bool) (*Result, error) {
	if s, ok := out.(string); ok && !structured {
		return Text(s), nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	if !structured {
		return Text(string(b)), nil
	}
	if string(b) == "null" {
		// The output schema promises an object; a nil pointer breaks it.
		return nil, errors.New("tool returned no result")
	}
	if b[0] != '{' {
		return nil, fmt.Errorf("result is not a JSON object: %.20s", b)
	}
	return &Result{Content: []json.RawMessage{TextBlock(string(b))}, StructuredContent: b}, nil
}
