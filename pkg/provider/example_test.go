package provider_test

import (
	"context"
	"fmt"

	"switchboard.dev/pkg/provider"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

type greetIn struct {
	Name string `json:"name" jsonschema:"who to greet"`
}

func ExampleAddFunc() {
	p := provider.New("hello", nil)
	provider.AddFunc(p, "greet", "Greets someone.",
		func(_ context.Context, in greetIn) (string, error) {
			return "Hello, " + in.Name + "!", nil
		})

	resp, _ := p.Service().Describe(context.Background(), &providerv1.DescribeRequest{})
	for _, t := range resp.GetTools() {
		fmt.Println(t.GetName(), t.GetInputSchemaJson())
	}
	// Output:
	// greet {"type":"object","properties":{"name":{"type":"string","description":"who to greet"}},"required":["name"],"additionalProperties":false}
}
