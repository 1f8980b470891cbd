package fake

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"time"
)

// interp runs scripts of the shell subset against a container's file
// system.
type interp struct {
	fs       *cfs
	vars     *vars
	cwd      string
	args     []string // $0, $1, ...
	status   int      // $?
	ignored  map[int]bool
	stdout   io.Writer
	stderr   io.Writer
	sig      <-chan int
	kill     <-chan struct{}
	memLimit int64
	rnd      *rand.ChaCha8
}

// exitError ends a script: exit, a signal, a kill or running out of
// memory. fatal ones (signals) end subshells' parents too.
type exitError struct {
	code  int
	oom   bool
	fatal bool
}

func (e *exitError) Error() string { return "exit " + strconv.Itoa(e.code) }

// stdio is the standard streams of one command.
type stdio struct {
	in       []byte
	out, err io.Writer
}

// vars is the shell's variables, in the order they were first set.
type vars struct {
	names    []string
	vals     map[string]string
	exported map[string]bool
}

func newVars(env []string) *vars {
	v := &vars{vals: map[string]string{}, exported: map[string]bool{}}
	for _, kv := range env {
		k, val, _ := strings.Cut(kv, "=")
		v.set(k, val)
		v.exported[k] = true
	}
	return v
}

func (v *vars) get(name string) (string, bool) {
	val, ok := v.vals[name]
	return val, ok
}

func (v *vars) set(name, val string) {
	if _, ok := v.vals[name]; !ok {
		v.names = append(v.names, name)
	}
	v.vals[name] = val
}

func (v *vars) unset(name string) {
	if _, ok := v.vals[name]; !ok {
		return
	}
	delete(v.vals, name)
	delete(v.exported, name)
	for i, n := range v.names {
		if n == name {
			v.names = append(v.names[:i:i], v.names[i+1:]...)
			break
		}
	}
}

// environ returns the exported variables as KEY=VALUE.
func (v *vars) environ() []string {
	var out []string
	for _, n := range v.names {
		if v.exported[n] {
			out = append(out, n+"="+v.vals[n])
		}
	}
	return out
}

func (v *vars) clone() *vars {
	c := &vars{names: append([]string{}, v.names...), vals: map[string]string{}, exported: map[string]bool{}}
	for k, val := range v.vals {
		c.vals[k] = val
	}
	for k, e := range v.exported {
		c.exported[k] = e
	}
	return c
}

// sub returns an interpreter for a nested sh: same file system, streams
// and signals; copied variables and directory.
func (in *interp) sub(args []string, sio stdio) *interp {
	c := *in
	c.vars = newVars(in.vars.environ())
	c.args = args
	c.status = 0
	c.ignored = map[int]bool{}
	for s := range in.ignored {
		c.ignored[s] = true
	}
	c.stdout, c.stderr = sio.out, sio.err
	return &c
}

// runArgv runs a container's command: sh -c SCRIPT [NAME ARGS...], sh
// FILE, or one command.
func (in *interp) runArgv(argv []string, sio stdio) (int, error) {
	if isShell(argv[0]) {
		switch {
		case len(argv) >= 3 && argv[1] == "-c":
			in.args = []string{"sh"}
			if len(argv) > 3 {
				in.args = argv[3:]
			}
			return in.runScript(argv[2], sio)
		case len(argv) >= 2 && argv[1] == "-c":
			fmt.Fprintln(sio.err, "sh: -c requires an argument")
			return 2, nil
		case len(argv) >= 2:
			src, err := in.fs.readFile(in.abs(argv[1]))
			if err != nil {
				fmt.Fprintf(sio.err, "sh: can't open '%s': %v\n", argv[1], err)
				return 127, nil
			}
			in.args = argv[1:]
			return in.runScript(string(src), sio)
		default:
			in.args = argv[:1]
			return in.runScript(string(sio.in), sio)
		}
	}
	return in.execArgv(argv, sio)
}

func isShell(name string) bool {
	return name == "sh" || name == "/bin/sh" || name == "/usr/bin/sh"
}

// runScript parses and runs a script; exit ends it early.
func (in *interp) runScript(src string, sio stdio) (int, error) {
	s, err := parseScript(src)
	if err != nil {
		fmt.Fprintf(sio.err, "sh: %v\n", err)
		return 2, nil
	}
	for _, ao := range s {
		if err := in.andOr(ao); err != nil {
			var e *exitError
			if errors.As(err, &e) && !e.fatal {
				return e.code, nil
			}
			return 0, err
		}
	}
	return in.status, nil
}

func (in *interp) andOr(ao *andOr) error {
	if err := in.pipeline(ao.first); err != nil {
		return err
	}
	for _, t := range ao.rest {
		if t.and != (in.status == 0) {
			continue
		}
		if err := in.pipeline(t.p); err != nil {
			return err
		}
	}
	return nil
}

func (in *interp) pipeline(p *pipeline) error {
	status, err := in.command(p.cmd)
	if err != nil {
		return err
	}
	if p.neg {
		status = boolStatus(status != 0)
	}
	in.status = status
	return nil
}

func boolStatus(ok bool) int {
	if ok {
		return 0
	}
	return 1
}

// checkSignals ends the script if it was killed or got a signal it does
// not ignore.
func (in *interp) checkSignals() error {
	for {
		select {
		case <-in.kill:
			return &exitError{code: 137, fatal: true}
		case s := <-in.sig:
			if !in.ignores(s) {
				return &exitError{code: 128 + s, fatal: true}
			}
		default:
			return nil
		}
	}
}

// ignores reports whether signal s leaves the script alone.
func (in *interp) ignores(s int) bool {
	switch s {
	case 17, 18, 23, 28: // CHLD, CONT, URG, WINCH: ignored by default
		return true
	case 19, 20, 21, 22: // STOP and friends would pause the process: it keeps running
		return true
	}
	return in.ignored[s]
}

// sleep waits d, unless killed or signalled.
func (in *interp) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case <-in.kill:
			return &exitError{code: 137, fatal: true}
		case s := <-in.sig:
			if !in.ignores(s) {
				return &exitError{code: 128 + s, fatal: true}
			}
		}
	}
}

// abs makes p absolute against the working directory.
func (in *interp) abs(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = in.cwd + "/" + p
	}
	return path.Clean(p)
}

// command runs one simple command and returns its status.
func (in *interp) command(c *command) (int, error) {
	if err := in.checkSignals(); err != nil {
		return 0, err
	}
	var argv []string
	for _, w := range c.words {
		fields, err := in.expand(w, true)
		if err != nil {
			return in.expandFailed(err)
		}
		argv = append(argv, fields...)
	}
	sio := stdio{out: in.stdout, err: in.stderr}
	for _, r := range c.redirs {
		if status, ok := in.redirect(r, &sio); !ok {
			return status, nil
		}
	}
	values := make([]string, len(c.assigns))
	for i, a := range c.assigns {
		v, err := in.expandString(a.value)
		if err != nil {
			return in.expandFailed(err)
		}
		values[i] = v
	}
	if len(argv) == 0 {
		for i, a := range c.assigns {
			in.vars.set(a.name, values[i])
		}
		return 0, nil
	}
	if len(c.assigns) > 0 {
		saved := in.vars
		in.vars = saved.clone()
		defer func() { in.vars = saved }()
		for i, a := range c.assigns {
			in.vars.set(a.name, values[i])
			in.vars.exported[a.name] = true
		}
	}
	return in.execArgv(argv, sio)
}

// expandFailed reports an expansion error: fatal for a script.
func (in *interp) expandFailed(err error) (int, error) {
	fmt.Fprintf(in.stderr, "sh: %v\n", err)
	return 0, &exitError{code: 2}
}

// execArgv runs a builtin.
func (in *interp) execArgv(argv []string, sio stdio) (int, error) {
	name := argv[0]
	b := builtins[name]
	if b == nil && strings.Contains(name, "/") {
		if f := in.fs.stat(in.abs(name)); f != nil && f.Kind == kindFile {
			b = builtins[path.Base(name)]
		}
	}
	if b == nil {
		fmt.Fprintf(sio.err, "sh: %s: not found\n", name)
		return 127, nil
	}
	return b(in, sio, argv)
}

// redirect applies r to s; on failure it reports and returns the status.
func (in *interp) redirect(r redirect, s *stdio) (int, bool) {
	target, err := in.expandString(r.target)
	if err != nil {
		fmt.Fprintf(s.err, "sh: %v\n", err)
		return 2, false
	}
	var w io.Writer
	switch r.op {
	case ">&", "<&":
		switch target {
		case "1":
			w = s.out
		case "2":
			w = s.err
		case "-":
			w = io.Discard
		default:
			fmt.Fprintf(s.err, "sh: %s: bad file descriptor for the fake shell\n", target)
			return 1, false
		}
	case "<":
		if r.fd != 0 {
			fmt.Fprintf(s.err, "sh: input redirection of fd %d is not supported by the fake shell\n", r.fd)
			return 1, false
		}
		s.in = nil
		if target == "/dev/null" {
			return 0, true
		}
		b, err := in.fs.readFile(in.abs(target))
		if err != nil {
			fmt.Fprintf(s.err, "sh: can't open '%s': %v\n", target, err)
			return 1, false
		}
		s.in = b
		return 0, true
	default:
		switch target {
		case "/dev/null":
			w = io.Discard
		case "/dev/stdout":
			w = s.out
		case "/dev/stderr":
			w = s.err
		default:
			fw, err := in.fs.create(in.abs(target), r.op == ">>")
			if err != nil {
				fmt.Fprintf(s.err, "sh: can't create %s: %v\n", target, err)
				return 1, false
			}
			w = fw
		}
	}
	switch r.fd {
	case 1:
		s.out = w
	case 2:
		s.err = w
	default:
		fmt.Fprintf(s.err, "sh: redirection of fd %d is not supported by the fake shell\n", r.fd)
		return 1, false
	}
	return 0, true
}

// expandString expands w without field splitting.
func (in *interp) expandString(w word) (string, error) {
	fields, err := in.expand(w, false)
	return strings.Join(fields, ""), err
}

// expand expands w into fields, splitting unquoted expansions on blanks if
// split is set. There is no pathname expansion.
func (in *interp) expand(w word, split bool) ([]string, error) {
	var out []string
	var cur strings.Builder
	has := false
	flush := func() {
		if has {
			out = append(out, cur.String())
		}
		cur.Reset()
		has = false
	}
	for _, part := range w {
		if part.param == nil {
			cur.WriteString(part.lit)
			has = has || part.quoted || part.lit != ""
			continue
		}
		v, err := in.paramValue(part.param)
		if err != nil {
			return nil, err
		}
		if part.quoted || !split {
			cur.WriteString(v)
			has = has || part.quoted || v != ""
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			if v != "" {
				flush()
			}
			continue
		}
		if isBlank(v[0]) {
			flush()
		}
		for i, f := range fields {
			if i > 0 {
				flush()
			}
			cur.WriteString(f)
			has = true
		}
		if isBlank(v[len(v)-1]) {
			flush()
		}
	}
	if has || !split {
		out = append(out, cur.String())
	}
	return out, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// paramValue expands one $parameter.
func (in *interp) paramValue(p *param) (string, error) {
	val, set := in.lookup(p.name)
	switch p.op {
	case "":
		return val, nil
	case ":-", "-":
		if !set || p.op == ":-" && val == "" {
			return in.expandString(p.arg)
		}
	case ":=", "=":
		if !set || p.op == ":=" && val == "" {
			if !isName(p.name) {
				return "", fmt.Errorf("%s: bad variable name", p.name)
			}
			v, err := in.expandString(p.arg)
			if err != nil {
				return "", err
			}
			in.vars.set(p.name, v)
			return v, nil
		}
	case ":+", "+":
		if set && (p.op == "+" || val != "") {
			return in.expandString(p.arg)
		}
		return "", nil
	}
	return val, nil
}

// lookup returns a variable or special parameter.
func (in *interp) lookup(name string) (string, bool) {
	switch name {
	case "?":
		return strconv.Itoa(in.status), true
	case "$":
		return "1", true
	case "!", "-":
		return "", true
	case "#":
		return strconv.Itoa(max(len(in.args)-1, 0)), true
	case "@", "*":
		if len(in.args) <= 1 {
			return "", true
		}
		return strings.Join(in.args[1:], " "), true
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < len(in.args) {
			return in.args[n], true
		}
		return "", false
	}
	return in.vars.get(name)
}
