package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// maxHead bounds the start of a driver's stdout that procRunner keeps.
const maxHead = 4 << 10

// procRunner runs a driver process for go-plugin, as go-plugin's own runner
// does, and also keeps the first line the process writes to stdout: a
// plugin's handshake line. go-plugin's start errors have no types to test,
// so when a start fails that line tells the host why (see startError).
//
// Until keep is called, the process is killed when the start context is
// done: go-plugin's own wait for the handshake line knows no context, and
// ends when the process does.
type procRunner struct {
	cmd       *exec.Cmd
	stdout    *headReader
	stderr    io.ReadCloser
	socketDir string          // made by go-plugin for the plugin's socket
	start     context.Context // the start's; done: kill the process
	unwatch   func() bool     // stops the kill on start's end; set by Start
	pid       int             // set by Start
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner returns a runner for cmd, which must not have been started,
// whose start start bounds.
func newProcRunner(start context.Context, cmd *exec.Cmd, socketDir string) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: &headReader{r: stdout}, stderr: stderr, socketDir: socketDir, start: start}, nil
}

// Start starts the process, unless the start context is done. If it does
// not start, it removes the socket directory: go-plugin's Kill skips a
// runner with no ID, and so would leave it behind.
func (r *procRunner) Start(context.Context) error {
	err := r.start.Err()
	if err == nil {
		err = r.cmd.Start()
	}
	if err != nil {
		if r.socketDir != "" {
			_ = os.RemoveAll(r.socketDir)
		}
		return err
	}
	r.pid = r.cmd.Process.Pid
	r.unwatch = context.AfterFunc(r.start, func() { _ = r.Kill(context.Background()) })
	return nil
}

// keep ends the start: the process no longer dies with the start context.
// It reports false if that context was done first (the process is killed).
func (r *procRunner) keep() bool {
	return r.unwatch == nil || r.unwatch()
}

func (r *procRunner) Wait(context.Context) error { return r.cmd.Wait() }

// Kill kills the process; killing it again, or after it exited, is no error.
func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Args[0] }

// ID is the process ID, empty before Start.
func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(context.Context) string { return "" }

// PluginToHost returns the plugin's address unchanged: host and driver share
// the machine.
func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin returns the host's address unchanged.
func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// handshakeLine returns the first line the process wrote to stdout (all of
// it if the process wrote no newline, at most maxHead bytes), and whether it
// wrote anything.
func (r *procRunner) handshakeLine() (string, bool) {
	return r.stdout.firstLine()
}

// headReader passes reads through, keeping the first line read.
type headReader struct {
	r    io.ReadCloser
	mu   sync.Mutex
	head []byte
	full bool // head holds the whole first line, or maxHead bytes of it
	seen bool // something was read
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if n > 0 {
		h.seen = true
	}
	if !h.full && n > 0 {
		chunk := p[:n]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk, h.full = chunk[:i], true
		}
		h.head = append(h.head, chunk...)
		if len(h.head) >= maxHead {
			h.head, h.full = h.head[:maxHead], true
		}
	}
	return n, err
}

func (h *headReader) Close() error { return h.r.Close() }

func (h *headReader) firstLine() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.head), h.seen
}

// isHandshake reports whether line is a go-plugin handshake line for berth's
// transport: CORE|APP|NETWORK|ADDRESS|grpc[|...], with go-plugin's core
// protocol version and transportVersion.
func isHandshake(line string) bool {
	parts := strings.Split(strings.TrimSpace(line), "|")
	return len(parts) >= 5 &&
		parts[0] == strconv.Itoa(plugin.CoreProtocolVersion) &&
		parts[1] == strconv.Itoa(transportVersion) &&
		parts[4] == string(plugin.ProtocolGRPC)
}
