package fake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The builtins that read and write files.

// isStream reports whether p is an endless device.
func isStream(p string) bool {
	return p == "/dev/zero" || p == "/dev/urandom" || p == "/dev/random"
}

// bCat: cat [FILE|-]...
func bCat(in *interp, s stdio, argv []string) (int, error) {
	files := argv[1:]
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, f := range files {
		switch {
		case f == "-":
			s.out.Write(s.in)
			continue
		case f == "/dev/null":
			continue
		case isStream(f):
			fmt.Fprintf(s.err, "cat: %s: endless input is not supported by the fake (use head -c N)\n", f)
			status = 1
			continue
		}
		b, err := in.fs.readFile(in.abs(f))
		switch {
		case errors.Is(err, errIsDir):
			fmt.Fprintf(s.err, "cat: read error: %v\n", err)
			status = 1
		case err != nil:
			fmt.Fprintf(s.err, "cat: can't open '%s': %v\n", f, err)
			status = 1
		default:
			s.out.Write(b)
		}
	}
	return status, nil
}

// bMkdir: mkdir [-p] DIR...
func bMkdir(in *interp, s stdio, argv []string) (int, error) {
	opts, dirs, ok := flags("mkdir", s, argv[1:], "p")
	if !ok || len(dirs) == 0 {
		fmt.Fprintln(s.err, "Usage: mkdir [-p] DIRECTORY...")
		return 1, nil
	}
	status := 0
	for _, d := range dirs {
		if err := in.fs.mkdir(in.abs(d), opts['p']); err != nil {
			fmt.Fprintf(s.err, "mkdir: can't create directory '%s': %v\n", d, err)
			status = 1
		}
	}
	return status, nil
}

// bRm: rm [-f] [-r] PATH...
func bRm(in *interp, s stdio, argv []string) (int, error) {
	opts, paths, ok := flags("rm", s, argv[1:], "frRi")
	if !ok || len(paths) == 0 && !opts['f'] {
		fmt.Fprintln(s.err, "Usage: rm [-f] [-r] FILE...")
		return 1, nil
	}
	status := 0
	for _, p := range paths {
		err := in.fs.remove(in.abs(p), opts['r'] || opts['R'])
		switch {
		case err == nil:
		case errors.Is(err, errNoEnt) && opts['f']:
		case errors.Is(err, errIsDir):
			fmt.Fprintf(s.err, "rm: '%s' is a directory\n", p)
			status = 1
		default:
			fmt.Fprintf(s.err, "rm: can't remove '%s': %v\n", p, err)
			status = 1
		}
	}
	return status, nil
}

// bTouch: touch FILE...
func bTouch(in *interp, s stdio, argv []string) (int, error) {
	_, files, ok := flags("touch", s, argv[1:], "c")
	if !ok || len(files) == 0 {
		fmt.Fprintln(s.err, "Usage: touch FILE...")
		return 1, nil
	}
	status := 0
	for _, f := range files {
		if err := in.fs.touch(in.abs(f)); err != nil {
			fmt.Fprintf(s.err, "touch: %s: %v\n", f, err)
			status = 1
		}
	}
	return status, nil
}

// parseCount reads N with busybox's b/k/m suffixes.
func parseCount(a string) (int64, bool) {
	mult := int64(1)
	if n := len(a); n > 0 {
		switch a[n-1] {
		case 'b':
			mult, a = 512, a[:n-1]
		case 'k':
			mult, a = 1024, a[:n-1]
		case 'm':
			mult, a = 1<<20, a[:n-1]
		}
	}
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}

// bHead: head [-c N | -n N] [FILE...]
func bHead(in *interp, s stdio, argv []string) (int, error) {
	args := argv[1:]
	bytesMode, count := false, int64(10)
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		opt, val := args[0][1:2], args[0][2:]
		args = args[1:]
		if opt != "c" && opt != "n" {
			fmt.Fprintf(s.err, "head: invalid option -- '%s'\n", opt)
			return 1, nil
		}
		if val == "" {
			if len(args) == 0 {
				fmt.Fprintf(s.err, "head: option requires an argument -- '%s'\n", opt)
				return 1, nil
			}
			val, args = args[0], args[1:]
		}
		n, ok := parseCount(val)
		if !ok {
			fmt.Fprintf(s.err, "head: invalid number '%s'\n", val)
			return 1, nil
		}
		bytesMode, count = opt == "c", n
	}
	if len(args) == 0 {
		args = []string{"-"}
	}
	status := 0
	for _, f := range args {
		if isStream(f) {
			if !bytesMode {
				fmt.Fprintf(s.err, "head: %s: only head -c is supported on endless input by the fake\n", f)
				status = 1
				continue
			}
			if in.memLimit > 0 && count > in.memLimit {
				return 0, &exitError{code: 137, oom: true, fatal: true}
			}
			if err := in.stream(s.out, f, count); err != nil {
				return 0, err
			}
			continue
		}
		var b []byte
		switch f {
		case "-":
			b = s.in
		case "/dev/null":
		default:
			var err error
			if b, err = in.fs.readFile(in.abs(f)); err != nil {
				fmt.Fprintf(s.err, "head: %s: %v\n", f, err)
				status = 1
				continue
			}
		}
		if bytesMode {
			s.out.Write(b[:min(int64(len(b)), count)])
			continue
		}
		end := 0
		for n := int64(0); n < count && end < len(b); n++ {
			i := bytes.IndexByte(b[end:], '\n')
			if i < 0 {
				end = len(b)
				break
			}
			end += i + 1
		}
		s.out.Write(b[:end])
	}
	return status, nil
}

// stream writes n bytes of /dev/zero or /dev/urandom to w, in chunks,
// checking for signals in between.
func (in *interp) stream(w io.Writer, dev string, n int64) error {
	buf := make([]byte, min(n, 64<<10))
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if dev == "/dev/zero" {
			clear(chunk)
		} else {
			in.rnd.Read(chunk)
		}
		w.Write(chunk)
		n -= int64(len(chunk))
		if err := in.checkSignals(); err != nil {
			return err
		}
	}
	return nil
}

// bLs: ls [-1] [-a] [PATH...]
func bLs(in *interp, s stdio, argv []string) (int, error) {
	opts, paths, ok := flags("ls", s, argv[1:], "1aA")
	if !ok {
		return 2, nil
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	status := 0
	var files []string
	type dirList struct {
		name    string
		entries []string
	}
	var dirs []dirList
	for _, p := range paths {
		names, f, err := in.fs.list(in.abs(p))
		switch {
		case err != nil:
			fmt.Fprintf(s.err, "ls: %s: %v\n", p, err)
			status = 1
		case f.Kind != kindDir:
			files = append(files, p)
		default:
			var shown []string
			if opts['a'] {
				shown = append(shown, ".", "..")
			}
			for _, n := range names {
				if opts['a'] || opts['A'] || !strings.HasPrefix(n, ".") {
					shown = append(shown, n)
				}
			}
			dirs = append(dirs, dirList{p, shown})
		}
	}
	for _, f := range files {
		fmt.Fprintln(s.out, f)
	}
	for i, d := range dirs {
		if len(paths) > 1 {
			if i > 0 || len(files) > 0 {
				fmt.Fprintln(s.out)
			}
			fmt.Fprintf(s.out, "%s:\n", d.name)
		}
		for _, n := range d.entries {
			fmt.Fprintln(s.out, n)
		}
	}
	return status, nil
}

// bWc: wc [-c] [-l] [-w] [FILE...]
func bWc(in *interp, s stdio, argv []string) (int, error) {
	opts, files, ok := flags("wc", s, argv[1:], "clw")
	if !ok {
		return 1, nil
	}
	if len(opts) == 0 {
		opts = map[rune]bool{'l': true, 'w': true, 'c': true}
	}
	print := func(b []byte, name string) {
		var cols []int
		if opts['l'] {
			cols = append(cols, bytes.Count(b, []byte("\n")))
		}
		if opts['w'] {
			cols = append(cols, len(bytes.Fields(b)))
		}
		if opts['c'] {
			cols = append(cols, len(b))
		}
		var line strings.Builder
		for i, n := range cols {
			switch {
			case len(cols) == 1:
				fmt.Fprintf(&line, "%d", n)
			case i == 0:
				fmt.Fprintf(&line, "%9d", n)
			default:
				fmt.Fprintf(&line, " %9d", n)
			}
		}
		if name != "" {
			line.WriteString(" " + name)
		}
		fmt.Fprintln(s.out, line.String())
	}
	if len(files) == 0 {
		print(s.in, "")
		return 0, nil
	}
	status := 0
	var all []byte
	for _, f := range files {
		var b []byte
		if f != "/dev/null" {
			var err error
			if b, err = in.fs.readFile(in.abs(f)); err != nil {
				fmt.Fprintf(s.err, "wc: %s: %v\n", f, err)
				status = 1
				continue
			}
		}
		all = append(all, b...)
		print(b, f)
	}
	if len(files) > 1 {
		print(all, "total")
	}
	return status, nil
}
