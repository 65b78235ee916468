package conformance

import (
	"context"
	"fmt"
	"strings"

	"switchboard.dev/pkg/provider"
)

// The tools of the input-required-result scenarios (SEP-2322). They ask
// the client for input the ordinary way; the gateway answers a 2026-07-28
// client's call with an input_required result holding the pending
// questions and an opaque requestState, and delivers the answers of the
// client's retry to the call, which goes on running meanwhile. Checking
// the requestState (the request-state and tampered-state scenarios) is
// therefore the gateway's work, not the tools'.
//
// Each question carries the key its scenario names, under which the
// gateway lists it among the inputRequests and takes the client's answer,
// also on a first call that already carries inputResponses.

func addInputTools(p *provider.Provider) {
	tool := func(name, description string, h provider.Handler) {
		p.AddTool(provider.Tool{Name: name, Description: description}, h)
	}
	tool("test_input_required_result_elicitation",
		"Asks the user for a name (elicitation) and greets them (SEP-2322)", greetByName)
	tool("test_input_required_result_sampling",
		"Asks the client's model a question (sampling) and returns its answer (SEP-2322)",
		func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
			text, err := sample(ctx, "capital_question", "What is the capital of France?", 100)
			if err != nil {
				return nil, err
			}
			return provider.Text("Sampling response: " + text), nil
		})
	tool("test_input_required_result_list_roots",
		"Asks the client for its roots (roots/list) and lists them (SEP-2322)", describeRoots)
	confirm := func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		ok, accepted, err := askFor[bool](ctx, "confirm", "Please confirm", okSchema, "ok")
		if err != nil {
			return nil, err
		}
		// The call only resumes on a retry whose requestState the
		// gateway accepted.
		return provider.Text(fmt.Sprintf("state-ok: confirmation answered "+
			"(accepted=%t, ok=%t)", accepted, ok)), nil
	}
	tool("test_input_required_result_request_state",
		"Asks for a confirmation; the retry must echo the requestState (SEP-2322)", confirm)
	tool("test_input_required_result_tampered_state",
		"Asks for a confirmation; a retry with a tampered requestState must be "+
			"refused (SEP-2322)", confirm)
	tool("test_input_required_result_multiple_inputs",
		"Asks for a name, a model's greeting and the client's roots at once, "+
			"in one round (SEP-2322)", multipleInputs)
	tool("test_input_required_result_multi_round",
		"Asks for a name, then for a favourite colour: two rounds (SEP-2322)", multiRound)
	tool("test_input_required_result_capabilities",
		"Asks only for the kinds of input the client declared capabilities for (SEP-2322)",
		capableInputs)
}

// greetByName asks for the caller's name and greets them.
func greetByName(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
	name, accepted, err := askFor[string](ctx, "user_name", "What is your name?",
		nameSchema, "name")
	if err != nil {
		return nil, err
	}
	if !accepted {
		return provider.Text("No name was given."), nil
	}
	return provider.Text("Hello, " + name + "!"), nil
}

// describeRoots lists the client's roots.
func describeRoots(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
	roots, err := listRoots(ctx, "client_roots")
	if err != nil {
		return nil, err
	}
	return provider.Text(fmt.Sprintf("Client exposed %d root(s): %s",
		len(roots), rootURIs(roots))), nil
}

func rootURIs(roots []provider.Root) string {
	uris := make([]string, len(roots))
	for i, r := range roots {
		uris[i] = r.URI
	}
	return strings.Join(uris, ", ")
}

// multipleInputs asks three kinds of question at once.
func multipleInputs(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
	var (
		name, greeting string
		roots          []provider.Root
	)
	err := together(ctx,
		func(ctx context.Context) (err error) {
			name, _, err = askFor[string](ctx, "user_name", "What is your name?",
				nameSchema, "name")
			return err
		},
		func(ctx context.Context) (err error) {
			greeting, err = sample(ctx, "greeting", "Generate a greeting", 50)
			return err
		},
		func(ctx context.Context) (err error) {
			roots, err = listRoots(ctx, "client_roots")
			return err
		})
	if err != nil {
		return nil, err
	}
	return provider.Text(fmt.Sprintf("%s %s: %d root(s) visible",
		greeting, name, len(roots))), nil
}

// multiRound asks its second question only after the first is answered.
func multiRound(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
	name, _, err := askFor[string](ctx, "step1", "Step 1: What is your name?",
		nameSchema, "name")
	if err != nil {
		return nil, err
	}
	color, _, err := askFor[string](ctx, "step2", "Step 2: What is your favorite color?",
		colorSchema, "color")
	if err != nil {
		return nil, err
	}
	return provider.Text(fmt.Sprintf("Multi-round complete: %s likes %s",
		orUnknown(name), orUnknown(color))), nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// capableInputs asks, in one round, only for what the client's declared
// capabilities cover, as the capability-check scenario requires.
func capableInputs(ctx context.Context, req *provider.Request) (*provider.Result, error) {
	var (
		questions []func(context.Context) error
		asked     []string
	)
	if req.ClientSupports("elicitation") {
		asked = append(asked, "elicitation")
		questions = append(questions, func(ctx context.Context) error {
			_, _, err := askFor[string](ctx, "", "What is your name?", nameSchema, "name")
			return err
		})
	}
	if req.ClientSupports("sampling") {
		asked = append(asked, "sampling")
		questions = append(questions, func(ctx context.Context) error {
			_, err := sample(ctx, "", "Generate a short greeting", 50)
			return err
		})
	}
	if req.ClientSupports("roots") {
		asked = append(asked, "roots")
		questions = append(questions, func(ctx context.Context) error {
			_, err := listRoots(ctx, "")
			return err
		})
	}
	if len(asked) == 0 {
		return provider.Text("No declared client capability supports an input request"), nil
	}
	if err := together(ctx, questions...); err != nil {
		return nil, err
	}
	return provider.Text("Capability-aware input requests fulfilled: " +
		strings.Join(asked, ", ")), nil
}
