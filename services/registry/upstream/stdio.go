package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard.dev/pkg/procattr"
)

const (
	// maxStderrLine bounds one stderr line in the log; the rest of a
	// longer line is dropped.
	maxStderrLine = 8 << 10
	// stopGrace is how long a stopped process gets between SIGTERM and
	// SIGKILL.
	stopGrace = 2 * time.Second
)

// baseEnv names the variables a stdio upstream inherits; Spec.Env adds
// to them. Everything else of the registry's environment, credentials
// included, stays out.
var baseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
	"SYSTEMROOT"}

// stdioTransport runs the upstream's command for each connection and
// speaks newline-delimited JSON-RPC over its stdin and stdout.
type stdioTransport struct {
	spec    Spec
	maxLine int
	log     *slog.Logger
}

// Connect starts the process. Its stdout is read line by line with the
// line limit enforced before a line is buffered whole; stderr goes to
// the log at debug level.
func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	cmd := exec.Command(t.spec.Command, t.spec.Args...)
	cmd.Env = environment(t.spec.Env)
	cmd.Dir = t.spec.Dir
	cmd.SysProcAttr = procattr.Child()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.spec.Command, err)
	}
	log := t.log.With("pid", cmd.Process.Pid)
	log.Debug("upstream process started")

	lines, feed := io.Pipe()
	p := &process{cmd: cmd, log: log, exited: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Go(func() {
		err := scanLines(stdout, t.maxLine, func(line []byte) error {
			_, err := feed.Write(line)
			return err
		}, func(n int) {
			log.Error("upstream stdout line too long, dropped", "bytes", n, "limit", t.maxLine)
		})
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
			log.Debug("upstream stdout read failed", "err", err)
		}
		feed.CloseWithError(errProcessExited)
	})
	readers.Go(func() { logStderr(stderr, log) })
	go func() {
		readers.Wait()
		p.waitErr = cmd.Wait()
		close(p.exited)
		log.Debug("upstream process exited", "status", p.waitErr)
	}()

	// The SDK's own line cap is off: scanLines enforces the limit.
	conn, err := (&mcp.IOTransport{Reader: lines, Writer: stdin, MaxLineLength: -1}).Connect(ctx)
	if err != nil {
		p.kill()
		return nil, err
	}
	return &processConn{Connection: conn, p: p}, nil
}

// environment returns the base environment plus extra, extra winning.
func environment(extra map[string]string) []string {
	var env []string
	for _, k := range baseEnv {
		if v, ok := os.LookupEnv(k); ok && extra[k] == "" {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// process is a running upstream command.
type process struct {
	cmd     *exec.Cmd
	log     *slog.Logger
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// kill ends the process group: SIGTERM, then SIGKILL after a grace
// period, and waits for the process to be reaped.
func (p *process) kill() {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		signalGroup(p.cmd, false)
		select {
		case <-p.exited:
			return
		case <-time.After(stopGrace):
		}
		signalGroup(p.cmd, true)
		<-p.exited
	})
}

// processConn is the SDK connection over a process; closing it stops
// the process.
type processConn struct {
	mcp.Connection
	p *process
}

func (c *processConn) Close() error {
	err := c.Connection.Close()
	c.p.kill()
	return err
}

// Read reports the process's exit rather than a bare pipe error.
func (c *processConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil || !errors.Is(err, errProcessExited) {
		return msg, err
	}
	// stdout closes just before the process is reaped.
	select {
	case <-c.p.exited:
		return nil, fmt.Errorf("%w: %v", errProcessExited, c.p.waitErr)
	case <-time.After(stopGrace):
		return nil, err
	}
}

// scanLines calls emit with every line of r (newline included) of at
// most max bytes before the newline. A longer line is skipped as it is
// read, never held whole, and reported to tooLong with its size.
func scanLines(r io.Reader, max int, emit func([]byte) error, tooLong func(int)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	size, over := 0, false
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if !over {
			line = append(line, chunk...)
			if len(line) > max+1 || (len(line) > max && line[len(line)-1] != '\n') {
				over, line = true, line[:0]
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if len(line) > 0 && !over {
				if werr := emit(append(line, '\n')); werr != nil {
					return werr
				}
			}
			return err
		}
		if over {
			tooLong(size - 1)
		} else if werr := emit(line); werr != nil {
			return werr
		}
		line, size, over = line[:0], 0, false
	}
}

// logStderr logs each stderr line at debug level, cut to maxStderrLine.
func logStderr(r io.Reader, log *slog.Logger) {
	br := bufio.NewReaderSize(r, maxStderrLine)
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && !cut {
			log.Debug("upstream stderr", "line", string(trimNewline(chunk)))
		}
		// A full buffer is the start of an over-long line: the rest of it
		// is dropped.
		cut = errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !cut {
			return
		}
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
