package session_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

func TestREST(t *testing.T) {
	e := start(t, nil)

	before := time.Now()
	var created sessionv1.CreateSessionResponse
	readJSON(t, do(t, http.MethodPost, e.httpURL+"/v1/sessions",
		`{"protocolVersion":"2025-11-25","clientInfoJson":"{\"name\":\"curl\",\"n\":1e999}"}`),
		http.StatusOK, &created)
	s := created.GetSession()
	checkID(t, s.GetId())
	checkTimes(t, s, before, testTTL)
	if d := e.pttl(t, e.key(s.GetId())); d <= 0 {
		t.Errorf("PTTL of the REST-created session = %v, want > 0", d)
	}

	url := e.httpURL + "/v1/sessions/" + s.GetId()
	want := proto.Clone(s).(*sessionv1.Session)
	steps := []struct {
		name, method, url, body string
		status                  int
		// edit changes want before the step's response is compared to it.
		edit func()
	}{
		{"get", http.MethodGet, url, "", http.StatusOK, nil},
		{"update", http.MethodPatch, url, `{"initialized":true,"logLevel":"info"}`,
			http.StatusOK, func() { want.Initialized, want.LogLevel = true, "info" }},
		{"renew", http.MethodPost, url + ":renew", `{}`, http.StatusOK, nil},
		{"delete", http.MethodDelete, url, "", http.StatusOK, nil},
		{"get deleted", http.MethodGet, url, "", http.StatusNotFound, nil},
		{"delete again", http.MethodDelete, url, "", http.StatusNotFound, nil},
		{"get malformed", http.MethodGet, e.httpURL + "/v1/sessions/a%20b", "",
			http.StatusBadRequest, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.edit != nil {
				st.edit()
			}
			var got sessionv1.GetSessionResponse // same shape as the others
			readJSON(t, do(t, st.method, st.url, st.body), st.status, &got)
			if st.status != http.StatusOK || st.method == http.MethodDelete {
				return
			}
			if diff := diffSessions(want, got.GetSession()); diff != "" {
				t.Errorf("session (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	e := start(t, nil)
	resp := do(t, http.MethodGet, e.httpURL+"/healthz", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz: %d %q, want 200 \"ok\\n\"", resp.StatusCode, body)
	}
}

// readJSON checks the status of resp and, for 200, decodes its body into m.
func readJSON(t *testing.T, resp *http.Response, status int, m proto.Message) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, status)
	}
	if status != http.StatusOK {
		return
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
