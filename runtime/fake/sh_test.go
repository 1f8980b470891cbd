package fake

import (
	"bytes"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// testShell is a shell on a small file system, for tests.
type testShell struct {
	sh       *shell
	out, err lockedBuffer
}

// lockedBuffer is a bytes.Buffer that pipelines may write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestShell(mem int64) *testShell {
	dir := func(mode fs.FileMode) *file { return &file{Mode: fs.ModeDir | mode} }
	base := map[string]*file{
		"/bin": dir(0o755), "/tmp": dir(0o1777), "/work": dir(0o755), "/dev": dir(0o755), "/etc": dir(0o755),
		"/etc/hostname": {Mode: 0o644, Data: []byte("box\n")},
		"/bin/busybox":  {Mode: 0o755, Data: []byte("x")},
		"/bin/echo":     {Mode: fs.ModeSymlink | 0o777, Link: "busybox"},
	}
	return &testShell{sh: newShell(newCFS(base), mem, "test")}
}

// run runs argv in /work and returns its exit status.
func (s *testShell) run(argv ...string) runtime.ExitStatus {
	env := []string{"PATH=/bin", "HOME=/root", "GREETING=hello world"}
	return s.sh.run(argv, env, "/work", &s.out, &s.err)
}

type shCase struct {
	name   string
	script string
	out    string // expected stdout
	code   int    // expected status
	errHas string // expected in stderr, if set
	// portable cases use relative paths only and are also run with
	// busybox sh, which must agree.
	portable bool
}

var shCases = []shCase{
	// echo and quoting
	{name: "echo", script: "echo hi there", out: "hi there\n", portable: true},
	{name: "echo -n", script: "echo -n a; echo b", out: "ab\n", portable: true},
	{name: "echo -e", script: `echo -e 'a\tb\nc'`, out: "a\tb\nc\n", portable: true},
	{name: "echo no flag", script: "echo -x -- a", out: "-x -- a\n", portable: true},
	{name: "single quotes", script: `echo '$HOME "x" \n'`, out: "$HOME \"x\" \\n\n", portable: true},
	{name: "double quotes", script: `X=1; echo "a\"b\$c\\d\e $X"`, out: "a\"b$c\\d\\e 1\n", portable: true},
	{name: "backslash", script: `echo \$X \"q\" a\ b`, out: "$X \"q\" a b\n", portable: true},
	{name: "empty quoted arg", script: `echo "" '' x`, out: "  x\n", portable: true},
	{name: "adjacent quoting", script: `echo 'a'"b"c`, out: "abc\n", portable: true},
	{name: "comment", script: "echo a # not this\n# nor this\necho b", out: "a\nb\n", portable: true},
	{name: "line continuation", script: "echo a \\\n b", out: "a b\n", portable: true},
	// expansion
	{name: "var", script: "X=abc; echo $X ${X}d", out: "abc abcd\n", portable: true},
	{name: "env var", script: `echo "$GREETING"`, out: "hello world\n"},
	{name: "field splitting", script: `X="a  b"; echo $X "$X"`, out: "a b a  b\n", portable: true},
	{name: "empty unquoted var vanishes", script: `E=; echo x $E y`, out: "x y\n", portable: true},
	{name: "unset var", script: `echo "[$NOPE_UNSET]"`, out: "[]\n", portable: true},
	{name: "default", script: `E=; echo ${NOPE_UNSET:-def} ${E:-e} ${E-f} ${NOPE_UNSET-g}`, out: "def e g\n", portable: true},
	{name: "assign default", script: `echo ${V:=set}; echo $V`, out: "set\nset\n", portable: true},
	{name: "alternate", script: `X=1; echo ${X:+alt} ${NOPE_UNSET:+no}.`, out: "alt .\n", portable: true},
	{name: "status var", script: `false; echo $?; true; echo $?`, out: "1\n0\n", portable: true},
	{name: "positional", script: `echo $0 $#`, out: "sh 0\n", portable: true},
	{name: "prefix assignment scope", script: `B=2 true; echo "[$B]"`, out: "[]\n", portable: true},
	{name: "export", script: `export Z=9; sh -c 'echo "[$Z]"'`, out: "[9]\n", portable: true},
	{name: "unexported", script: `Z=9; sh -c 'echo "[$Z]"'`, out: "[]\n"},
	// lists and status
	{name: "and", script: "true && echo yes; false && echo no", out: "yes\n", code: 1, portable: true},
	{name: "or", script: "false || echo yes; true || echo no", out: "yes\n", portable: true},
	{name: "chain", script: "false && echo a || echo b && echo c", out: "b\nc\n", portable: true},
	{name: "negation", script: "! false && echo neg", out: "neg\n", portable: true},
	{name: "exit", script: "echo a; exit 3; echo b", out: "a\n", code: 3, portable: true},
	{name: "exit default", script: "false; exit", code: 1, portable: true},
	{name: "exit wraps", script: "exit 300", code: 44, portable: true},
	{name: "exit bad", script: "exit abc", code: 2, errHas: "abc", portable: true},
	{name: "last status", script: "true; false", code: 1, portable: true},
	{name: "not found", script: "no-such-cmd-x arg", code: 127, errHas: "sh: no-such-cmd-x: not found", portable: true},
	{name: "newlines", script: "\n\necho a\n\necho b\n", out: "a\nb\n", portable: true},
	{name: "and newline", script: "true &&\necho a", out: "a\n", portable: true},
	// compound commands, pipes, substitutions
	{name: "pipe", script: "echo a; echo b | cat; echo c | wc -c", out: "a\nb\n2\n", portable: true},
	{name: "if", script: "if test -e nope; then echo a; elif true; then echo b; else echo c; fi", out: "b\n", portable: true},
	{name: "for", script: "for i in 1 2 3; do echo $i; done", out: "1\n2\n3\n", portable: true},
	{name: "while", script: "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", out: "3\n", portable: true},
	{name: "case", script: "case ab in a*) echo yes;; *) echo no;; esac", out: "yes\n", portable: true},
	{name: "command substitution", script: "x=$(echo hi; echo there); echo \"$x\" `echo b`", out: "hi\nthere b\n", portable: true},
	{name: "background", script: "sleep 0.1 & wait; echo done", out: "done\n", portable: true},
	{name: "function", script: "f() { echo \"f $1\"; return 3; }; f x; echo $?", out: "f x\n3\n", portable: true},
	{name: "subshell", script: "(cd /; X=1); echo \"[$X]\"; { echo a; echo b; } > f; cat f", out: "[]\na\nb\n", portable: true},
	{name: "glob", script: "touch b a .h; echo *; echo nope*", out: "a b\nnope*\n", portable: true},
	{name: "here-document", script: "cat <<EOF\nx $HOME\nEOF", out: "x /root\n", portable: true},
	{name: "busybox-only bashisms", script: "[[ a == a ]] && let x=1+2 && echo $x ${PWD:0:1}", out: "3 /\n", portable: true},
	// syntax errors run nothing; syntax busybox lacks is refused
	{name: "unterminated", script: "echo a; echo 'x", code: 2, errHas: "syntax error", portable: true},
	{name: "leading semicolon", script: "; echo a", code: 2, errHas: "syntax error", portable: true},
	{name: "array", script: "echo a; a=(1 2)", code: 2, errHas: "syntax error", portable: true},
	{name: "here-string", script: "echo a; cat <<< x", code: 2, errHas: "syntax error", portable: true},
	{name: "brace expansion", script: "echo {a,b}", code: 2, errHas: "brace expansion"},
	{name: "declare", script: "declare x=1", code: 2, errHas: "declare"},
	// redirections
	{name: "redirect", script: "echo one > f; echo two >> f; cat f", out: "one\ntwo\n", portable: true},
	{name: "truncate", script: "echo one > f; echo two > f; cat f", out: "two\n", portable: true},
	{name: "no space", script: "echo x >f; cat f", out: "x\n", portable: true},
	{name: "stderr", script: "echo e >&2; echo o", out: "o\n", errHas: "e\n", portable: true},
	{name: "2>&1", script: "nope-cmd-x > f 2>&1; cat f", out: "sh: nope-cmd-x: not found\n", portable: true},
	{name: "2>&1 order", script: "nope-cmd-x 2>&1 > f", out: "sh: nope-cmd-x: not found\n", code: 127, portable: true},
	{name: "2> file", script: "cat missing 2> f; wc -c f", out: "53 f\n", portable: true},
	{name: "dev null", script: "echo x > /dev/null; cat missing 2>/dev/null; echo $?", out: "1\n", portable: true},
	{name: "input", script: "echo in > f; cat < f; wc -c < f", out: "in\n3\n", portable: true},
	{name: "redirect only", script: "> f; wc -c f", out: "0 f\n", portable: true},
	{name: "redirect bad dir", script: "echo x > nodir/f; echo $?", out: "1\n", errHas: "can't create nodir/f", portable: true},
	{name: "redirect dir", script: "mkdir d; echo x > d", code: 1, errHas: "can't create d", portable: true},
	{name: "var target", script: `F=out; echo x > $F; cat out`, out: "x\n", portable: true},
	// file builtins
	{name: "cat many", script: "echo a > x; echo b > y; cat x y", out: "a\nb\n", portable: true},
	{name: "cat missing", script: "cat missing; echo $?", out: "1\n", errHas: "cat: can't open 'missing': No such file or directory", portable: true},
	{name: "cat dir", script: "mkdir d; cat d", code: 1, portable: true},
	{name: "mkdir", script: "mkdir a && test -d a && echo ok", out: "ok\n", portable: true},
	{name: "mkdir exists", script: "mkdir a; mkdir a", code: 1, errHas: "File exists", portable: true},
	{name: "mkdir no parent", script: "mkdir a/b", code: 1, errHas: "can't create directory 'a/b': No such file or directory", portable: true},
	{name: "mkdir -p", script: "mkdir -p a/b/c && mkdir -p a/b && test -d a/b/c && echo ok", out: "ok\n", portable: true},
	{name: "mkdir -p over file", script: "touch f; mkdir -p f/g", code: 1, portable: true},
	{name: "rm", script: "touch f; rm f; test -e f || echo gone", out: "gone\n", portable: true},
	{name: "rm missing", script: "rm nope", code: 1, errHas: "can't remove 'nope'", portable: true},
	{name: "rm -f missing", script: "rm -f nope; echo $?", out: "0\n", portable: true},
	{name: "rm dir", script: "mkdir d; rm d", code: 1, errHas: "is a directory", portable: true},
	{name: "rm -r", script: "mkdir -p d/e; touch d/e/f; rm -r d; ls", out: "", portable: true},
	{name: "rm -rf", script: "mkdir -p d/e; rm -rf d nope; echo $?; ls", out: "0\n", portable: true},
	{name: "rm -fr", script: "mkdir d; rm -fr d; test -e d || echo gone", out: "gone\n", portable: true},
	{name: "touch", script: "echo keep > f; touch f g; cat f; wc -c g", out: "keep\n0 g\n", portable: true},
	{name: "touch no dir", script: "touch nodir/f", code: 1, errHas: "touch: nodir/f: No such file or directory", portable: true},
	{name: "ls", script: "mkdir d; touch d/b d/a d/.h; mkdir d/c; ls d", out: "a\nb\nc\n", portable: true},
	{name: "ls -a", script: "mkdir d; touch d/.h d/x; ls -a d", out: ".\n..\n.h\nx\n", portable: true},
	{name: "ls file", script: "touch f; ls f", out: "f\n", portable: true},
	{name: "ls missing", script: "ls nope", code: 1, errHas: "ls: nope: No such file or directory", portable: true},
	{name: "wc -c", script: "echo 12345 > n; wc -c n", out: "6 n\n", portable: true},
	{name: "wc -l", script: "echo a > n; echo b >> n; wc -l n", out: "2 n\n", portable: true},
	{name: "wc all", script: "echo 12345 > n; wc n", out: "        1         1         6 n\n", portable: true},
	{name: "head -c", script: "echo abcdef > f; head -c 3 f; echo", out: "abc\n", portable: true},
	{name: "head -n", script: "echo 1 > f; echo 2 >> f; echo 3 >> f; head -n 2 f", out: "1\n2\n", portable: true},
	{name: "head zero", script: "head -c 1k /dev/zero > z; wc -c z", out: "1024 z\n", portable: true},
	{name: "head urandom", script: "head -c 100 /dev/urandom > r; wc -c r", out: "100 r\n", portable: true},
	{name: "head missing", script: "head -c 1 nope", code: 1, errHas: "No such file or directory", portable: true},
	// test
	{name: "test files", script: "touch f; mkdir d; test -f f && test -e f && test -d d && ! test -f d && ! test -e nope && echo ok", out: "ok\n", portable: true},
	{name: "test strings", script: `[ -z "" ] && [ -n x ] && [ a = a ] && [ a != b ] && ! [ a = b ] && echo ok`, out: "ok\n", portable: true},
	{name: "test numbers", script: "[ 1 -eq 1 ] && [ 1 -ne 2 ] && [ 1 -lt 2 ] && [ 3 -gt 2 ] && [ 2 -le 2 ] && [ 2 -ge 2 ] && echo ok", out: "ok\n", portable: true},
	{name: "test false", script: "[ 2 -lt 1 ]", code: 1, portable: true},
	{name: "test bad number", script: "test 1 -eq x", code: 2, errHas: "x: bad number", portable: true},
	{name: "test missing ]", script: "[ a = a", code: 2, errHas: "missing", portable: true},
	{name: "test one arg", script: "test x && test '' || echo empty", out: "empty\n", portable: true},
	{name: "test negated", script: "test ! -e nope && echo ok", out: "ok\n", portable: true},
	{name: "test -s", script: "touch e; echo x > f; test -s f && ! test -s e && echo ok", out: "ok\n", portable: true},
	// directories and env
	{name: "cd pwd", script: "mkdir d; cd d; touch f; cd ..; test -f d/f && echo ok", out: "ok\n", portable: true},
	{name: "cd missing", script: "cd nope", code: 2, errHas: "can't cd to nope", portable: true},
	{name: "pwd", script: "pwd; cd /tmp; pwd; cd /; pwd", out: "/work\n/tmp\n/\n"},
	{name: "env", script: "X=1; export Y=2; env", out: "GREETING=hello world\nHOME=/root\nPATH=/bin\nY=2\n"},
	{name: "env assignment", script: "A=1 env", out: "A=1\nGREETING=hello world\nHOME=/root\nPATH=/bin\n"},
	{name: "unset", script: "unset GREETING; echo \"[$GREETING]\"", out: "[]\n", portable: true},
	{name: "absolute path", script: "/bin/echo via path; /nope/echo x", out: "via path\n", code: 127},
	{name: "symlink read", script: "cat /bin/echo", out: "x"},
	{name: "sleep", script: "sleep 0.01; sleep 0; echo done", out: "done\n", portable: true},
	{name: "sleep bad", script: "sleep x", code: 1, errHas: "invalid number", portable: true},
	{name: "nested sh", script: `sh -c 'echo inner; exit 4'; echo $?`, out: "inner\n4\n", portable: true},
	{name: "nested sh vars", script: `X=1; sh -c 'X=2'; echo $X`, out: "1\n", portable: true},
	{name: "trap list", script: "trap '' TERM; trap", out: "trap -- '' TERM\n", portable: true},
	{name: "true false colon", script: "true; :; false", code: 1, portable: true},
	// the scripts of the conformance suite (runtimetest), their paths under
	// /work and /tmp made relative
	{name: "suite exit", script: "echo hi; exit 42", out: "hi\n", code: 42, portable: true},
	{name: "suite or exit", script: "false || exit 5", code: 5, portable: true},
	{name: "suite and exit", script: "true && exit 6", code: 6, portable: true},
	{name: "suite not found", script: "no-such-command-berth", code: 127, portable: true},
	{name: "suite streams", script: "echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo -n last", out: "out1\nout2\nlast", errHas: "err1\nerr2\n", portable: true},
	{name: "suite large", script: "head -c 100000 /dev/zero; echo; echo done >&2", out: strings.Repeat("\x00", 100000) + "\n", errHas: "done", portable: true},
	{name: "suite env", script: `FOO=bar WITH_SPACE="a b" EMPTY= TOKEN=t0k3n; echo "$FOO|$WITH_SPACE|$EMPTY|$TOKEN|"`, out: "bar|a b||t0k3n|\n", portable: true},
	{name: "suite working dir", script: "touch here && ls .", out: "here\n", portable: true},
	{name: "suite files", script: "mkdir -p d && echo one > d/f && cat d/f; test -e e/f && echo leaked || echo clean", out: "one\nclean\n", portable: true},
	{name: "suite file ops", script: "echo 12345 > n; wc -c n; rm n; test -f n || echo gone", out: "6 n\ngone\n", portable: true},
	{name: "suite jobs", script: `N=3; echo "job $N"; echo "err $N" >&2`, out: "job 3\n", errHas: "err 3\n", portable: true},
	{name: "suite layers", script: "echo one > g1; echo doomed > doomed; echo two > g2; rm doomed; echo three > g3; cat g1 g2 g3; test -e doomed && echo doomed-back", out: "one\ntwo\nthree\n", code: 1, portable: true},
	{name: "suite secret", script: `S=s P=p; test "$S" = "s" && echo seen; echo "[$NOPE_UNSET] $P"`, out: "seen\n[] p\n", portable: true},
	{name: "suite traps", script: "trap '' TERM; echo ready; trap - TERM", out: "ready\n", portable: true},
}

func TestShell(t *testing.T) {
	for _, tc := range shCases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestShell(0)
			code := s.run("sh", "-c", tc.script).ExitCode
			assert.Equal(t, tc.code, code, "status of sh -c %q (stderr %q)", tc.script, s.err.String())
			assert.Equal(t, tc.out, s.out.String(), "stdout of sh -c %q", tc.script)
			assert.Contains(t, s.err.String(), tc.errHas, "stderr of sh -c %q", tc.script)
		})
	}
}

// TestShellMatchesBusybox runs the portable cases with busybox sh in a
// temporary directory: the fake must print and exit the same.
func TestShellMatchesBusybox(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	drivertest.Require(t, "busybox is not installed (scripts/engines.sh installs busybox-static; TestShell checks the fake's own expectations)", err)
	for _, tc := range shCases {
		if !tc.portable {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bb, "sh", "-c", tc.script)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + filepath.Dir(bb) + ":/usr/bin:/bin", "HOME=/root", "GREETING=hello world"}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			code := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee, "busybox sh ran")
				code = ee.ExitCode()
			}
			assert.Equal(t, tc.code, code, "busybox's status of sh -c %q (stderr %q), which the fake expects", tc.script, errb.String())
			assert.Equal(t, tc.out, out.String(), "busybox's stdout of sh -c %q, which the fake expects", tc.script)
		})
	}
}

func TestShellSyntaxErrorRunsNothing(t *testing.T) {
	s := newTestShell(0)
	require.Equal(t, 2, s.run("sh", "-c", "touch made; echo 'open").ExitCode, "status of a script with a syntax error")
	_, err := s.sh.fs.stat("/work/made", true)
	assert.Error(t, err, "a script with a syntax error ran its first command")
}

// readyWriter reports the first write.
type readyWriter struct{ ready chan struct{} }

func (w *readyWriter) Write(p []byte) (int, error) {
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
	return len(p), nil
}

func TestShellSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string // prints a line once ready for the signal
		sig    int
		want   int
	}{
		{"TERM ends sleep", "echo; sleep 30", 15, 143},
		{"INT ends sleep", "echo; sleep 30", 2, 130},
		{"TERM ignored", "trap '' TERM; echo; sleep 0.2; exit 5", 15, 5},
		{"SIGTERM name", "trap '' SIGTERM; echo; sleep 0.2; exit 5", 15, 5},
		{"number", "trap '' 15; echo; sleep 0.2; exit 5", 15, 5},
		{"trap reset", "trap '' TERM; trap - TERM; echo; sleep 30", 15, 143},
		{"ignored TERM, not INT", "trap '' TERM; echo; sleep 30", 2, 130},
		{"ends a pipeline", "echo; sleep 30 | cat", 15, 143},
		{"ends a loop", "echo; while true; do sleep 1; done", 15, 143},
		{"kill itself", "echo; kill $$; sleep 30", 0, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestShell(0)
			w := &readyWriter{ready: make(chan struct{})}
			done := make(chan int)
			go func() { done <- s.sh.run([]string{"sh", "-c", tc.script}, nil, "/", w, &s.err).ExitCode }()
			<-w.ready
			if tc.sig != 0 {
				s.sh.signal(tc.sig)
			}
			select {
			case got := <-done:
				assert.Equal(t, tc.want, got, "status (stderr %q)", s.err.String())
			case <-time.After(10 * time.Second):
				s.sh.signal(sigKILL)
				require.FailNow(t, "script did not end", "status after the kill: %d", <-done)
			}
		})
	}
	t.Run("kill", func(t *testing.T) {
		s := newTestShell(0)
		s.sh.signal(sigKILL)
		assert.Equal(t, 137, s.run("sh", "-c", "trap '' TERM; sleep 30").ExitCode, "status of a killed script")
	})
}

func TestShellFileArgument(t *testing.T) {
	s := newTestShell(0)
	require.Equal(t, 0, s.run("sh", "-c", `echo 'echo "script $0 $1"; exit 7' > s.sh`).ExitCode, s.err.String())
	st := s.run("sh", "s.sh", "arg")
	assert.Equal(t, 7, st.ExitCode, "status of sh FILE (stderr %q)", s.err.String())
	assert.Equal(t, "script s.sh arg\n", s.out.String(), "stdout of sh FILE")
}

func TestShellOOM(t *testing.T) {
	s := newTestShell(1 << 20)
	st := s.run("sh", "-c", "head -c 1000 /dev/zero > small && head -c 2m /dev/zero > big; echo after")
	require.Equal(t, runtime.ExitStatus{ExitCode: 137, OOMKilled: true}, st, "an OOM kill")
	assert.Empty(t, s.out.String(), "output after the OOM kill")
}

func TestShellDeterministicRandom(t *testing.T) {
	outs := make([]string, 2)
	for i := range outs {
		s := newTestShell(0)
		s.run("head", "-c", "16", "/dev/urandom")
		outs[i] = s.out.String()
	}
	assert.Equal(t, outs[0], outs[1], "urandom of two containers of one seed")
	assert.Len(t, outs[0], 16, "bytes read from urandom")
	assert.NotEqual(t, strings.Repeat("\x00", 16), outs[0], "urandom is not zeros")
}

// BenchmarkShell measures a typical job script.
func BenchmarkShell(b *testing.B) {
	for b.Loop() {
		s := newTestShell(0)
		s.run("sh", "-c", `mkdir -p /work/d && echo "$GREETING" > /work/d/f && cat /work/d/f; test -f /work/d/f || exit 1`)
	}
}
