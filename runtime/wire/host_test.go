package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
)

// driverBin is the test driver (testdata/driver), built by TestMain, in
// driverDir under the name berth-driver-mem.
var driverBin, driverDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if bin := os.Getenv(helperDriverEnv); bin != "" {
		// A helper process of a test: the parent built the driver.
		driverBin, driverDir = bin, filepath.Dir(bin)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "wire-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	driverDir = dir
	driverBin = filepath.Join(dir, "berth-driver-mem")
	build := exec.Command("go", "build", "-o", driverBin, "./testdata/driver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test driver:", err)
		return 1
	}
	return m.Run()
}

// open starts the test driver, closed at the end of the test.
func open(t testing.TB, cfg wire.Config) *wire.Driver {
	t.Helper()
	if cfg.Path == "" && cfg.Name == "" {
		cfg.Path = driverBin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := wire.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// alive reports whether a process with this pid exists (zombies included).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestOpenOptionsAndClose(t *testing.T) {
	d := open(t, wire.Config{Options: map[string]string{"version": "v7"}})
	info, err := d.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, [3]any{"memdriver", "v7", runtime.ProtocolVersion}, [3]any{info.Name, info.Version, info.ProtocolVersion},
		"Info's name, version and protocol version")
	pid := d.Pid()
	require.True(t, pid > 0 && alive(pid), "pid %d is a live process", pid)
	require.NoError(t, d.Close())
	require.False(t, alive(pid), "driver process %d still exists after Close", pid)
	require.ErrorIs(t, d.Ping(context.Background()), runtime.ErrUnavailable, "Ping after Close")
}

func TestOpenByNameInPluginDir(t *testing.T) {
	d := open(t, wire.Config{Name: "mem", PluginDirs: []string{t.TempDir(), driverDir}})
	require.Equal(t, driverBin, d.Path(), "the driver's path")
}

func TestOpenByNameOnPath(t *testing.T) {
	t.Setenv("PATH", driverDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	d := open(t, wire.Config{Name: "mem", PluginDirs: []string{t.TempDir()}})
	require.Equal(t, driverBin, d.Path(), "the driver's path")
}

func TestOpenNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, cfg := range []wire.Config{
		{Name: "nonesuch", PluginDirs: []string{t.TempDir()}},
		{Path: filepath.Join(t.TempDir(), "berth-driver-gone")},
	} {
		_, err := wire.Open(context.Background(), cfg)
		assert.ErrorIs(t, err, wire.ErrDriverNotFound, "Open(%+v)", cfg)
	}
	_, err := wire.Open(context.Background(), wire.Config{Name: "../x"})
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "Open with a path as name")
}

func TestOpenChecksum(t *testing.T) {
	data, err := os.ReadFile(driverBin)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	open(t, wire.Config{SHA256: "sha256:" + good})

	_, err = wire.Open(context.Background(), wire.Config{Path: driverBin, SHA256: "abc"})
	require.ErrorIs(t, err, runtime.ErrInvalidArgument, "Open with a malformed checksum")
	bad := hex.EncodeToString(make([]byte, 32))
	_, err = wire.Open(context.Background(), wire.Config{Path: driverBin, SHA256: bad})
	require.ErrorIs(t, err, wire.ErrChecksum, "Open with a wrong checksum")
}

// TestChecksumBeforeLaunch: a binary refused for its checksum never runs
// (it would have created a file).
func TestChecksumBeforeLaunch(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "berth-driver-touch")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755))
	_, err := wire.Open(context.Background(), wire.Config{Path: script, SHA256: hex.EncodeToString(make([]byte, 32))})
	require.ErrorIs(t, err, wire.ErrChecksum, "Open")
	_, err = os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the binary ran (stat marker)")
}

// openRefused opens the test driver with ctx and opts, which must make Open
// fail, and returns Open's error after checking that the driver process is
// gone.
func openRefused(ctx context.Context, t *testing.T, opts map[string]string) error {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pid")
	opts["pidfile"] = pidfile
	d, err := wire.Open(ctx, wire.Config{
		Path:    driverBin,
		Options: opts,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err == nil {
		_ = d.Close()
	}
	require.Error(t, err, "Open with options %v", opts)
	data, rerr := os.ReadFile(pidfile)
	require.NoError(t, rerr, "the driver did not run (Open: %v)", err)
	pid, perr := strconv.Atoi(string(data))
	require.NoError(t, perr, "the driver's pid file")
	require.False(t, alive(pid), "refused driver process %d still exists", pid)
	return err
}

// TestOpenProtocolMismatch: a driver that passes go-plugin's handshake but
// reports another protocol version over the Handshake service is refused
// with a *VersionError naming both versions, and stopped.
func TestOpenProtocolMismatch(t *testing.T) {
	for _, theirs := range []int{runtime.ProtocolVersion + 1, runtime.ProtocolVersion - 1} {
		err := openRefused(context.Background(), t, map[string]string{"protocol": strconv.Itoa(theirs)})
		var ve *wire.VersionError
		require.ErrorIs(t, err, wire.ErrProtocol)
		require.ErrorAs(t, err, &ve, "Open's error: a *VersionError")
		require.Equal(t, wire.VersionError{Driver: theirs, Host: runtime.ProtocolVersion, Path: driverBin}, *ve, "the VersionError")
		t.Log(err)
	}
}

// TestOpenNoHandshake: a driver that does not serve the Handshake service
// (built before it existed) is refused with ErrProtocol, and stopped.
func TestOpenNoHandshake(t *testing.T) {
	err := openRefused(context.Background(), t, map[string]string{"protocol": "none"})
	var ve *wire.VersionError
	require.ErrorIs(t, err, wire.ErrProtocol)
	require.NotErrorAs(t, err, &ve, "Open's error: no version")
	t.Log(err)
}

// TestOpenHandshakeUnanswered: a driver that never answers the Handshake is
// refused when ctx's deadline passes, with ErrUnavailable and the deadline
// in the chain, and stopped.
func TestOpenHandshakeUnanswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := openRefused(ctx, t, map[string]string{"protocol": "hang"})
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, wire.ErrProtocol)
	t.Log(err)
}

// TestNotAPlugin: a binary that does not start with a go-plugin handshake
// for berth's transport is refused with ErrProtocol; one that writes nothing
// and exits (a driver crashing at start) with ErrUnavailable.
func TestNotAPlugin(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         error
	}{
		{"echo", "echo hello", wire.ErrProtocol},
		{"echo-no-newline", "printf hello", wire.ErrProtocol},
		{"other-transport", "echo '1|2|unix|/nonexistent|grpc'", wire.ErrProtocol},
		{"netrpc", "echo '1|1|unix|/nonexistent|netrpc'", wire.ErrProtocol},
		{"crash", "echo oops >&2; exit 3", runtime.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(t.TempDir(), "berth-driver-"+tc.name)
			require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755))
			_, err := wire.Open(context.Background(), wire.Config{Path: script, Logger: slog.New(slog.DiscardHandler)})
			require.ErrorIs(t, err, tc.want)
			other := runtime.ErrUnavailable
			if tc.want == runtime.ErrUnavailable {
				other = wire.ErrProtocol
			}
			require.NotErrorIs(t, err, other, "Open's error is of one class only")
			t.Log(err)
		})
	}
}

// TestNotExecutable: a binary the system cannot run is ErrUnavailable, with
// the exec error in the chain.
func TestNotExecutable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "berth-driver-garbage")
	require.NoError(t, os.WriteFile(bin, []byte{0x7f, 'E', 'L', 'F', 0, 0, 0, 0}, 0o755))
	_, err := wire.Open(context.Background(), wire.Config{Path: bin, Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	require.ErrorIs(t, err, syscall.ENOEXEC)
}

// TestRelaunch kills the driver process; the next call runs on a new one.
func TestRelaunch(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	pid := d.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.NoError(t, d.Ping(ctx), "Ping after the driver was killed")
	got := d.Pid()
	require.True(t, got != pid && got > 0, "pid after relaunch %d, before %d", got, pid)
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage})
	require.NoError(t, err)
	_, err = d.Wait(ctx, c.ID)
	require.NoError(t, err)
}

// TestDriverDiesDuringCall: a Logs call blocked in the driver when it dies
// fails with ErrUnavailable (it is not retried), and the driver is usable
// afterwards.
func TestDriverDiesDuringCall(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 3600"}})
	require.NoError(t, err)
	w := &signalWriter{wrote: make(chan struct{})}
	res := make(chan error, 1)
	go func() {
		res <- d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, w, io.Discard)
	}()
	<-w.wrote // Logs is now blocked in the driver, following
	require.NoError(t, syscall.Kill(d.Pid(), syscall.SIGKILL))
	require.ErrorIs(t, <-res, runtime.ErrUnavailable, "Logs when the driver died")
	require.NoError(t, d.Ping(ctx), "Ping after")
}

// TestRetryAfterDeath: a Wait blocked in the driver when it dies is retried on
// the new process (which, memdriver being in memory, knows no such
// container: a real engine's driver would find it).
func TestRetryAfterDeath(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sleep", "3600"}})
	require.NoError(t, err)
	pid := d.Pid()
	res := make(chan error, 1)
	go func() {
		_, err := d.Wait(ctx, c.ID)
		res <- err
	}()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.ErrorIs(t, <-res, runtime.ErrNotFound, "Wait")
	require.NotEqual(t, pid, d.Pid(), "the driver's pid after its death")
}

// TestCloseDuringCall: Close ends a call blocked in the driver with
// ErrUnavailable, and leaves no process.
func TestCloseDuringCall(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 3600"}})
	require.NoError(t, err)
	w := &signalWriter{wrote: make(chan struct{})}
	res := make(chan error, 1)
	go func() {
		res <- d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, w, io.Discard)
	}()
	<-w.wrote
	pid := d.Pid()
	require.NoError(t, d.Close())
	require.ErrorIs(t, <-res, runtime.ErrUnavailable, "Logs")
	require.False(t, alive(pid), "driver process %d still exists after Close", pid)
}

// TestCancelOverProcess: cancelling the host's context ends a Wait blocked in
// the driver process with context.Canceled, and the process lives on.
func TestCancelOverProcess(t *testing.T) {
	d := open(t, wire.Config{})
	c, err := d.Run(context.Background(), runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sleep", "3600"}})
	require.NoError(t, err)
	pid := d.Pid()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := d.Wait(ctx, c.ID)
		res <- err
	}()
	cancel()
	require.ErrorIs(t, <-res, context.Canceled, "Wait")
	require.NoError(t, d.Stop(context.Background(), c.ID, runtime.StopOptions{Grace: time.Minute}))
	st, err := d.Wait(context.Background(), c.ID)
	require.NoError(t, err, "Wait after Stop")
	require.Equal(t, 143, st.ExitCode, "exit code after Stop")
	require.Equal(t, pid, d.Pid(), "the driver process changed")
}

// signalWriter closes wrote on its first write.
type signalWriter struct {
	once  sync.Once
	wrote chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.wrote) })
	return len(p), nil
}

// recorder is a slog.Handler keeping the records it gets.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestDriverLogs: what the driver logs with slog arrives in the host's
// logger, with its level and attributes.
func TestDriverLogs(t *testing.T) {
	rec := &recorder{}
	d := open(t, wire.Config{Logger: slog.New(rec), Options: map[string]string{"version": "v9"}})
	require.NoError(t, d.Ping(context.Background()))
	require.NoError(t, d.Close()) // waits for the log reader to finish
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.records {
		if r.Message != "memdriver ping" {
			continue
		}
		version := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "version" {
				version = a.Value.String()
			}
			return true
		})
		require.Equal(t, slog.LevelInfo, r.Level, "the record's level")
		require.Equal(t, "v9", version, "the record's version attribute")
		return
	}
	require.Fail(t, "the driver's log record did not arrive", "%d records", len(rec.records))
}

// TestCloseIsNoNews: the driver process's exit after Close is logged at
// debug level, never as a warning or an error (the host stopped it on
// purpose).
func TestCloseIsNoNews(t *testing.T) {
	rec := &recorder{}
	d := open(t, wire.Config{Logger: slog.New(rec)})
	require.NoError(t, d.Ping(context.Background()))
	require.NoError(t, d.Close())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	exited := false
	for _, r := range rec.records {
		assert.Less(t, r.Level, slog.LevelWarn, "record %q", r.Message)
		if r.Message == "plugin process exited" {
			exited = true
			assert.Equal(t, slog.LevelDebug, r.Level, "the exit's level")
		}
	}
	assert.True(t, exited, "go-plugin logged the process's exit before Close returned (%d records)", len(rec.records))
}

func TestDiscover(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, f := range []struct {
		dir, name string
		mode      os.FileMode
	}{
		{dir, "berth-driver-a", 0o755},
		{dir, "berth-driver-noexec", 0o644},
		{dir, "not-a-driver", 0o755},
		{other, "berth-driver-a", 0o755}, // shadowed by dir's
		{other, "berth-driver-b", 0o755},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, f.name), []byte("#!/bin/sh\n"), f.mode))
	}
	t.Setenv("PATH", other+string(os.PathListSeparator)+filepath.Join(other, "missing"))
	got, err := wire.Discover([]string{filepath.Join(dir, "missing"), dir})
	require.NoError(t, err)
	want := []string{filepath.Join(dir, "berth-driver-a"), filepath.Join(other, "berth-driver-b")}
	require.Equal(t, want, got, "Discover")
}
