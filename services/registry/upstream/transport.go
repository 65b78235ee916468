package upstream

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// httpRetries is how often the SDK resumes a broken SSE stream before it
// gives the connection up. Kept low so that a call to an upstream that
// died fails within seconds; the bridge reconnects by itself.
const httpRetries = 2

// transport returns a new transport to the upstream, tapped by t; each
// Connect of a stdio transport starts a process of its own.
func (b *bridge) transport(t *tap) mcp.Transport {
	switch b.spec.Transport {
	case TransportSSE:
		return &tapTransport{tap: t, wrap: true,
			inner: &mcp.SSEClientTransport{Endpoint: b.spec.URL, HTTPClient: b.httpClient()}}
	case TransportStdio:
		return &tapTransport{tap: t, wrap: true,
			inner: &stdioTransport{spec: b.spec, maxLine: b.opts.MaxLineBytes, log: b.log}}
	}
	client := b.httpClient()
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &tapRoundTripper{base: base, tap: t}
	return &tapTransport{tap: t, inner: &mcp.StreamableClientTransport{Endpoint: b.spec.URL,
		HTTPClient: client, MaxRetries: httpRetries}}
}

// httpClient sends the spec's headers with every request: POSTs, the
// SSE GETs and the closing DELETE.
func (b *bridge) httpClient() *http.Client {
	if len(b.spec.Headers) == 0 {
		return &http.Client{}
	}
	return &http.Client{Transport: &headerTransport{base: http.DefaultTransport,
		headers: b.spec.Headers}}
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}
