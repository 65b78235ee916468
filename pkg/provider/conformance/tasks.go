package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"switchboard.dev/pkg/mcperr"
	"switchboard.dev/pkg/provider"
)

// The tools of the tasks extension scenarios (io.modelcontextprotocol/tasks,
// SEP-2663). A tool's execution.taskSupport says whether the gateway may run
// it as a task ("optional") or must ("required"); whether a task is created
// is the gateway's decision. Cancelling a task cancels the call, which the
// tools honour at once.

// Task support values of a tool's execution object.
var (
	taskOptional = json.RawMessage(`{"taskSupport":"optional"}`)
	taskRequired = json.RawMessage(`{"taskSupport":"required"}`)
)

// failDelay is how long failing_job works before it fails, so that its
// task is seen working first.
const failDelay = time.Second

// taskWork is how long test_tool_with_task works after it got its answer.
const taskWork = 200 * time.Millisecond

// computeSchema is slow_compute's input schema; an hour is far beyond what
// any scenario asks for.
const computeSchema = `{
	"type": "object",
	"properties": {
		"seconds": {
			"type": "number", "minimum": 0, "maximum": 3600,
			"description": "How long to work, in seconds"
		},
		"label": {"type": "string", "description": "A label repeated in the result"}
	},
	"required": ["seconds"]
}`

// GreetIn is greet's input.
type GreetIn struct {
	Name string `json:"name" jsonschema:"Whom to greet"`
}

// ComputeIn is slow_compute's input.
type ComputeIn struct {
	Seconds float64 `json:"seconds"`
	Label   string  `json:"label,omitempty"`
}

// DeleteIn is confirm_delete's input.
type DeleteIn struct {
	Filename string `json:"filename" jsonschema:"The file to delete"`
}

func addTaskTools(p *provider.Provider) {
	provider.AddTypedTool(p, provider.Tool{
		Name: "greet", Description: "Greets someone at once; never runs as a task",
	}, func(_ context.Context, in GreetIn) (string, error) {
		return "Hello, " + in.Name + "!", nil
	})
	provider.AddTypedTool(p, provider.Tool{
		Name: "slow_compute", Description: "Works for the given number of seconds, " +
			"reporting progress every second; may run as a task",
		InputSchema: json.RawMessage(computeSchema), Execution: taskOptional,
	}, slowCompute)
	p.AddTool(provider.Tool{
		Name: "failing_job", Description: "Works for a second, then fails with a tool " +
			"error; runs only as a task",
		Execution: taskRequired,
	}, func(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
		if err := pause(ctx, failDelay); err != nil {
			return nil, err
		}
		return provider.Errorf("failing_job failed on purpose"), nil
	})
	// codeInternalError is JSON-RPC's internal error.
	const codeInternalError = -32603
	p.AddTool(provider.Tool{
		Name: "protocol_error_job", Description: "Fails with a protocol error instead of " +
			"a result; may run as a task",
		Execution: taskOptional,
	}, func(context.Context, *provider.Request) (*provider.Result, error) {
		return nil, mcperr.New(codeInternalError, "protocol_error_job always fails at the protocol level")
	})
	provider.AddTypedTool(p, provider.Tool{
		Name: "confirm_delete", Description: "Asks the user to confirm deleting a file, " +
			"then says whether it would have been deleted (nothing is); may run as a task",
		Execution: taskOptional,
	}, confirmDelete)
	p.AddTool(provider.Tool{
		Name: "multi_input", Description: "Asks two questions at once, then reports both " +
			"answers; may run as a task",
		Execution: taskOptional,
	}, multiInput)
	p.AddTool(provider.Tool{
		Name: "test_tool_with_task", Description: "Asks the user for a name, then works " +
			"a little and greets them; runs only as a task",
		Execution: taskRequired,
	}, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		res, err := greetByName(ctx, req)
		if err != nil {
			return nil, err
		}
		// The work after the answer is what the task is for.
		if err := pause(ctx, taskWork); err != nil {
			return nil, err
		}
		return res, nil
	})
}

// slowCompute works for in.Seconds, reporting progress once a second.
func slowCompute(ctx context.Context, in ComputeIn) (string, error) {
	req := provider.RequestFromContext(ctx)
	total := time.Duration(in.Seconds * float64(time.Second))
	if err := req.Progress(ctx, 0, in.Seconds, ""); err != nil {
		return "", err
	}
	for done := time.Duration(0); done < total; {
		step := min(time.Second, total-done)
		if err := pause(ctx, step); err != nil {
			return "", err
		}
		done += step
		if err := req.Progress(ctx, math.Round(done.Seconds()*1000)/1000, in.Seconds,
			""); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("Computed %q in %gs", in.Label, in.Seconds), nil
}

// confirmDelete asks before "deleting" in.Filename.
func confirmDelete(ctx context.Context, in DeleteIn) (string, error) {
	ok, accepted, err := askFor[bool](ctx, "", "Delete "+in.Filename+"?", confirmSchema, "confirm")
	if err != nil {
		return "", err
	}
	if !accepted || !ok {
		return "Kept " + in.Filename, nil
	}
	return "Deleted " + in.Filename, nil
}

// multiInput asks for a name and a confirmation at once.
func multiInput(ctx context.Context, _ *provider.Request) (*provider.Result, error) {
	var (
		name string
		ok   bool
	)
	err := together(ctx,
		func(ctx context.Context) (err error) {
			name, _, err = askFor[string](ctx, "", "Which name?", nameSchema, "name")
			return err
		},
		func(ctx context.Context) (err error) {
			ok, _, err = askFor[bool](ctx, "", "Go ahead?", confirmSchema, "confirm")
			return err
		})
	if err != nil {
		return nil, err
	}
	return provider.Text(fmt.Sprintf("multi_input got name=%s, confirm=%t",
		orUnknown(name), ok)), nil
}
