package redisx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"switchboard.dev/pkg/procattr"
)

// Local is a Redis started for development or tests.
type Local struct {
	// URL to hand to Open.
	URL string
	// Embedded is true when no redis-server binary was found and an
	// in-process Redis-compatible store serves instead.
	Embedded bool
	stop     func()
}

// Stop ends the server. It is safe to call more than once.
func (l *Local) Stop() {
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
}

// StartServer starts a private redis-server that keeps nothing on disk,
// listening on 127.0.0.1:port (port 0 picks a free one). It fails when no
// redis-server binary is installed.
func StartServer(ctx context.Context, dir string, port int) (*Local, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("find redis-server: %w", err)
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	// A detached context: the server must outlive the start-up context and
	// end only when Stop is called.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"))
	// Its own process group keeps a terminal's Ctrl-C from reaching it
	// before the services that use it have stopped; it also dies with us.
	cmd.SysProcAttr = procattr.Child()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitTCP(ctx, addr, exited); err != nil {
		stop()
		return nil, fmt.Errorf("redis-server on %s: %w (log: %s)", addr, err, tail(filepath.Join(dir, "redis.log")))
	}
	return &Local{URL: "redis://" + addr + "/0", stop: stop}, nil
}

// StartLocal starts redis-server when it is installed, and otherwise an
// in-process Redis-compatible store (miniredis) on 127.0.0.1:port.
func StartLocal(ctx context.Context, dir string, port int) (*Local, error) {
	if _, err := exec.LookPath("redis-server"); err == nil {
		return StartServer(ctx, dir, port)
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return &Local{URL: "redis://" + m.Addr() + "/0", Embedded: true, stop: m.Close}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("not accepting connections after 10s")
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 5 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}
