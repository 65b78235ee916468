// Package upstream federates MCP servers into the registry's catalogue.
//
// The registry connects to each upstream as an MCP client (the official
// Go SDK) and serves it to the rest of Switchboard as an ordinary
// provider: a bridge implements the provider gRPC service on a listener
// of its own and registers with the registry under the upstream's name
// and prefix, so routing, streaming, client requests, tasks and
// list_changed work for upstreams exactly as for gRPC providers.
//
// Upstreams come from a YAML file (reloaded when it changes) and from the
// admin API (kept in Redis, so every registry replica sees them).
package upstream

import "time"

// Transport names how the registry reaches an upstream.
type Transport string

// The transports an upstream may use.
const (
	// TransportHTTP is Streamable HTTP, of either protocol generation.
	TransportHTTP Transport = "http"
	// TransportSSE is the legacy HTTP+SSE transport of 2024-11-05.
	TransportSSE Transport = "sse"
	// TransportStdio runs a local command and speaks over its stdin and
	// stdout.
	TransportStdio Transport = "stdio"
)

// Source tells where an upstream was declared.
type Source string

// The sources of upstream declarations.
const (
	SourceFile Source = "file"
	SourceAPI  Source = "api"
)

// Spec declares one upstream MCP server. The YAML file decodes into it
// (keys are the lowerCamelCase of the field names, durations are written
// like "5s"); the admin API converts its messages into it.
type Spec struct {
	// Name identifies the upstream; it is also its provider name.
	Name string `yaml:"name"`
	// Prefix goes before its tool and prompt names ("<prefix>__<tool>").
	// Nil means the name; an empty string exposes names as they are.
	Prefix *string `yaml:"prefix"`
	// Transport is http, sse or stdio.
	Transport Transport `yaml:"transport"`
	// URL is the endpoint of an http or sse upstream.
	URL string `yaml:"url"`
	// Headers are sent with every HTTP request to the upstream (for
	// example Authorization).
	Headers map[string]string `yaml:"headers"`
	// Command and Args start a stdio upstream; Env adds to its
	// environment and Dir is its working directory.
	Command string            `yaml:"command"`
	Args    []string          `yaml:"args"`
	Env     map[string]string `yaml:"env"`
	Dir     string            `yaml:"dir"`
	// ConnectTimeout bounds connecting and initializing. Zero means the
	// registry's default.
	ConnectTimeout time.Duration `yaml:"connectTimeout"`
	// CallTimeout bounds one request to the upstream. Zero means the
	// registry's default.
	CallTimeout time.Duration `yaml:"callTimeout"`
	// Tools filters the upstream's tools: when Include is not empty only
	// the tools it names are exposed, and those Exclude names never are.
	Tools ToolFilter `yaml:"tools"`

	// Source is set by the loader, never by the declaration.
	Source Source `yaml:"-"`
}

// ToolFilter selects an upstream's tools by their upstream names.
type ToolFilter struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}
