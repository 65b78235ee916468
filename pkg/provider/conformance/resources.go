package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"switchboard.dev/pkg/provider"
)

// templateURI is the template whose {id} the template scenario fills in.
const templateURI = "test://template/{id}/data"

func addResources(p *provider.Provider) {
	text := func(uri, name, title, description, content string) {
		p.AddResource(provider.Resource{
			URI: uri, Name: name, Title: title, Description: description, MIMEType: "text/plain",
		}, func(context.Context, *provider.ResourceRequest) (*provider.ReadResult, error) {
			return provider.TextResource(uri, "text/plain", content), nil
		})
	}
	text("test://static-text", "static-text", "Static Text Resource",
		"A static text resource for testing", "This is the content of the static text resource.")
	text(WatchedResourceURI, "watched-resource", "Watched Resource",
		"A resource that auto-updates every 3 seconds", "Watched resource content")
	p.AddResource(provider.Resource{
		URI: "test://static-binary", Name: "static-binary", Title: "Static Binary Resource",
		Description: "A static binary resource (image) for testing", MIMEType: "image/png",
	}, func(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
		return provider.BlobResource(req.URI, "image/png", pngPixel), nil
	})
	p.AddResourceTemplate(provider.ResourceTemplate{
		URITemplate: templateURI, Name: "template", Title: "Resource Template",
		Description: "A resource template with parameter substitution",
		MIMEType:    "application/json",
		Complete: map[string]provider.CompletionHandler{
			"id": completeFrom("1", "2", "3", "123"),
		},
	}, templateData)
}

// templateData fills the template's id into a small JSON document.
func templateData(_ context.Context, req *provider.ResourceRequest) (*provider.ReadResult, error) {
	id := req.Vars["id"]
	b, err := json.Marshal(struct {
		ID           string `json:"id"`
		TemplateTest bool   `json:"templateTest"`
		Data         string `json:"data"`
	}{id, true, "Data for ID: " + id})
	if err != nil {
		return nil, fmt.Errorf("encode data: %w", err)
	}
	return provider.TextResource(req.URI, "application/json", string(b)), nil
}

// completeFrom suggests the candidates that start with what the user has
// typed, ignoring case.
func completeFrom(candidates ...string) provider.CompletionHandler {
	return func(_ context.Context, req *provider.CompletionRequest) (*provider.Completion, error) {
		c := &provider.Completion{Values: []string{}}
		for _, v := range candidates {
			if strings.HasPrefix(strings.ToLower(v), strings.ToLower(req.Value)) {
				c.Values = append(c.Values, v)
			}
		}
		c.Total = len(c.Values)
		return c, nil
	}
}
