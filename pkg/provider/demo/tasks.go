package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"switchboard.dev/pkg/provider"
)

// The report tools show a tool that may run as an MCP task (2025-11-25,
// Tasks): slow_report declares execution.taskSupport "optional", so a
// client may call it as usual or as a task that it polls and whose result
// it fetches later. report_status tells how a keyed report went, so that
// a client can see from the outside that a cancellation reached the
// provider.

// MaxReportSteps bounds the slow_report tool's steps.
const MaxReportSteps = 1000

// taskOptional is the execution object of a tool that may run as a task.
var taskOptional = json.RawMessage(`{"taskSupport":"optional"}`)

// The states report_status tells.
const (
	reportRunning   = "running"
	reportDone      = "done"
	reportCancelled = "cancelled"
	reportDeclined  = "declined"
	reportUnknown   = "unknown"
)

// reports remembers the state of the slow_report calls given a key.
type reports struct {
	mu    sync.Mutex
	state map[string]string
}

// addTaskTools adds the report tools to p, each with the given
// annotations.
func addTaskTools(p *provider.Provider, ann *provider.Annotations) {
	r := &reports{state: make(map[string]string)}
	provider.AddTypedTool(p, provider.Tool{
		Name: "slow_report", Title: "Slow report", Annotations: ann, Execution: taskOptional,
		Description: "Writes a report in the given number of steps, one every ms milliseconds, " +
			"reporting progress at each, after asking the user when confirm is set; it may " +
			"run as a task. A key lets report_status tell how the report went.",
	}, r.write)
	provider.AddTypedTool(p, provider.Tool{
		Name: "report_status", Title: "Report status", Annotations: ann,
		Description: "Tells the state of the slow_report call given the key: " +
			"running, done, declined, cancelled or unknown.",
	}, r.status)
}

// SlowReportIn is the slow_report tool's input.
type SlowReportIn struct {
	Steps int    `json:"steps" jsonschema:"how many steps the report takes (1 to 1000)"`
	MS    int64  `json:"ms" jsonschema:"milliseconds per step (at most 60000)"`
	Key   string `json:"key,omitempty" jsonschema:"names the report for report_status"`
	// Confirm makes a task of the tool wait for input (input_required).
	Confirm bool `json:"confirm,omitempty" jsonschema:"ask the user to confirm first"`
}

func (r *reports) write(ctx context.Context, in SlowReportIn) (string, error) {
	if in.Steps < 1 || in.Steps > MaxReportSteps || in.MS < 0 || in.MS > MaxSleep.Milliseconds() {
		return "", fmt.Errorf("steps must be 1 to %d and ms 0 to %d", MaxReportSteps,
			MaxSleep.Milliseconds())
	}
	r.set(in.Key, reportRunning)
	req := provider.RequestFromContext(ctx)
	if in.Confirm {
		ok, err := confirm(ctx, req, in.Steps)
		if ctx.Err() != nil {
			r.set(in.Key, reportCancelled)
			return "", ctx.Err()
		}
		if err != nil || !ok {
			r.set(in.Key, reportDeclined)
			return "report declined", err
		}
	}
	if err := sections(ctx, req, in.Steps, time.Duration(in.MS)*time.Millisecond); err != nil {
		r.set(in.Key, reportCancelled)
		return "", err
	}
	r.set(in.Key, reportDone)
	return fmt.Sprintf("report ready: %d sections", in.Steps), nil
}

// sections writes the report, one section every interval, reporting
// progress after each. It fails once the call ends.
func sections(ctx context.Context, req *provider.Request, n int, interval time.Duration) error {
	step := time.NewTimer(interval)
	defer step.Stop()
	for i := 1; i <= n; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-step.C:
		}
		msg := fmt.Sprintf("section %d of %d written", i, n)
		if err := req.Progress(ctx, float64(i), float64(n), msg); err != nil {
			return err
		}
		step.Reset(interval)
	}
	return nil
}

// confirm asks the user whether to write the report.
func confirm(ctx context.Context, req *provider.Request, steps int) (bool, error) {
	res, err := req.Elicit(ctx, map[string]any{
		"message":         fmt.Sprintf("Write a report of %d sections?", steps),
		"requestedSchema": map[string]any{"type": "object", "properties": map[string]any{}},
	})
	if err != nil {
		return false, fmt.Errorf("confirmation failed: %w", err)
	}
	return res.Action == "accept", nil
}

func (r *reports) set(key, state string) {
	if key == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[key] = state
}

// ReportStatusIn is the report_status tool's input.
type ReportStatusIn struct {
	Key string `json:"key" jsonschema:"the key given to slow_report"`
}

// ReportStatusOut is the report_status tool's output.
type ReportStatusOut struct {
	State string `json:"state" jsonschema:"running, done, declined, cancelled or unknown"`
}

func (r *reports) status(_ context.Context, in ReportStatusIn) (ReportStatusOut, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.state[in.Key]; ok {
		return ReportStatusOut{State: s}, nil
	}
	return ReportStatusOut{State: reportUnknown}, nil
}
