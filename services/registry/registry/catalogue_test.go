package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// oddTool has JSON that a decode and re-encode would change: integers
// beyond float64, odd spacing, escapes, key order and trailing zeros.
var oddTool = &providerv1.Tool{
	Name:        "odd",
	Title:       "Odd",
	Description: "keeps every byte",
	InputSchemaJson: `{ "type":"object", "properties": {"n": {"type": "integer",` +
		` "maximum": 12345678901234567890, "default": 1.50e+2}},` +
		` "nested": {"z": {"a": [1, 2.0, {"d": null, "e": "\u00e9\ud83d\ude00"}]}} }`,
	OutputSchemaJson: `{"type":"object","properties":{"big":{"const":-98765432109876543210}}}`,
	AnnotationsJson:  `{"readOnlyHint": true, "title": "a\/b"}`,
	MetaJson:         `{"z": 1, "a": 2, "id": 340282366920938463463374607431768211457}`,
	IconsJson:        `[{"src": "data:,x", "sizes": ["48x48"]}]`,
	ExecutionJson:    `{"taskSupport": "optional"}`,
}

func TestJSONRoundTrip(t *testing.T) {
	f := startRegistry(t)
	p := startProvider(t, &testProvider{name: "j", tools: []*providerv1.Tool{oddTool}})
	f.register(t, p, nil, 0)

	want := proto.CloneOf(oddTool)
	want.Name = "j__odd"
	got := f.listAll(t)
	if len(got) != 1 {
		t.Fatalf("catalogue: %v", got)
	}
	if diff := cmp.Diff(want, got[0].GetTool(), protocmp.Transform()); diff != "" {
		t.Errorf("tool over gRPC (-want +got):\n%s", diff)
	}

	var page registryv1.ListToolsResponse
	getJSON(t, f.httpURL+"/v1/tools", &page)
	if diff := cmp.Diff(want, page.GetTools()[0].GetTool(), protocmp.Transform()); diff != "" {
		t.Errorf("tool over REST (-want +got):\n%s", diff)
	}
}

// getJSON fetches url and decodes the body into m.
func getJSON(t *testing.T, url string, m proto.Message) {
	t.Helper()
	body := fetch(t, http.MethodGet, url, "")
	if err := protojson.Unmarshal([]byte(body), m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func TestPagination(t *testing.T) {
	f := startRegistry(t, func(c *Config) { c.DefaultPageSize, c.MaxPageSize = 3, 5 })
	none := ""
	f.register(t, startProvider(t, &testProvider{name: "a",
		tools: tools("one", "two", "three", "four")}), nil, 0)
	f.register(t, startProvider(t, &testProvider{name: "b",
		tools: tools("five", "six", "seven")}), &none, 0)
	all := []string{"a__four", "a__one", "a__three", "a__two", "five", "seven", "six"}

	for size := 1; size <= len(all)+1; size++ {
		t.Run(fmt.Sprintf("page_size=%d", size), func(t *testing.T) {
			var got []string
			req := &registryv1.ListToolsRequest{PageSize: int32(size)}
			for pages := 1; ; pages++ {
				resp, err := f.client.ListTools(t.Context(), req)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				if n := len(resp.GetTools()); n > min(size, f.cfg.MaxPageSize) {
					t.Fatalf("page %d has %d tools", pages, n)
				}
				got = append(got, exposedNames(resp.GetTools())...)
				if resp.GetNextPageToken() == "" {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("walked catalogue (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("page sizes", func(t *testing.T) {
		for _, tc := range []struct{ size, want int32 }{{0, 3}, {100, 5}} {
			resp, err := f.client.ListTools(t.Context(), &registryv1.ListToolsRequest{
				PageSize: tc.size})
			if err != nil || int32(len(resp.GetTools())) != tc.want {
				t.Errorf("page_size %d: got %d tools, %v; want %d",
					tc.size, len(resp.GetTools()), err, tc.want)
			}
		}
		_, err := f.client.ListTools(t.Context(), &registryv1.ListToolsRequest{PageSize: -1})
		wantCode(t, err, codes.InvalidArgument, "page_size")
	})

	t.Run("bad tokens", func(t *testing.T) {
		for _, token := range []string{
			"!!!",
			base64.RawURLEncoding.EncodeToString([]byte{2, 'a'}),
			base64.RawURLEncoding.EncodeToString([]byte{cursorVersion}),
			base64.RawURLEncoding.EncodeToString([]byte{cursorVersion, 0xff}),
			base64.StdEncoding.EncodeToString([]byte{cursorVersion, 'a'}),
		} {
			_, err := f.client.ListTools(t.Context(), &registryv1.ListToolsRequest{
				PageToken: token})
			wantCode(t, err, codes.InvalidArgument, "invalid cursor")
		}
	})
}

func TestREST(t *testing.T) {
	f := startRegistry(t)
	f.register(t, startProvider(t, &testProvider{name: "b", tools: tools("y", "x")}), nil, 0)
	f.register(t, startProvider(t, &testProvider{name: "a", tools: tools("z")}), nil, 0)

	var providers registryv1.ListProvidersResponse
	getJSON(t, f.httpURL+"/v1/providers", &providers)
	if diff := cmp.Diff(f.providers(t), providers.GetProviders(),
		protocmp.Transform()); diff != "" {
		t.Errorf("GET /v1/providers (-grpc +rest):\n%s", diff)
	}
	if got := providers.GetProviders(); len(got) != 2 || got[0].GetName() != "a" {
		t.Errorf("providers not sorted by name: %v", got)
	}

	var page registryv1.ListToolsResponse
	getJSON(t, f.httpURL+"/v1/tools?page_size=2", &page)
	want, err := f.client.ListTools(t.Context(), &registryv1.ListToolsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &page, protocmp.Transform()); diff != "" {
		t.Errorf("GET /v1/tools (-grpc +rest):\n%s", diff)
	}

	if body := fetch(t, http.MethodGet, f.httpURL+"/healthz", ""); body != "ok\n" {
		t.Errorf("GET /healthz: %q", body)
	}

	// A streamed call comes back as one {"result": message} object per
	// message of the stream.
	body := fetch(t, http.MethodPost, f.httpURL+"/v1/tools/a__z:call", `{"argumentsJson":"{}"}`)
	var msg struct{ Result json.RawMessage }
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var result registryv1.CallToolResponse
	if err := protojson.Unmarshal(msg.Result, &result); err != nil {
		t.Fatalf("decode result %s: %v", msg.Result, err)
	}
	wantResult := &providerv1.ToolResult{ContentJson: `[{"type":"text","text":"a:z"}]`,
		StructuredContentJson: "{}"}
	if diff := cmp.Diff(wantResult, result.GetResult(), protocmp.Transform()); diff != "" {
		t.Errorf("POST :call result (-want +got):\n%s", diff)
	}
}

// fetch sends one HTTP request and returns the body of a 200 answer.
func fetch(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s %v", method, url, resp.Status, b, err)
	}
	return string(b)
}

func TestHealth(t *testing.T) {
	f := startRegistry(t)
	health := healthpb.NewHealthClient(f.conn)
	for _, service := range []string{"", "registry"} {
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", service, resp, err)
		}
	}
}
