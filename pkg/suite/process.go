package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"switchboard.dev/pkg/procattr"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Process is one program of the suite. It can be stopped, killed and
// started again; it keeps its addresses, flags and log file throughout.
type Process struct {
	// Name is unique within the suite: "session", "gateway-2",
	// "provider-demo".
	Name string
	// GRPCAddr is the gRPC listen address, also used for health checks.
	GRPCAddr string
	// HTTPAddr is the HTTP listen address; empty for programs with none.
	HTTPAddr string
	// AdminAddr is the admin API's listen address; empty for programs
	// with none.
	AdminAddr string
	// LogPath is the file that receives the program's stdout and stderr.
	// Runs after a restart append to it.
	LogPath string

	bin          string
	args         []string
	env          []string
	output       io.Writer
	readyTimeout time.Duration
	stopTimeout  time.Duration
	log          *slog.Logger
	exits        chan<- *Process
	provider     string // registered provider name, for provider processes

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{} // closed when the current run has exited
	exitErr    error
	stopping   bool // the current run was asked to end
	unexpected bool // the last run ended without being asked to
}

// Args returns the program's command-line arguments.
func (p *Process) Args() []string { return append([]string(nil), p.args...) }

// Start runs the program and waits until its gRPC health service reports
// SERVING. It fails if the program is already running, exits during
// start-up or is not healthy within the ready timeout; the error then
// carries the tail of the log.
func (p *Process) Start(ctx context.Context) error {
	done, err := p.spawn()
	if err != nil {
		return err
	}
	if err := p.waitHealthy(ctx, done); err != nil {
		p.Kill()
		return fmt.Errorf("%s: %w%s", p.Name, err, p.tail())
	}
	p.log.Info("process ready", "name", p.Name, "pid", p.Pid(),
		"grpc_addr", p.GRPCAddr, "http_addr", p.HTTPAddr)
	return nil
}

func (p *Process) spawn() (chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return nil, fmt.Errorf("%s: already running", p.Name)
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = p.writer(f)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = procattr.Child()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.stopping, p.unexpected = cmd, done, nil, false, false
	go p.wait(cmd, f, done)
	return done, nil
}

func (p *Process) writer(f *os.File) io.Writer {
	if p.output == nil {
		return f
	}
	return io.MultiWriter(f, &prefixWriter{w: p.output, prefix: p.Name + " | "})
}

// wait reaps the program and reports an exit nobody asked for.
func (p *Process) wait(cmd *exec.Cmd, f *os.File, done chan struct{}) {
	err := cmd.Wait()
	f.Close()
	p.mu.Lock()
	p.exitErr = err
	unexpected := !p.stopping
	p.unexpected = unexpected
	p.mu.Unlock()
	close(done)
	if !unexpected {
		return
	}
	p.log.Warn("process exited", "name", p.Name, "err", exitText(err))
	select {
	case p.exits <- p:
	default:
	}
}

func (p *Process) waitHealthy(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, p.readyTimeout)
	defer cancel()
	conn, err := dial(p.GRPCAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for {
		callCtx, cancelCall := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(callCtx, &healthpb.HealthCheckRequest{})
		cancelCall()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("exited during start-up: %s", exitText(p.exitError()))
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s (last check: %v, status %v)",
				p.readyTimeout, err, resp.GetStatus())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// dial connects to a local gRPC server, retrying quickly: the default
// backoff would wait seconds after the first refused connection.
func dial(addr string) (*grpc.ClientConn, error) {
	bc := backoff.DefaultConfig
	bc.BaseDelay, bc.MaxDelay = 25*time.Millisecond, 250*time.Millisecond
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: time.Second}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// Stop sends SIGTERM and waits up to timeout for the program to exit,
// then kills it. It returns an error when the program exited non-zero,
// had to be killed, or had already exited on its own with an error.
func (p *Process) Stop(timeout time.Duration) error {
	cmd, done, err := p.markStopping()
	if cmd == nil {
		return err
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: signal: %w", p.Name, err)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s: still running %s after SIGTERM; killed%s", p.Name, timeout, p.tail())
	}
	if err := p.exitError(); err != nil {
		return fmt.Errorf("%s: exit after SIGTERM: %w%s", p.Name, err, p.tail())
	}
	return nil
}

// Kill ends the program at once with SIGKILL, as a crash would, and waits
// for it to exit. It does nothing when the program is not running.
func (p *Process) Kill() {
	cmd, done, _ := p.markStopping()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
	p.log.Info("process killed", "name", p.Name)
}

// Restart stops the program gracefully if it runs and starts it again on
// the same addresses.
func (p *Process) Restart(ctx context.Context) error {
	stopErr := p.Stop(p.stopTimeout)
	if err := p.Start(ctx); err != nil {
		return errors.Join(stopErr, err)
	}
	return stopErr
}

// markStopping flags the current run as asked to end. It returns nil cmd
// when nothing runs, with the error of an unexpected earlier exit.
func (p *Process) markStopping() (*exec.Cmd, chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		if p.unexpected && p.exitErr != nil {
			return nil, nil, fmt.Errorf("%s: had exited: %w", p.Name, p.exitErr)
		}
		return nil, nil, nil
	}
	p.stopping = true
	return p.cmd, p.done, nil
}

// Running reports whether the program runs.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *Process) runningLocked() bool { return p.done != nil && !isDone(p.done) }

// Pid returns the process id of the current or last run, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Tail returns the last n lines of the program's log.
func (p *Process) Tail(n int) string { return tailFile(p.LogPath, n) }

// tail formats the end of the log for an error message.
func (p *Process) tail() string {
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", p.LogPath, p.Tail(20))
}

func (p *Process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
