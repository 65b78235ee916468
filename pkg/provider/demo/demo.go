// Package demo holds the demo provider's tools. They show the range of
// what a provider returns: plain text (echo), structured output with an
// output schema (add, weather), a tool error (fail) and a long call that
// ends early when the caller cancels it (sleep). The probe tools (meta,
// link, log, roots, touch, count, cancelled) show what reaches a provider
// and what it can send back; the end-to-end tests call them. The report
// tools (slow_report, report_status) show a tool that may run as a task.
//
// Usage:
//
//	p := provider.New("demo", nil)
//	demo.AddTools(p)
package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"switchboard.dev/pkg/provider"
)

// MaxSleep bounds the sleep tool's delay.
const MaxSleep = time.Minute

// AddTools adds the demo tools to p.
func AddTools(p *provider.Provider) {
	readOnly := &provider.Annotations{ReadOnlyHint: ptr(true), OpenWorldHint: ptr(false)}
	provider.AddTypedTool(p, provider.Tool{
		Name: "echo", Title: "Echo", Annotations: readOnly,
		Description: "Returns the given text unchanged.",
	}, echo)
	provider.AddTypedTool(p, provider.Tool{
		Name: "add", Title: "Add", Annotations: readOnly,
		Description: "Adds two 64-bit integers exactly and returns their sum.",
	}, add)
	provider.AddTypedTool(p, provider.Tool{
		Name: "fail", Title: "Fail", Annotations: readOnly,
		Description: "Always fails with the given message, to show how tool errors look.",
	}, fail)
	provider.AddTypedTool(p, provider.Tool{
		Name: "weather", Title: "Weather", Annotations: readOnly,
		Description: "Returns made-up current weather for a city; " +
			"the same city always gets the same answer.",
	}, weather)
	provider.AddTypedTool(p, provider.Tool{
		Name: "sleep", Title: "Sleep", Annotations: readOnly,
		Description: "Waits the given number of milliseconds (at most 60000), or until cancelled.",
	}, sleep)
	addProbes(p, readOnly)
	addTaskTools(p, readOnly)
}

func ptr[T any](v T) *T { return &v }

// EchoIn is the echo tool's input.
type EchoIn struct {
	Text string `json:"text" jsonschema:"the text to return"`
}

func echo(_ context.Context, in EchoIn) (string, error) { return in.Text, nil }

// AddIn is the add tool's input.
type AddIn struct {
	A int64 `json:"a" jsonschema:"the first addend"`
	B int64 `json:"b" jsonschema:"the second addend"`
}

// AddOut is the add tool's output.
type AddOut struct {
	Sum int64 `json:"sum" jsonschema:"a plus b"`
}

func add(_ context.Context, in AddIn) (AddOut, error) {
	if (in.B > 0 && in.A > math.MaxInt64-in.B) || (in.B < 0 && in.A < math.MinInt64-in.B) {
		return AddOut{}, fmt.Errorf("%d + %d overflows a 64-bit integer", in.A, in.B)
	}
	return AddOut{Sum: in.A + in.B}, nil
}

// FailIn is the fail tool's input.
type FailIn struct {
	Message string `json:"message,omitempty" jsonschema:"the error message to report"`
}

func fail(_ context.Context, in FailIn) (string, error) {
	if in.Message == "" {
		in.Message = "the fail tool always fails"
	}
	return "", errors.New(in.Message)
}

// WeatherIn is the weather tool's input.
type WeatherIn struct {
	City string `json:"city" jsonschema:"the city to report on"`
}

// WeatherOut is the weather tool's output.
type WeatherOut struct {
	City         string  `json:"city"`
	TemperatureC float64 `json:"temperature_c" jsonschema:"air temperature in degrees Celsius"`
	Conditions   string  `json:"conditions" jsonschema:"sky conditions"`
	HumidityPct  int     `json:"humidity_pct" jsonschema:"relative humidity in percent"`
}

var conditions = []string{"sunny", "partly cloudy", "overcast", "light rain", "windy", "fog"}

func weather(_ context.Context, in WeatherIn) (WeatherOut, error) {
	if in.City == "" {
		return WeatherOut{}, errors.New("city is empty")
	}
	h := fnv.New64a()
	h.Write([]byte(in.City))
	n := h.Sum64()
	return WeatherOut{
		City:         in.City,
		TemperatureC: float64(int(n%500)-150) / 10,
		Conditions:   conditions[(n/500)%uint64(len(conditions))],
		HumidityPct:  20 + int((n/3000)%81),
	}, nil
}

// SleepIn is the sleep tool's input.
type SleepIn struct {
	MS int64 `json:"ms" jsonschema:"how long to wait, in milliseconds"`
}

func sleep(ctx context.Context, in SleepIn) (string, error) {
	if in.MS < 0 || in.MS > MaxSleep.Milliseconds() {
		return "", fmt.Errorf("ms must be between 0 and %d", MaxSleep.Milliseconds())
	}
	t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
		return fmt.Sprintf("slept %d ms", in.MS), nil
	}
}
