package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"switchboard.dev/pkg/provider"
)

// Helpers for the tools of the 2026-07-28 scenarios, which ask the client
// for input while they run. Each question is an ordinary request to the
// client; a gateway serving a 2026-07-28 client turns the questions pending
// at a moment into one input_required result (SEP-2322), so questions asked
// one after another make several rounds and questions asked together make
// one round.

// maxAsks bounds how often a tool repeats a question whose answer it
// cannot use, so that a client that keeps answering badly ends the call.
const maxAsks = 3

// Schemas of the questions, as the scenarios describe them.
const (
	nameSchema = `{"type":"object","properties":{"name":{"type":"string"}},` +
		`"required":["name"]}`
	okSchema = `{"type":"object","properties":{"ok":{"type":"boolean"}},` +
		`"required":["ok"]}`
	colorSchema = `{"type":"object","properties":{"color":{"type":"string"}},` +
		`"required":["color"]}`
	confirmSchema = `{"type":"object","properties":{"confirm":{"type":"boolean"}},` +
		`"required":["confirm"]}`
)

// formParams are the params of a form-mode elicitation/create.
type formParams struct {
	Message         string          `json:"message"`
	RequestedSchema json.RawMessage `json:"requestedSchema"`
}

// askFor asks the user for the field of schema and returns its value,
// with accepted false when the user declined or cancelled. An answer that
// is accepted but lacks the field, or is not an ElicitResult at all, is
// asked again: SEP-2322 has servers re-request input they are missing
// rather than fail. The question is named key for stateless clients (the
// name the scenario expects), or key_2, key_3 when asked again, since a
// call names each question once; an empty key leaves the naming to
// Switchboard.
func askFor[T any](ctx context.Context, key, message, schema, field string) (
	value T, accepted bool, err error) {
	req := provider.RequestFromContext(ctx)
	for i := range maxAsks {
		raw, err := req.RequestWith(ctx, "elicitation/create",
			formParams{message, json.RawMessage(schema)}, provider.RequestOptions{Key: again(key, i)})
		if err != nil {
			return value, false, fmt.Errorf("elicitation failed: %w", err)
		}
		var res struct {
			Action  string                     `json:"action"`
			Content map[string]json.RawMessage `json:"content"`
		}
		if json.Unmarshal(raw, &res) != nil || res.Action == "" {
			continue
		}
		if res.Action != "accept" {
			return value, false, nil
		}
		if v, ok := res.Content[field]; ok && json.Unmarshal(v, &value) == nil {
			return value, true, nil
		}
	}
	return value, false, fmt.Errorf("no usable %s after %d questions", field, maxAsks)
}

// again names the attempt-th asking (from 0) of the question named key.
func again(key string, attempt int) string {
	if key == "" || attempt == 0 {
		return key
	}
	return fmt.Sprintf("%s_%d", key, attempt+1)
}

// sample asks the client's model to answer prompt, in a request named
// key, and returns the text of its answer.
func sample(ctx context.Context, key, prompt string, maxTokens int) (string, error) {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type message struct {
		Role    string  `json:"role"`
		Content content `json:"content"`
	}
	res, err := provider.RequestFromContext(ctx).CreateMessageAs(ctx, key, struct {
		Messages  []message `json:"messages"`
		MaxTokens int       `json:"maxTokens"`
	}{[]message{{"user", content{"text", prompt}}}, maxTokens})
	if err != nil {
		return "", fmt.Errorf("sampling failed: %w", err)
	}
	// Since 2025-11-25 the content may be one block or an array of them.
	var blocks []content
	if json.Unmarshal(res.Content, &blocks) != nil {
		var one content
		if json.Unmarshal(res.Content, &one) == nil {
			blocks = []content{one}
		}
	}
	for _, b := range blocks {
		if b.Type == "text" {
			return b.Text, nil
		}
	}
	return "(non-text response)", nil
}

// listRoots asks the client for its roots, in a request named key.
func listRoots(ctx context.Context, key string) ([]provider.Root, error) {
	roots, err := provider.RequestFromContext(ctx).ListRootsAs(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("roots/list failed: %w", err)
	}
	return roots, nil
}

// together runs the questions at once, so that they are pending together
// and make one round, and returns the first error. A failed question
// cancels the others: the call fails anyway.
func together(ctx context.Context, questions ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, q := range questions {
		wg.Go(func() {
			if err := q(ctx); err != nil {
				once.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	return first
}
