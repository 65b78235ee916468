// Package httpguard holds the checks that keep web pages away from
// Switchboard's HTTP ports: a page in a browser can send requests to a
// loopback address (and, through DNS rebinding, under a foreign Host
// name), so every port judges Origin and Host.
//
// The MCP endpoint admits allow-listed origins; the REST ports of the
// session service and the registry, which no browser needs, use Admin:
//
//	handler = httpguard.Admin(handler, httpguard.LoopbackHosts(addr))
package httpguard

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginAllowed reports whether a request's Origin may talk to the
// gateway. Requests without Origin come from non-browser clients and are
// allowed; the MCP transport requires servers to validate Origin to stop
// DNS-rebinding attacks from web pages (2025-11-25, Transports, Security
// Warning).
func OriginAllowed(origin string, allowed []string) bool {
	if origin == "" {
		return true
	}
	if len(allowed) == 0 {
		return loopbackOrigin(origin)
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}

// loopbackOrigin reports whether origin is an http(s) page on loopback.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return LoopbackHost(u.Hostname())
}

// LoopbackHost reports whether host names this machine's loopback.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HostAllowed checks the Host header against the allow-list, ignoring the
// port. An empty list allows any host.
func HostAllowed(hostport string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.Trim(a, "[]"), host) {
			return true
		}
	}
	return false
}

// LoopbackHosts returns the Host names to accept on a server listening on
// addr: the loopback names when addr is a loopback address, else nil (any
// Host), since a server reachable from elsewhere is named by others.
func LoopbackHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !LoopbackHost(host) {
		return nil
	}
	return []string{"localhost", "127.0.0.1", "::1"}
}

// Admin guards an administrative HTTP API (REST over gRPC): it refuses
// every request that carries an Origin header (only browsers send one, and
// no page has business there), a Host outside hosts, and a body that is
// not JSON, since a page may send text/plain without asking first.
func Admin(h http.Handler, hosts []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case len(r.Header.Values("Origin")) > 0:
			http.Error(w, "forbidden: requests from web pages are not accepted", http.StatusForbidden)
		case !HostAllowed(r.Host, hosts):
			http.Error(w, "forbidden: Host is not allowed", http.StatusForbidden)
		case r.ContentLength != 0 && !jsonBody(r):
			http.Error(w, "unsupported media type: send application/json", http.StatusUnsupportedMediaType)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
