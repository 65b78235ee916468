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

func ExampleProvider_AddResourceTemplate() {
	p := provider.New("files", nil)
	p.AddResourceTemplate(provider.ResourceTemplate{
		URITemplate: "file:///{dir}/{name}",
		Name:        "file",
		MIMEType:    "text/plain",
	}, func(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
		text := fmt.Sprintf("%s in %s", req.Vars["name"], req.Vars["dir"])
		return provider.TextResource(req.URI, "text/plain", text), nil
	})

	resp, _ := p.Service().ReadResource(context.Background(),
		&providerv1.ReadResourceRequest{Uri: "file:///docs/read%20me.txt"})
	fmt.Println(resp.GetResultJson())
	// Output:
	// {"contents":[{"uri":"file:///docs/read%20me.txt","mimeType":"text/plain","text":"read me.txt in docs"}]}
}
