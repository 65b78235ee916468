package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// roundRobin is a reverse proxy that sends each HTTP request to the next
// gateway replica in turn, so that every request of one MCP session, and
// every stream, may land on a different replica. It keeps Host and Origin
// as the client sent them, since the gateway's DNS-rebinding defence
// judges those.
type roundRobin struct {
	targets []*url.URL
	next    atomic.Uint64
	proxy   *httputil.ReverseProxy
}

func newRoundRobin(targets []*url.URL) *roundRobin {
	rr := &roundRobin{targets: targets}
	rr.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			t := rr.targets[rr.next.Add(1)%uint64(len(rr.targets))]
			r.SetURL(t)
			r.Out.Host = r.In.Host
		},
		// SSE events must reach the client as they are written.
		FlushInterval: -1,
		// Clients end SSE streams mid-body all the time (the suite cuts
		// streams on purpose); that is not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.proxy.ServeHTTP(w, r)
}
