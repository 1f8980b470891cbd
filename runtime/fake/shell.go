package fake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/berth-dev/berth/runtime"
)

// shell runs a container's command with mvdan.cc/sh's interpreter.
type shell struct {
	fs       *cfs
	mem      int64 // MemoryBytes, or 0
	ctx      context.Context
	stop     context.CancelCauseFunc // ends the script, with a signalled or errOOM
	killed   chan struct{}           // closed by SIGKILL
	killOnce sync.Once
	mu       sync.Mutex
	ignored  map[int]bool  // signals trapped with ''
	seed     string        // of /dev/urandom
	rnd      *rand.ChaCha8 // made at the first read
}

type signalled int // the cause of a script's end by a signal

func (s signalled) Error() string { return "signal " + strconv.Itoa(int(s)) }

var errOOM = errors.New("out of memory") // ends a script that outgrew MemoryBytes

func newShell(fs *cfs, mem int64, seed string) *shell {
	s := &shell{fs: fs, mem: mem, killed: make(chan struct{}), ignored: map[int]bool{}, seed: seed}
	s.ctx, s.stop = context.WithCancelCause(context.Background())
	return s
}

// signal delivers signal n: the script ends unless it ignores n.
func (s *shell) signal(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case n == sigKILL:
		s.killOnce.Do(func() { close(s.killed) })
	case s.ignored[n], n >= 17 && n <= 23, n == 28: // CHLD, CONT, URG, WINCH; STOP and the like would pause it
		return
	}
	s.stop(signalled(n))
}

// run runs argv with env in dir and returns how it ended.
func (s *shell) run(argv, env []string, dir string, stdout, stderr io.Writer) runtime.ExitStatus {
	err := s.sh(s.ctx, argv, env, dir, nil, stdout, stderr)
	var sig signalled
	var code interp.ExitStatus
	switch cause := context.Cause(s.ctx); {
	case errors.Is(cause, errOOM):
		return runtime.ExitStatus{ExitCode: 137, OOMKilled: true}
	case errors.As(cause, &sig):
		return runtime.ExitStatus{ExitCode: 128 + int(sig)}
	case err == nil:
		return runtime.ExitStatus{}
	case errors.As(err, &code):
		return runtime.ExitStatus{ExitCode: int(code)}
	}
	fmt.Fprintf(stderr, "sh: %v\n", err)
	return runtime.ExitStatus{ExitCode: 2}
}

// sh runs sh -c SCRIPT [NAME ARGS...], sh FILE [ARGS...] or a command.
func (s *shell) sh(ctx context.Context, argv, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) error {
	var src []byte
	var prog syntax.Node
	name, params := "sh", []string(nil)
	switch {
	case path.Base(argv[0]) != "sh": // a command: its words, not parsed (faster)
		call := &syntax.CallExpr{}
		for _, a := range argv {
			call.Args = append(call.Args, &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: a}}})
		}
		prog = call
	case len(argv) == 2 && argv[1] == "-c":
		fmt.Fprintln(stderr, "sh: -c requires an argument")
		return interp.ExitStatus(2)
	case len(argv) > 2 && argv[1] == "-c":
		src = []byte(argv[2])
		if len(argv) > 3 {
			name, params = argv[3], argv[4:]
		}
	case len(argv) > 1:
		var err error
		if src, err = s.fs.readFile(abs(dir, argv[1])); err != nil {
			fmt.Fprintf(stderr, "sh: can't open '%s': %s\n", argv[1], errText(err))
			return interp.ExitStatus(127)
		}
		name, params = argv[1], argv[2:]
	}
	if prog == nil {
		f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(src), name)
		if err == nil {
			err = busyboxLacks(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "sh: syntax error: %v\n", err)
			return interp.ExitStatus(2)
		}
		prog = f
	}
	r, err := interp.New(
		func(r *interp.Runner) error { r.Dir = dir; return nil }, // not interp.Dir: it stats the host's file
		interp.Env(newRootEnv(env)),
		interp.Params(append([]string{"--"}, params...)...),
		interp.StdIO(stdin, stdout, stderr),
		interp.CallHandler(s.call),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return s.exec }),
		interp.OpenHandler(s.open),
		interp.StatHandler(s.stat),
		interp.ReadDirHandler2(s.readDir),
		interp.AccessHandler(s.access),
	)
	if err != nil {
		return err
	}
	return r.Run(ctx, prog)
}

type rootEnv map[string]expand.Variable // an environment, with root's shell variables

func newRootEnv(env []string) rootEnv {
	e := rootEnv{}
	for _, name := range []string{"UID", "EUID", "GID"} {
		e[name] = expand.Variable{Set: true, ReadOnly: true, Kind: expand.String, Str: "0"}
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		e[name] = expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: value}
	}
	return e
}

func (e rootEnv) Get(name string) expand.Variable { return e[name] }

func (e rootEnv) Each(f func(name string, v expand.Variable) bool) { maps.All(e)(f) }

var lacks = map[string]string{ // the nodes of the constructs busybox sh lacks
	"*syntax.ArrayExpr": "an array", "*syntax.ArithmCmd": "((...))", "*syntax.ProcSubst": "process substitution",
	"*syntax.ExtGlob": "an extended glob", "*syntax.CoprocClause": "coproc",
}

// busyboxLacks returns an error for the first construct of f busybox sh
// lacks (it has [[ ]], let, ${x/a/b}, $'...', function and the like).
func busyboxLacks(f *syntax.File) (err error) {
	syntax.Walk(f, func(n syntax.Node) bool {
		what := lacks[fmt.Sprintf("%T", n)]
		switch n := n.(type) {
		case *syntax.ParamExp:
			if n.Index != nil {
				what = "an array"
			}
		case *syntax.ForClause:
			if n.Select {
				what = "select"
			}
		case *syntax.DeclClause:
			if v := n.Variant.Value; v != "export" && v != "readonly" && v != "local" {
				what = v
			}
		case *syntax.Redirect:
			if n.Op == syntax.WordHdoc {
				what = "<<<"
			}
		case *syntax.Word:
			if w := *n; syntax.SplitBraces(&w) {
				what = "brace expansion"
			}
		}
		if what != "" && err == nil {
			err = fmt.Errorf("%s: %s is not in busybox sh", n.Pos(), what)
		}
		return err == nil
	})
	return err
}

// statusCmd, put by the call handler in place of what it ran, exits with its argument.
const statusCmd = "\x00status"

// call runs what the interpreter's builtins lack: busybox's errors of cd
// and test, trap of signals, kill.
func (s *shell) call(ctx context.Context, args []string) ([]string, error) {
	hc := interp.HandlerCtx(ctx)
	fail := func(status int, format string, a ...any) ([]string, error) {
		fmt.Fprintf(hc.Stderr, "sh: "+format+"\n", a...)
		return []string{statusCmd, strconv.Itoa(status)}, nil
	}
	switch {
	case args[0] == "cd" && len(args) > 1:
		if fi, err := s.stat(ctx, abs(hc.Dir, args[1]), true); err != nil || !fi.IsDir() {
			if err == nil {
				err = syscall.ENOTDIR
			}
			return fail(2, "cd: can't cd to %s: %s", args[1], errText(err))
		}
	case args[0] == "test" || args[0] == "[":
		for i := 2; i+1 < len(args); i++ {
			if strings.Contains(" -eq -ne -lt -gt -le -ge ", " "+args[i]+" ") {
				for _, v := range []string{args[i-1], args[i+1]} {
					if _, err := strconv.Atoi(strings.TrimSpace(v)); err != nil {
						return fail(2, "%s: %s: bad number", args[0], v)
					}
				}
			}
		}
	case args[0] == "kill": // kill [-SIG] PID...: the container's shell, $$ or 1
		sig, ok, pids := 15, true, args[1:]
		if len(pids) > 0 && strings.HasPrefix(pids[0], "-") {
			sig, ok = parseSignal(pids[0][1:])
			pids = pids[1:]
		}
		if !ok || len(pids) == 0 {
			return fail(1, "kill: usage: kill [-SIG] PID...")
		}
		for _, pid := range pids {
			if pid != "1" && pid != strconv.Itoa(os.Getpid()) {
				return fail(1, "kill: can't kill pid %s: No such process", pid)
			}
		}
		s.signal(sig)
		return []string{"true"}, nil
	case args[0] == "trap" && len(args) == 1:
		for _, n := range slices.Sorted(maps.Keys(s.ignored)) {
			fmt.Fprintf(hc.Stdout, "trap -- '' %s\n", strings.TrimPrefix(unix.SignalName(syscall.Signal(n)), "SIG"))
		}
	case args[0] == "trap" && len(args) > 2 && slices.ContainsFunc(args[2:], func(n string) bool { _, ok := parseSignal(n); return ok }):
		if args[1] != "" && args[1] != "-" {
			return fail(2, "trap: only '' and - are supported for signals by the fake, not %q", args[1])
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, name := range args[2:] {
			if n, ok := parseSignal(name); ok && args[1] == "" {
				s.ignored[n] = true
			} else if ok {
				delete(s.ignored, n)
			} else if name != "EXIT" && name != "ERR" && name != "0" {
				return fail(1, "trap: %s: bad trap", name)
			}
		}
		return []string{"true"}, nil
	}
	return args, nil
}

// exec runs a command that is not a builtin of the interpreter.
func (s *shell) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	name := args[0]
	if name == statusCmd {
		n, _ := strconv.Atoi(args[1])
		return interp.ExitStatus(n) // never 0
	}
	if strings.Contains(name, "/") {
		if f, err := s.fs.stat(abs(hc.Dir, name), true); err != nil || !f.Mode.IsRegular() {
			name = "" // not found
		} else if name = path.Base(name); interp.IsBuiltin(name) {
			return hc.Builtin(ctx, append([]string{name}, args[1:]...))
		}
	}
	run := applets[name]
	if run == nil {
		fmt.Fprintf(hc.Stderr, "sh: %s: not found\n", args[0])
		return interp.ExitStatus(127)
	}
	c := &cmd{s: s, ctx: ctx, hc: hc, name: name, args: args[1:]}
	if err := run(c); err != nil || c.status == 0 {
		return err
	}
	return interp.ExitStatus(c.status)
}

// environ returns the exported variables of env as NAME=VALUE, sorted.
func environ(env expand.Environ) []string {
	vars := map[string]string{} // a name may come again, from an inner scope
	for name, v := range env.Each {
		if delete(vars, name); v.IsSet() && v.Exported && v.Kind == expand.String {
			vars[name] = name + "=" + v.Str
		}
	}
	return slices.Sorted(maps.Values(vars))
}

func abs(dir, p string) string {
	if !path.IsAbs(p) {
		p = dir + "/" + p
	}
	return path.Clean(p)
}

type rwc struct { // a file the shell opened
	io.Reader
	io.Writer
}

func (rwc) Close() error { return nil }

// open opens a file of the container, or a device.
func (s *shell) open(ctx context.Context, name string, flag int, _ fs.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	p := abs(hc.Dir, name)
	in, out := io.Reader(strings.NewReader("")), io.Writer(io.Discard)
	switch {
	case p == "/dev/null":
	case p == "/dev/zero" || p == "/dev/urandom" || p == "/dev/random":
		in = &stream{s: s, ctx: ctx, zero: p == "/dev/zero"}
	case p == "/dev/stdin" && hc.Stdin != nil:
		in = hc.Stdin
	case p == "/dev/stdout":
		out = hc.Stdout
	case p == "/dev/stderr":
		out = hc.Stderr
	case p == "/dev/stdin":
	case flag&(os.O_WRONLY|os.O_RDWR) == 0:
		b, err := s.fs.readFile(p)
		if err != nil {
			return nil, &fs.PathError{Op: "can't open", Path: name, Err: err}
		}
		in = bytes.NewReader(b)
	default:
		f, err := s.fs.create(p, nil, flag&os.O_TRUNC != 0, flag&os.O_EXCL != 0)
		if err != nil {
			return nil, &fs.PathError{Op: "can't create", Path: name, Err: err}
		}
		out = writerFunc(func(b []byte) (int, error) { s.fs.write(f, b); return len(b), nil })
	}
	return rwc{in, out}, nil
}

// stream reads /dev/zero or /dev/urandom; more than MemoryBytes is an OOM.
type stream struct {
	s    *shell
	ctx  context.Context
	zero bool
	n    int64
}

func (d *stream) Read(b []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	if d.n += int64(len(b)); d.s.mem > 0 && d.n > d.s.mem {
		d.s.stop(errOOM)
		return 0, errOOM
	}
	if d.zero {
		clear(b)
	} else {
		d.s.mu.Lock()
		if d.s.rnd == nil {
			d.s.rnd = rand.NewChaCha8(sha256.Sum256([]byte(d.s.seed)))
		}
		_, _ = d.s.rnd.Read(b)
		d.s.mu.Unlock()
	}
	return len(b), nil
}

var devices = []string{"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/stdin", "/dev/stdout", "/dev/stderr"}

type info struct { // a file's fs.FileInfo
	name string
	f    file
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return int64(len(i.f.Data)) }
func (i info) Mode() fs.FileMode  { return i.f.Mode }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.f.Mode.IsDir() }
func (i info) Sys() any           { return nil }

func (s *shell) stat(_ context.Context, name string, follow bool) (fs.FileInfo, error) {
	if slices.Contains(devices, name) {
		return info{path.Base(name), file{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}}, nil
	}
	f, err := s.fs.stat(name, follow)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info{path.Base(name), f}, nil
}

func (s *shell) readDir(_ context.Context, name string) ([]fs.DirEntry, error) {
	out, err := s.fs.list(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return out, nil
}

func (s *shell) access(ctx context.Context, name string, mode interp.AccessMode) error {
	fi, err := s.stat(ctx, name, true)
	if err == nil && mode&interp.AccessExec != 0 && fi.Mode()&0o111 == 0 {
		err = &fs.PathError{Op: "access", Path: name, Err: syscall.EACCES}
	}
	return err
}

// errText words err as busybox does: "No such file or directory".
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s := err.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
