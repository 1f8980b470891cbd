package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "memdriver" || info.Version != "v7" || info.ProtocolVersion != runtime.ProtocolVersion {
		t.Fatalf("Info: %+v", info)
	}
	pid := d.Pid()
	if pid <= 0 || !alive(pid) {
		t.Fatalf("pid %d is not a live process", pid)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("driver process %d still exists after Close", pid)
	}
	if err := d.Ping(context.Background()); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("Ping after Close: %v, want ErrUnavailable", err)
	}
}

func TestOpenByNameInPluginDir(t *testing.T) {
	d := open(t, wire.Config{Name: "mem", PluginDirs: []string{t.TempDir(), driverDir}})
	if d.Path() != driverBin {
		t.Fatalf("Path %s, want %s", d.Path(), driverBin)
	}
}

func TestOpenByNameOnPath(t *testing.T) {
	t.Setenv("PATH", driverDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	d := open(t, wire.Config{Name: "mem", PluginDirs: []string{t.TempDir()}})
	if d.Path() != driverBin {
		t.Fatalf("Path %s, want %s", d.Path(), driverBin)
	}
}

func TestOpenNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, cfg := range []wire.Config{
		{Name: "nonesuch", PluginDirs: []string{t.TempDir()}},
		{Path: filepath.Join(t.TempDir(), "berth-driver-gone")},
	} {
		if _, err := wire.Open(context.Background(), cfg); !errors.Is(err, wire.ErrDriverNotFound) {
			t.Errorf("Open(%+v): %v, want ErrDriverNotFound", cfg, err)
		}
	}
	if _, err := wire.Open(context.Background(), wire.Config{Name: "../x"}); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("Open with a path as name: %v, want ErrInvalidArgument", err)
	}
}

func TestOpenChecksum(t *testing.T) {
	data, err := os.ReadFile(driverBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	open(t, wire.Config{SHA256: "sha256:" + good})

	if _, err := wire.Open(context.Background(), wire.Config{Path: driverBin, SHA256: "abc"}); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Fatalf("Open with a malformed checksum: %v, want ErrInvalidArgument", err)
	}
	bad := hex.EncodeToString(make([]byte, 32))
	_, err = wire.Open(context.Background(), wire.Config{Path: driverBin, SHA256: bad})
	if !errors.Is(err, wire.ErrChecksum) {
		t.Fatalf("Open with a wrong checksum: %v, want ErrChecksum", err)
	}
}

// TestChecksumBeforeLaunch: a binary refused for its checksum never runs
// (it would have created a file).
func TestChecksumBeforeLaunch(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "berth-driver-touch")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := wire.Open(context.Background(), wire.Config{Path: script, SHA256: hex.EncodeToString(make([]byte, 32))})
	if !errors.Is(err, wire.ErrChecksum) {
		t.Fatalf("Open: %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the binary ran (stat marker: %v)", err)
	}
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
		t.Fatalf("Open with options %v succeeded", opts)
	}
	data, rerr := os.ReadFile(pidfile)
	if rerr != nil {
		t.Fatalf("the driver did not run: %v (Open: %v)", rerr, err)
	}
	pid, perr := strconv.Atoi(string(data))
	if perr != nil {
		t.Fatal(perr)
	}
	if alive(pid) {
		t.Fatalf("refused driver process %d still exists", pid)
	}
	return err
}

// TestOpenProtocolMismatch: a driver that passes go-plugin's handshake but
// reports another protocol version over the Handshake service is refused
// with a *VersionError naming both versions, and stopped.
func TestOpenProtocolMismatch(t *testing.T) {
	for _, theirs := range []int{runtime.ProtocolVersion + 1, runtime.ProtocolVersion - 1} {
		err := openRefused(context.Background(), t, map[string]string{"protocol": strconv.Itoa(theirs)})
		var ve *wire.VersionError
		if !errors.Is(err, wire.ErrProtocol) || !errors.As(err, &ve) {
			t.Fatalf("Open: %v, want a *VersionError wrapping ErrProtocol", err)
		}
		if ve.Driver != theirs || ve.Host != runtime.ProtocolVersion || ve.Path != driverBin {
			t.Fatalf("VersionError %+v, want driver %d, host %d, path %s", *ve, theirs, runtime.ProtocolVersion, driverBin)
		}
		t.Log(err)
	}
}

// TestOpenNoHandshake: a driver that does not serve the Handshake service
// (built before it existed) is refused with ErrProtocol, and stopped.
func TestOpenNoHandshake(t *testing.T) {
	err := openRefused(context.Background(), t, map[string]string{"protocol": "none"})
	var ve *wire.VersionError
	if !errors.Is(err, wire.ErrProtocol) || errors.As(err, &ve) {
		t.Fatalf("Open: %v, want ErrProtocol and no version", err)
	}
	t.Log(err)
}

// TestOpenHandshakeUnanswered: a driver that never answers the Handshake is
// refused when ctx's deadline passes, with ErrUnavailable and the deadline
// in the chain, and stopped.
func TestOpenHandshakeUnanswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := openRefused(ctx, t, map[string]string{"protocol": "hang"})
	if !errors.Is(err, runtime.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, wire.ErrProtocol) {
		t.Fatalf("Open: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
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
			if err := os.WriteFile(script, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := wire.Open(context.Background(), wire.Config{Path: script, Logger: slog.New(slog.DiscardHandler)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			other := runtime.ErrUnavailable
			if tc.want == runtime.ErrUnavailable {
				other = wire.ErrProtocol
			}
			if errors.Is(err, other) {
				t.Fatalf("Open: %v, is also %v", err, other)
			}
			t.Log(err)
		})
	}
}

// TestNotExecutable: a binary the system cannot run is ErrUnavailable, with
// the exec error in the chain.
func TestNotExecutable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "berth-driver-garbage")
	if err := os.WriteFile(bin, []byte{0x7f, 'E', 'L', 'F', 0, 0, 0, 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := wire.Open(context.Background(), wire.Config{Path: bin, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, runtime.ErrUnavailable) || !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("Open: %v, want ErrUnavailable and ENOEXEC", err)
	}
}

// TestRelaunch kills the driver process; the next call runs on a new one.
func TestRelaunch(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	pid := d.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping after the driver was killed: %v", err)
	}
	if got := d.Pid(); got == pid || got <= 0 {
		t.Fatalf("pid after relaunch %d, before %d", got, pid)
	}
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
}

// TestDriverDiesDuringCall: a Logs call blocked in the driver when it dies
// fails with ErrUnavailable (it is not retried), and the driver is usable
// afterwards.
func TestDriverDiesDuringCall(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 3600"}})
	if err != nil {
		t.Fatal(err)
	}
	w := &signalWriter{wrote: make(chan struct{})}
	res := make(chan error, 1)
	go func() {
		res <- d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, w, io.Discard)
	}()
	<-w.wrote // Logs is now blocked in the driver, following
	if err := syscall.Kill(d.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("Logs when the driver died: %v, want ErrUnavailable", err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping after: %v", err)
	}
}

// TestRetryAfterDeath: a Wait blocked in the driver when it dies is retried on
// the new process (which, memdriver being in memory, knows no such
// container: a real engine's driver would find it).
func TestRetryAfterDeath(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sleep", "3600"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Pid()
	res := make(chan error, 1)
	go func() {
		_, err := d.Wait(ctx, c.ID)
		res <- err
	}()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Wait: %v, want ErrNotFound from the new process", err)
	}
	if got := d.Pid(); got == pid {
		t.Fatalf("still pid %d", pid)
	}
}

// TestCloseDuringCall: Close ends a call blocked in the driver with
// ErrUnavailable, and leaves no process.
func TestCloseDuringCall(t *testing.T) {
	d := open(t, wire.Config{})
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sh", "-c", "echo hi; sleep 3600"}})
	if err != nil {
		t.Fatal(err)
	}
	w := &signalWriter{wrote: make(chan struct{})}
	res := make(chan error, 1)
	go func() {
		res <- d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, w, io.Discard)
	}()
	<-w.wrote
	pid := d.Pid()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("Logs: %v, want ErrUnavailable", err)
	}
	if alive(pid) {
		t.Fatalf("driver process %d still exists after Close", pid)
	}
}

// TestCancelOverProcess: cancelling the host's context ends a Wait blocked in
// the driver process with context.Canceled, and the process lives on.
func TestCancelOverProcess(t *testing.T) {
	d := open(t, wire.Config{})
	c, err := d.Run(context.Background(), runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sleep", "3600"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Pid()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := d.Wait(ctx, c.ID)
		res <- err
	}()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v, want context.Canceled", err)
	}
	if err := d.Stop(context.Background(), c.ID, runtime.StopOptions{Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Wait(context.Background(), c.ID)
	if err != nil || st.ExitCode != 143 {
		t.Fatalf("Wait after Stop: %+v, %v", st, err)
	}
	if d.Pid() != pid {
		t.Fatalf("the driver process changed: %d, was %d", d.Pid(), pid)
	}
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
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // waits for the log reader to finish
		t.Fatal(err)
	}
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
		if r.Level != slog.LevelInfo || version != "v9" {
			t.Fatalf("record %v at %v with version %q, want info and v9", r.Message, r.Level, version)
		}
		return
	}
	t.Fatalf("the driver's log record did not arrive (%d records)", len(rec.records))
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
		if err := os.WriteFile(filepath.Join(f.dir, f.name), []byte("#!/bin/sh\n"), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", other+string(os.PathListSeparator)+filepath.Join(other, "missing"))
	got, err := wire.Discover([]string{filepath.Join(dir, "missing"), dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "berth-driver-a"), filepath.Join(other, "berth-driver-b")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Discover: %v, want %v", got, want)
	}
}
