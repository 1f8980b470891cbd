package fake

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// builtin is a command of the fake shell. It returns the status, or an
// error (an *exitError) that ends the script.
type builtin func(in *interp, s stdio, argv []string) (int, error)

var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{
		"echo": bEcho, "cat": bCat, "mkdir": bMkdir, "rm": bRm, "touch": bTouch,
		"sleep": bSleep, "exit": bExit, "true": bTrue, ":": bTrue, "false": bFalse,
		"test": bTest, "[": bTest, "trap": bTrap, "env": bEnv, "pwd": bPwd, "cd": bCd,
		"head": bHead, "ls": bLs, "wc": bWc, "export": bExport, "unset": bUnset, "sh": bSh,
	}
}

func bTrue(*interp, stdio, []string) (int, error)  { return 0, nil }
func bFalse(*interp, stdio, []string) (int, error) { return 1, nil }

// bEcho: echo [-n] [-e] ARG...
func bEcho(_ *interp, s stdio, argv []string) (int, error) {
	args := argv[1:]
	newline, escapes := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		for _, c := range args[0][1:] {
			switch c {
			case 'n':
				newline = false
			case 'e':
				escapes = true
			case 'E':
				escapes = false
			}
		}
		args = args[1:]
	}
	out := strings.Join(args, " ")
	if escapes {
		var stop bool
		out, stop = unescape(out)
		if stop {
			newline = false
		}
	}
	if newline {
		out += "\n"
	}
	io.WriteString(s.out, out)
	return 0, nil
}

// unescape interprets echo -e escapes; stop is set by \c.
func unescape(in string) (out string, stop bool) {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '\\' || i+1 == len(in) {
			b.WriteByte(in[i])
			continue
		}
		i++
		switch in[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case 'a':
			b.WriteByte('\a')
		case 'c':
			return b.String(), true
		case '0':
			n, j := 0, i+1
			for ; j < len(in) && j < i+4 && in[j] >= '0' && in[j] <= '7'; j++ {
				n = n*8 + int(in[j]-'0')
			}
			b.WriteByte(byte(n))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(in[i])
		}
	}
	return b.String(), false
}

// flags splits leading single-letter options (-abc) from operands; it
// stops at "--" or the first operand. Unknown letters are reported.
func flags(name string, s stdio, args []string, known string) (map[rune]bool, []string, bool) {
	set := map[rune]bool{}
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		for _, c := range args[0][1:] {
			if !strings.ContainsRune(known, c) {
				fmt.Fprintf(s.err, "%s: invalid option -- '%c'\n", name, c)
				return nil, nil, false
			}
			set[c] = true
		}
		args = args[1:]
	}
	return set, args, true
}

// bSleep: sleep N[s|m|h|d]..., fractions allowed.
func bSleep(in *interp, s stdio, argv []string) (int, error) {
	if len(argv) < 2 {
		fmt.Fprintln(s.err, "Usage: sleep SECONDS")
		return 1, nil
	}
	var total time.Duration
	for _, a := range argv[1:] {
		unit := time.Second
		num := a
		if n := len(a); n > 0 {
			switch a[n-1] {
			case 's':
				num = a[:n-1]
			case 'm':
				unit, num = time.Minute, a[:n-1]
			case 'h':
				unit, num = time.Hour, a[:n-1]
			case 'd':
				unit, num = 24*time.Hour, a[:n-1]
			}
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || strings.ContainsAny(num, "eExXpP") {
			fmt.Fprintf(s.err, "sleep: invalid number '%s'\n", a)
			return 1, nil
		}
		total += time.Duration(f * float64(unit))
	}
	if err := in.sleep(total); err != nil {
		return 0, err
	}
	return 0, nil
}

// bExit: exit [N]
func bExit(in *interp, s stdio, argv []string) (int, error) {
	code := in.status
	if len(argv) > 1 {
		n, err := strconv.Atoi(argv[1])
		if err != nil || n < 0 {
			fmt.Fprintf(s.err, "sh: exit: Illegal number: %s\n", argv[1])
			return 0, &exitError{code: 2}
		}
		code = n & 0xff
	}
	return 0, &exitError{code: code}
}

// bTrap: trap ” SIG... (ignore), trap - SIG... (default), trap (list).
func bTrap(in *interp, s stdio, argv []string) (int, error) {
	if len(argv) == 1 {
		for n := 1; n < 65; n++ {
			if in.ignored[n] {
				fmt.Fprintf(s.out, "trap -- '' %s\n", signalName(n))
			}
		}
		return 0, nil
	}
	if len(argv) < 3 {
		fmt.Fprintln(s.err, "sh: trap: usage: trap '' SIGNAL... or trap - SIGNAL...")
		return 2, nil
	}
	action := argv[1]
	if action != "" && action != "-" {
		fmt.Fprintf(s.err, "sh: trap: only '' and - are supported by the fake shell, not %q\n", action)
		return 2, nil
	}
	status := 0
	for _, name := range argv[2:] {
		n, ok := parseSignal(name)
		if !ok && name != "EXIT" && name != "0" {
			fmt.Fprintf(s.err, "sh: trap: %s: bad trap\n", name)
			status = 1
			continue
		}
		if action == "" {
			in.ignored[n] = true
		} else {
			delete(in.ignored, n)
		}
	}
	return status, nil
}

// bEnv: env [NAME=VALUE]... [COMMAND...]
func bEnv(in *interp, s stdio, argv []string) (int, error) {
	args := argv[1:]
	var sets []string
	for len(args) > 0 && strings.Contains(args[0], "=") && isName(strings.SplitN(args[0], "=", 2)[0]) {
		sets = append(sets, args[0])
		args = args[1:]
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(s.err, "env: option %s is not supported by the fake\n", args[0])
		return 1, nil
	}
	saved := in.vars
	in.vars = saved.clone()
	defer func() { in.vars = saved }()
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		in.vars.set(k, v)
		in.vars.exported[k] = true
	}
	if len(args) > 0 {
		return in.execArgv(args, s)
	}
	for _, kv := range in.vars.environ() {
		fmt.Fprintln(s.out, kv)
	}
	return 0, nil
}

// bExport: export NAME[=VALUE]...
func bExport(in *interp, _ stdio, argv []string) (int, error) {
	for _, a := range argv[1:] {
		k, v, hasValue := strings.Cut(a, "=")
		if hasValue {
			in.vars.set(k, v)
		} else if _, ok := in.vars.get(k); !ok {
			in.vars.set(k, "")
		}
		in.vars.exported[k] = true
	}
	return 0, nil
}

// bUnset: unset NAME...
func bUnset(in *interp, _ stdio, argv []string) (int, error) {
	for _, a := range argv[1:] {
		in.vars.unset(a)
	}
	return 0, nil
}

// bPwd: pwd
func bPwd(in *interp, s stdio, _ []string) (int, error) {
	fmt.Fprintln(s.out, in.cwd)
	return 0, nil
}

// bCd: cd [DIR]
func bCd(in *interp, s stdio, argv []string) (int, error) {
	dir, _ := in.vars.get("HOME")
	if len(argv) > 1 {
		dir = argv[1]
	}
	if dir == "" {
		dir = "/"
	}
	p := in.abs(dir)
	f := in.fs.stat(p)
	switch {
	case f == nil:
		fmt.Fprintf(s.err, "sh: cd: can't cd to %s: %v\n", dir, errNoEnt)
		return 2, nil
	case f.Kind != kindDir:
		fmt.Fprintf(s.err, "sh: cd: can't cd to %s: %v\n", dir, errNotDir)
		return 2, nil
	}
	in.vars.set("OLDPWD", in.cwd)
	in.cwd = p
	in.vars.set("PWD", p)
	return 0, nil
}

// bSh: sh -c SCRIPT [NAME ARGS...] | sh FILE, a nested shell.
func bSh(in *interp, s stdio, argv []string) (int, error) {
	return in.sub(nil, s).runArgv(argv, s)
}

// bTest: test EXPR, [ EXPR ]
func bTest(in *interp, s stdio, argv []string) (int, error) {
	args := argv[1:]
	if argv[0] == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			fmt.Fprintln(s.err, "sh: missing ]")
			return 2, nil
		}
		args = args[:len(args)-1]
	}
	ok, err := in.evalTest(args)
	if err != nil {
		fmt.Fprintf(s.err, "sh: %v\n", err)
		return 2, nil
	}
	return boolStatus(ok), nil
}

func (in *interp) evalTest(args []string) (bool, error) {
	switch len(args) {
	case 0:
		return false, nil
	case 1:
		return args[0] != "", nil
	case 2:
		if args[0] == "!" {
			ok, err := in.evalTest(args[1:])
			return !ok, err
		}
		return in.unaryTest(args[0], args[1])
	case 3:
		if args[0] == "!" {
			ok, err := in.evalTest(args[1:])
			return !ok, err
		}
		return binaryTest(args[0], args[1], args[2])
	case 4:
		if args[0] == "!" {
			ok, err := in.evalTest(args[1:])
			return !ok, err
		}
	}
	return false, fmt.Errorf("test: expressions of %d arguments are not supported by the fake shell", len(args))
}

func (in *interp) unaryTest(op, arg string) (bool, error) {
	switch op {
	case "-z":
		return arg == "", nil
	case "-n":
		return arg != "", nil
	}
	switch op {
	case "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h":
	default:
		return false, fmt.Errorf("%s: unknown operand", op)
	}
	p := in.abs(arg)
	if arg == "" {
		return false, nil
	}
	if op == "-L" || op == "-h" {
		in.fs.mu.Lock()
		defer in.fs.mu.Unlock()
		r, err := in.fs.resolve(p, false)
		f := in.fs.files[r]
		return err == nil && f != nil && f.Kind == kindLink, nil
	}
	f := in.fs.stat(p)
	if f == nil {
		return strings.HasPrefix(p, "/dev/") && isDevice(p) && (op == "-e" || op == "-r" || op == "-w"), nil
	}
	switch op {
	case "-f":
		return f.Kind == kindFile, nil
	case "-d":
		return f.Kind == kindDir, nil
	case "-s":
		return len(f.Data) > 0 || f.Kind == kindDir, nil
	case "-x":
		return f.Mode&0o111 != 0, nil
	}
	return true, nil
}

// isDevice reports whether p is one of the devices the fake simulates.
func isDevice(p string) bool {
	return isStream(p) || p == "/dev/null" || p == "/dev/stdout" || p == "/dev/stderr"
}

func binaryTest(a, op, b string) (bool, error) {
	switch op {
	case "=", "==":
		return a == b, nil
	case "!=":
		return a != b, nil
	case "-eq", "-ne", "-lt", "-gt", "-le", "-ge":
		x, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s: bad number", a)
		}
		y, err := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s: bad number", b)
		}
		switch op {
		case "-eq":
			return x == y, nil
		case "-ne":
			return x != y, nil
		case "-lt":
			return x < y, nil
		case "-gt":
			return x > y, nil
		case "-le":
			return x <= y, nil
		}
		return x >= y, nil
	}
	return false, fmt.Errorf("%s: unknown operand", op)
}
