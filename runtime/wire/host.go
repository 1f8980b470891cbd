package wire

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/berth-dev/berth/runtime"
)

// startTimeout bounds a driver's start when ctx has no earlier deadline.
const startTimeout = 30 * time.Second

// Config says which driver Open starts and how.
type Config struct {
	// Name is the driver's name: Open runs the binary berth-driver-<Name>
	// that Find finds in PluginDirs, else on $PATH. Ignored when Path is
	// set.
	Name string
	// Path is the driver binary to run, overriding Name.
	Path string
	// PluginDirs are the directories searched for berth-driver-<Name>, in
	// order, before $PATH.
	PluginDirs []string
	// SHA256 is the hex SHA-256 of the binary ("sha256:" prefix optional).
	// When set, the binary is checked before every launch and refused with
	// ErrChecksum if it differs.
	SHA256 string
	// Options are passed to the driver process, which reads them with
	// DriverOptions.
	Options map[string]string
	// Env names further variables of the host's environment that the
	// driver process receives, besides those every driver receives (see
	// DriverEnv).
	Env []string
	// Hide names variables of the host's environment the driver process
	// never receives, even if DriverEnv or Env names them: those the host
	// holds secrets in.
	Hide []string
	// Logger receives the driver's logs and go-plugin's; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Driver is a driver running as a plugin process. It implements
// runtime.Runtime by calling the process; if the process has died, the next
// call starts a new one (and calls that only read or wait are retried once
// on the new process). Close stops it. A Driver is safe for concurrent use.
type Driver struct {
	path    string
	sha256  string
	env     []string // the process's environment, less go-plugin's
	sockets string   // where go-plugin makes the process's socket directory
	logger  *slog.Logger

	mu     sync.Mutex
	pc     *plugin.Client  // nil after a failed relaunch
	run    *procRunner     // pc's runner
	rt     runtime.Runtime // the client of pc
	quiet  *atomic.Bool    // pc's: its exit is on purpose (see slogAdapter)
	closed bool
}

var (
	_ runtime.Runtime        = (*Driver)(nil)
	_ runtime.ImageCopier    = (*Driver)(nil)
	_ runtime.ChangeChecker  = (*Driver)(nil)
	_ runtime.RegistryClient = (*Driver)(nil)
)

// Open finds the driver binary cfg names, checks its checksum, starts it and
// checks that it speaks runtime.ProtocolVersion and answers. The process
// gets a minimal environment (see DriverEnv), and its unix sockets live in
// a directory of the host process's own (see RemoveStaleSockets). Errors wrap
// ErrDriverNotFound, ErrChecksum, ErrProtocol (a *VersionError if the driver
// speaks another protocol version) or runtime.ErrUnavailable (the process
// did not start or answer; with ctx's error too if ctx ended the start). A
// refused process is stopped. ctx bounds the start: its end, even while the
// process has not yet written go-plugin's handshake line, kills the
// process. The caller must Close the Driver.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	path, err := findBinary(cfg)
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("open driver %s: options: %w", path, err)
	}
	sum := strings.ToLower(strings.TrimPrefix(cfg.SHA256, "sha256:"))
	if _, err := hex.DecodeString(sum); err != nil || (sum != "" && len(sum) != 2*sha256.Size) {
		return nil, fmt.Errorf("open driver %s: %w: SHA256 %q is not a hex SHA-256", path, runtime.ErrInvalidArgument, cfg.SHA256)
	}
	for _, name := range slices.Concat(cfg.Env, cfg.Hide) {
		if name == "" || strings.ContainsAny(name, "= \t\n\x00") {
			return nil, fmt.Errorf("open driver %s: %w: environment variable name %q", path, runtime.ErrInvalidArgument, name)
		}
	}
	sockets, err := acquireSocketDir()
	if err != nil {
		return nil, fmt.Errorf("open driver %s: %w: %w", path, runtime.ErrUnavailable, err)
	}
	d := &Driver{
		path:    path,
		sha256:  sum,
		env:     append(DriverEnv(cfg.Env, cfg.Hide), optionsEnv+"="+string(opts)),
		sockets: sockets,
		logger:  cfg.Logger,
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.launch(ctx); err != nil {
		releaseSocketDir()
		return nil, err
	}
	return d, nil
}

// driverEnvNames are the variables of the host's environment that every
// driver process receives, with those named LC_*: what a program needs to
// run (PATH, HOME, TMPDIR, the user, locale and time zone), to reach the
// network (proxies, TLS roots) and to find its engine (the variables the
// Docker, Podman and containerd clients read).
var driverEnvNames = []string{
	"PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT",
	"DOCKER_API_VERSION",
	"CONTAINER_HOST", "CONTAINER_SSHKEY",
	"CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE",
	"XDG_RUNTIME_DIR",
}

// DriverEnv returns the variables of the host's environment that a driver
// process receives: PATH, HOME, TMPDIR, USER, LOGNAME, LANG, LANGUAGE,
// LC_*, TZ, the proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY,
// ALL_PROXY, in upper and lower case), SSL_CERT_FILE, SSL_CERT_DIR, the
// engines' own (DOCKER_HOST, DOCKER_CONFIG, DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY, DOCKER_CONTEXT, DOCKER_API_VERSION, CONTAINER_HOST,
// CONTAINER_SSHKEY, CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE,
// XDG_RUNTIME_DIR) and those named in extra, less those named in hide. Nothing else of the host's
// environment reaches a driver; Open adds only go-plugin's handshake
// variables and the driver options.
func DriverEnv(extra, hide []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		pass := slices.Contains(driverEnvNames, name) || strings.HasPrefix(name, "LC_") || slices.Contains(extra, name)
		if pass && !slices.Contains(hide, name) {
			env = append(env, kv)
		}
	}
	return env
}

// Path returns the driver binary's absolute path.
func (d *Driver) Path() string { return d.path }

// Pid returns the process ID of the running driver process, 0 if none.
func (d *Driver) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pc == nil {
		return 0
	}
	return d.run.pid
}

// Close stops the driver process (asking it to exit, then killing it) and
// waits for it to be gone. Calls made after Close fail with
// runtime.ErrUnavailable.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.pc != nil {
		d.quiet.Store(true)
		d.pc.Kill()
		d.pc, d.run, d.rt = nil, nil, nil
	}
	releaseSocketDir()
	return nil
}

// launch starts a driver process and checks its protocol version; d.mu must
// be held. A process that fails a check is killed.
func (d *Driver) launch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start driver %s: %w", d.path, err)
	}
	bin, err := d.openBinary()
	if err != nil {
		return err
	}
	// The child has its own copy of the descriptor once started.
	defer bin.Close()
	if testHookVerified != nil {
		testHookVerified(d.path)
	}
	// The start, up to the version check included, takes at most
	// startTimeout, or until ctx's deadline if that is earlier.
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	deadline, _ := sctx.Deadline()
	// A launch given up (ctx ended) kills the process on purpose.
	quiet := &atomic.Bool{}
	stopQuiet := context.AfterFunc(ctx, func() { quiet.Store(true) })
	defer stopQuiet()
	var run *procRunner
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{pluginName: &grpcPlugin{}},
		// spec carries go-plugin's environment for the plugin (cookie,
		// socket directory, ...) and its stdin.
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, socketDir string) (runner.Runner, error) {
			cmd := binaryCommand(d.path, bin)
			cmd.Env = append(slices.Clone(d.env), spec.Env...)
			cmd.Stdin = spec.Stdin
			setParentDeathSignal(cmd)
			r, err := newProcRunner(sctx, cmd, socketDir)
			run = r
			return r, err
		},
		// No variable of the host's reaches the driver but d.env's.
		SkipHostEnv:      true,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: d.sockets},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newSlogAdapter(d.logger, quiet),
		SyncStdout:       outputWriter{l: d.logger, stream: "stdout"},
		SyncStderr:       outputWriter{l: d.logger, stream: "stderr"},
		StartTimeout:     time.Until(deadline),
	})
	// Cancelling ctx kills the process (see procRunner), which ends
	// go-plugin's wait for its handshake.
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		if sctx.Err() != nil {
			return fmt.Errorf("start driver %s: %w: %w", d.path, runtime.ErrUnavailable, sctx.Err())
		}
		return d.startError(run, err)
	}
	raw, err := rpc.Dispense(pluginName)
	if err != nil {
		pc.Kill()
		return fmt.Errorf("start driver %s: %w: %v", d.path, ErrProtocol, err)
	}
	c := raw.(*client)
	if err := checkProtocol(sctx, c.conn, d.path); err != nil {
		pc.Kill()
		return err
	}
	if !run.keep() {
		pc.Kill()
		return fmt.Errorf("start driver %s: %w: %w", d.path, runtime.ErrUnavailable, sctx.Err())
	}
	d.pc, d.run, d.rt, d.quiet = pc, run, c, quiet
	return nil
}

// testHookVerified, if set, runs after openBinary, with the binary's path.
var testHookVerified func(path string)

// openBinary opens the driver binary and, if a SHA-256 is configured,
// checks the open file's content against it. The caller executes that open
// file (see launch), so the bytes checked are the bytes run, even if the
// path is replaced in between. A file that is not a regular executable file
// is ErrDriverNotFound.
func (d *Driver) openBinary() (*os.File, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("open driver: %w: %w", ErrDriverNotFound, err)
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0) {
		err = fmt.Errorf("%w: %s is not an executable file", ErrDriverNotFound, d.path)
	}
	if err == nil && d.sha256 != "" {
		h := sha256.New()
		if _, err = io.Copy(h, f); err != nil {
			err = fmt.Errorf("checksum driver %s: %w", d.path, err)
		} else if got := hex.EncodeToString(h.Sum(nil)); got != d.sha256 {
			err = fmt.Errorf("%w: %s: expected sha256 %s, got %s", ErrChecksum, d.path, d.sha256, got)
		} else {
			// An interpreter reading a script through the descriptor
			// may share its offset: back to the start.
			_, err = f.Seek(0, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// startError classifies a failure of go-plugin's start. Its errors have no
// types to test for, so the class comes from what the process wrote first:
// a line that is not a handshake for berth's transport means the binary is
// not a berth driver, or speaks another transport (ErrProtocol); no output
// at all means it did not start, exited or did not answer in time
// (runtime.ErrUnavailable). go-plugin's error stays in the chain.
func (d *Driver) startError(run *procRunner, err error) error {
	if run != nil {
		if line, wrote := run.handshakeLine(); wrote && !isHandshake(line) {
			return fmt.Errorf("%w: %s is not a berth driver: its first output is %q, not a go-plugin handshake %d|%d|NETWORK|ADDRESS|grpc",
				ErrProtocol, d.path, line, plugin.CoreProtocolVersion, transportVersion)
		}
	}
	return fmt.Errorf("start driver %s: %w: %w", d.path, runtime.ErrUnavailable, err)
}
