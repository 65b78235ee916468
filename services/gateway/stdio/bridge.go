// Package stdio bridges an MCP client that speaks over stdin and stdout
// (MCP 2025-11-25, Transports, stdio) to a Switchboard gateway's
// Streamable HTTP endpoint, for desktop clients that can only spawn a
// command:
//
//	var cfg stdio.Config
//	l := config.NewLoader("switchboard stdio", "SWITCHBOARD_STDIO_")
//	cfg.Load(l)
//	if err := cfg.Parse(l, args); err != nil { ... }
//	err := stdio.Run(ctx, log, cfg, os.Stdin, os.Stdout)
//
// Each stdin line is one JSON-RPC message, relayed verbatim in a POST.
// Answers, whether JSON or Server-Sent Events, and the messages of the
// session's GET stream come back as one line each on stdout. Requests are
// relayed concurrently, so a long tool call does not hold up a ping.
package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Bridge relays one client's messages. Its zero value is not usable;
// Run makes one.
type Bridge struct {
	log     *slog.Logger
	cfg     Config
	headers http.Header // from Config.Headers
	client  *http.Client
	out     *lineWriter

	mu        sync.Mutex
	sessionID string
	version   string             // negotiated protocol version
	stopGET   context.CancelFunc // ends the standalone stream's loop

	inflight  sync.WaitGroup // requests being relayed
	listeners sync.WaitGroup // standalone stream loops

	// cancels ends the relay of an in-flight request, by its id as JSON
	// text: a stateless client cancels over stdio with
	// notifications/cancelled, and over HTTP that is closing the stream.
	cancels map[string]context.CancelFunc
}

// Run relays messages between stdin and stdout and the gateway until
// stdin ends or ctx is cancelled; either way it then ends the session
// with a DELETE. It returns nil unless reading stdin failed.
func Run(ctx context.Context, log *slog.Logger, cfg Config,
	stdin io.Reader, stdout io.Writer) error {
	headers, err := parseHeaders(cfg.Headers)
	if err != nil {
		return err
	}
	b := &Bridge{
		log: log, cfg: cfg, headers: headers,
		client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		out:     &lineWriter{w: stdout},
		cancels: make(map[string]context.CancelFunc),
	}
	defer b.client.CloseIdleConnections()
	log.Info("bridge started", "url", cfg.URL, "max_line_bytes", cfg.MaxLineBytes)

	relayCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan error, 1)
	// Reading stdin cannot be interrupted, so it runs on its own; after a
	// signal, Run returns without waiting for it.
	go func() { read <- b.readAll(relayCtx, stdin) }()
	select {
	case err = <-read:
		b.drain(ctx)
	case <-ctx.Done():
		log.Info("signal received")
	}
	cancel()
	b.listeners.Wait()
	b.endSession(ctx)
	log.Info("bridge stopped")
	return err
}

// readAll handles every line of stdin until it ends.
func (b *Bridge) readAll(ctx context.Context, stdin io.Reader) error {
	r := bufio.NewReaderSize(stdin, 64<<10)
	for {
		line, err := readLine(r, b.cfg.MaxLineBytes)
		switch {
		case errors.Is(err, errLineTooLong):
			b.log.Warn("line refused", "reason", "too long", "limit", b.cfg.MaxLineBytes)
			b.reply(recoverID(line), &rpcError{Code: codeParseError,
				Message: fmt.Sprintf("parse error: line longer than %d bytes", b.cfg.MaxLineBytes)})
		case errors.Is(err, io.EOF):
			b.log.Info("stdin closed")
			return nil
		case err != nil:
			return fmt.Errorf("read stdin: %w", err)
		default:
			b.handle(ctx, line)
		}
	}
}

// drain lets answers in flight arrive after stdin ended, within the
// drain delay plus the shutdown timeout.
func (b *Bridge) drain(ctx context.Context) {
	if b.cfg.DrainDelay > 0 {
		sleep(ctx, b.cfg.DrainDelay)
	}
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	t := time.NewTimer(b.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		b.log.Warn("requests still in flight at shutdown")
	case <-ctx.Done():
	}
}

// handle relays one stdin line. Initialize, notifications and responses
// are relayed in order, before the next line is read, so that the
// session exists before anything else is sent and a notification cannot
// overtake the initialize it follows; requests are relayed concurrently.
func (b *Bridge) handle(ctx context.Context, line []byte) {
	if len(trimSpace(line)) == 0 {
		return
	}
	msg, rerr := parse(line)
	if rerr != nil {
		b.log.Warn("line refused", "reason", rerr.Message)
		b.reply(msg.id, rerr)
		return
	}
	switch {
	case msg.kind == kindRequest && msg.method == "initialize":
		b.initialize(ctx, line, msg)
	case msg.kind == kindRequest:
		rctx, cancel := context.WithCancel(ctx)
		key := string(msg.id)
		b.mu.Lock()
		b.cancels[key] = cancel
		b.mu.Unlock()
		b.inflight.Add(1)
		go func() {
			defer b.inflight.Done()
			defer func() {
				b.mu.Lock()
				delete(b.cancels, key)
				b.mu.Unlock()
				cancel()
			}()
			b.request(rctx, line, msg)
		}()
	default:
		if msg.method == "notifications/cancelled" {
			b.cancelRequest(line)
		}
		b.notify(ctx, line, msg)
	}
}

// cancelRequest stops relaying the request a notifications/cancelled
// names, which closes its HTTP stream; the notification still goes to the
// gateway, which is how a session-based call learns it.
func (b *Bridge) cancelRequest(line []byte) {
	var n struct {
		Params struct {
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	if json.Unmarshal(line, &n) != nil || len(n.Params.RequestID) == 0 {
		return
	}
	b.mu.Lock()
	cancel := b.cancels[string(n.Params.RequestID)]
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// sleep waits for d or for ctx to end, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
