package gateway

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// accepts reports which of JSON and SSE an Accept header admits. A missing
// header admits both.
func accepts(header []string) (json, sse bool) {
	if len(header) == 0 {
		return true, true
	}
	for _, h := range header {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v <= 0 {
					continue
				}
			}
			switch mt {
			case "*/*":
				json, sse = true, true
			case "application/*", "application/json":
				json = true
			case "text/*", "text/event-stream":
				sse = true
			}
		}
	}
	return json, sse
}

// isJSONContent reports whether a Content-Type names JSON.
func isJSONContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
