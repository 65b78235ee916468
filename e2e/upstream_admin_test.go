package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestUpstreamAdminAPI declares an HTTP upstream through the registry's
// admin REST API, which asks for a bearer token: its tools appear through
// the gateway and its health is up; removed, its tools leave. A request
// without the token, or with another, is refused with 401.
func TestUpstreamAdminAPI(t *testing.T) {
	const token = "e2e-admin-token"
	web := startGoUpstream(t, "web", false, nil)
	s := startSuiteWith(t, suiteWithRegistryArgs(1, "-admin-token="+token))
	urls := s.MCPURLs()
	cs := goClient(t, newWire(t, urls), urls[0], nil)
	decl := httpDecl("web", "web", web.URL())
	tools := []string{"web__whoami", "web__nap"}

	for _, tt := range []struct {
		name, method, path, token string
		body                      any
	}{
		{"add without a token", http.MethodPost, "/v1/upstreams", "", decl},
		{"add with a wrong token", http.MethodPost, "/v1/upstreams", "not-" + token, decl},
		{"list without a token", http.MethodGet, "/v1/upstreams", "", nil},
		{"get without a token", http.MethodGet, "/v1/upstreams/web", "", nil},
		{"remove without a token", http.MethodDelete, "/v1/upstreams/web", "", nil},
	} {
		if code, body := admin(t, s, tt.method, tt.path, tt.token, tt.body); code !=
			http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", tt.name, code, body)
		}
	}

	if code, body := admin(t, s, http.MethodPost, "/v1/upstreams", token, decl); code != http.StatusOK {
		t.Fatalf("add: %d %s", code, body)
	}
	waitListed(t, cs, tools, true)
	wantText(t, cs, "web__whoami", map[string]any{}, "I am web")
	st := waitHealth(t, s, "web", token, "up", func(st upstreamStatus) bool {
		return st.Health.State == "up"
	})
	if st.Source != "api" || st.Health.ToolCount != len(tools) {
		t.Errorf("status %+v, want source api and %d tools", st, len(tools))
	}
	code, body := admin(t, s, http.MethodGet, "/v1/upstreams", token, nil)
	var list struct {
		Upstreams []struct {
			Upstream upstreamDecl `json:"upstream"`
			Source   string       `json:"source"`
		} `json:"upstreams"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil ||
		len(list.Upstreams) != 1 || list.Upstreams[0].Upstream.URL != web.URL() {
		t.Errorf("list: %d %s, want web alone", code, body)
	}

	if code, body := admin(t, s, http.MethodDelete, "/v1/upstreams/web", token, nil); code !=
		http.StatusOK {
		t.Fatalf("remove: %d %s", code, body)
	}
	waitListed(t, cs, tools, false)
	if code, body := admin(t, s, http.MethodGet, "/v1/upstreams/web", token, nil); code !=
		http.StatusNotFound {
		t.Errorf("get after the removal: %d %s, want 404", code, body)
	}
}
