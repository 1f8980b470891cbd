package fake

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/interp"
)

// cmd is a call of an applet.
type cmd struct {
	s      *shell
	ctx    context.Context
	hc     interp.HandlerContext
	name   string
	args   []string
	set    map[rune]bool // options given
	status uint8
}

// applets are busybox's commands on the container's files; an error ends the script.
var applets map[string]func(c *cmd) error

func init() {
	applets = map[string]func(c *cmd) error{
		"cat": func(c *cmd) error {
			for _, f := range c.files(c.args) {
				if r := c.open(f); r != nil {
					if _, err := io.Copy(c.hc.Stdout, r); err != nil {
						return c.failed(err, "read error: %s", errText(err))
					}
				}
			}
			return nil
		},
		"sleep": func(c *cmd) error {
			var total time.Duration
			if len(c.args) == 0 {
				c.errorf("missing operand")
			}
			for _, a := range c.args {
				f, err := strconv.ParseFloat(a, 64)
				if err != nil || f < 0 || strings.ContainsAny(a, "eExXpP") {
					c.errorf("invalid number '%s'", a)
					return nil
				}
				total += time.Duration(f * float64(time.Second))
			}
			select {
			case <-time.After(total):
				return nil
			case <-c.ctx.Done():
				return context.Cause(c.ctx)
			}
		},
		"touch": func(c *cmd) error {
			for _, f := range c.flags("c") {
				if _, err := c.s.fs.stat(c.path(f), true); err != nil && !c.set['c'] {
					if _, err := c.s.fs.create(c.path(f), nil, false, false); err != nil {
						c.errorf("%s: %s", f, errText(err))
					}
				}
			}
			return nil
		},
		"mkdir": func(c *cmd) error {
			for _, d := range c.flags("p") {
				if err := c.s.fs.mkdir(c.path(d), c.set['p']); err != nil {
					c.errorf("can't create directory '%s': %s", d, errText(err))
				}
			}
			return nil
		},
		"rm": func(c *cmd) error {
			for _, p := range c.flags("frRi") {
				switch err := c.s.fs.remove(c.path(p), c.set['r'] || c.set['R']); {
				case err == nil || c.set['f'] && errors.Is(err, fs.ErrNotExist):
				case errors.Is(err, syscall.EISDIR):
					c.errorf("'%s' is a directory", p)
				default:
					c.errorf("can't remove '%s': %s", p, errText(err))
				}
			}
			return nil
		},
		"ls": func(c *cmd) error { // one name a line, files and directories in the order given
			paths := c.flags("1aA")
			if len(paths) == 0 {
				paths = []string{"."}
			}
			for _, p := range paths {
				entries, err := c.s.fs.list(c.path(p))
				var names []string
				if errors.Is(err, syscall.ENOTDIR) {
					names, err = []string{p}, nil
				} else if c.set['a'] {
					names = []string{".", ".."}
				}
				for _, e := range entries {
					names = append(names, e.Name())
				}
				if err != nil {
					c.errorf("%s: %s", p, errText(err))
				}
				for _, n := range names {
					if c.set['a'] || c.set['A'] || n[0] != '.' || n == p {
						fmt.Fprintln(c.hc.Stdout, n)
					}
				}
			}
			return nil
		},
		"wc": func(c *cmd) error {
			files := c.flags("clw")
			if len(c.set) == 0 {
				c.set = map[rune]bool{'l': true, 'w': true, 'c': true}
			}
			for _, f := range c.files(files) {
				if r := c.open(f); r != nil {
					b, err := io.ReadAll(r)
					if err != nil {
						return c.failed(err, "%s: %s", f, errText(err))
					}
					if len(files) == 0 {
						f = "" // standard input has no name
					}
					c.count(b, f)
				}
			}
			return nil
		},
		"head": (*cmd).head,
		"env": func(c *cmd) error {
			fmt.Fprint(c.hc.Stdout, strings.Join(append(environ(c.hc.Env), ""), "\n"))
			return nil
		},
		"sh": func(c *cmd) error {
			return c.s.sh(c.ctx, append([]string{"sh"}, c.args...), environ(c.hc.Env), c.hc.Dir, c.hc.Stdin, c.hc.Stdout, c.hc.Stderr)
		},
	}
}

// errorf reports an error of the command, whose status becomes 1.
func (c *cmd) errorf(format string, args ...any) {
	fmt.Fprintf(c.hc.Stderr, c.name+": "+format+"\n", args...)
	c.status = 1
}

// failed reports err, or returns it if the script is ending.
func (c *cmd) failed(err error, format string, args ...any) error {
	if c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	c.errorf(format, args...)
	return nil
}

func (c *cmd) path(p string) string { return abs(c.hc.Dir, p) }

// flags takes the leading options (-abc) into c.set and returns the operands.
func (c *cmd) flags(known string) []string {
	c.set = map[rune]bool{}
	for len(c.args) > 0 && len(c.args[0]) > 1 && c.args[0][0] == '-' {
		a := c.args[0]
		if c.args = c.args[1:]; a == "--" {
			break
		}
		for _, l := range a[1:] {
			if !strings.ContainsRune(known, l) {
				c.errorf("invalid option -- '%c'", l)
			}
			c.set[l] = true
		}
	}
	return c.args
}

func (c *cmd) files(given []string) []string {
	if len(given) == 0 {
		return []string{"-"}
	}
	return given
}

// open opens a file to read ("-" is standard input), or reports why not.
func (c *cmd) open(name string) io.Reader {
	if name == "-" {
		name = "/dev/stdin"
	}
	f, err := c.s.open(c.ctx, name, os.O_RDONLY, 0)
	if err != nil {
		c.errorf("can't open '%s': %s", name, errText(err))
		return nil
	}
	return f
}

// count prints wc's counts of b; one alone unpadded, as busybox does.
func (c *cmd) count(b []byte, name string) {
	var cols []string
	for i, n := range []int{bytes.Count(b, []byte("\n")), len(bytes.Fields(b)), len(b)} {
		if c.set[rune("lwc"[i])] {
			cols = append(cols, fmt.Sprintf("%9d", n))
		}
	}
	if len(cols) == 1 {
		cols[0] = strings.TrimSpace(cols[0])
	}
	fmt.Fprintln(c.hc.Stdout, strings.TrimRight(strings.Join(append(cols, name), " "), " "))
}

// head prints the first -c N bytes or -n N lines (10 by default).
func (c *cmd) head() error {
	bytesMode, n := false, int64(10)
	for len(c.args) > 0 && len(c.args[0]) > 1 && c.args[0][0] == '-' {
		opt, val := c.args[0][1:2], c.args[0][2:]
		if c.args = c.args[1:]; val == "" && len(c.args) > 0 {
			val, c.args = c.args[0], c.args[1:]
		}
		v, ok := parseCount(val)
		if opt != "c" && opt != "n" || !ok {
			c.errorf("invalid option -%s %s", opt, val)
			return nil
		}
		bytesMode, n = opt == "c", v
	}
	for _, f := range c.files(c.args) {
		r := c.open(f)
		if r == nil {
			continue
		}
		var err error
		if bytesMode {
			_, err = io.CopyN(c.hc.Stdout, r, n)
		}
		for br, i := bufio.NewReader(r), int64(0); !bytesMode && i < n && err == nil; i++ {
			var line []byte
			line, err = br.ReadBytes('\n')
			c.hc.Stdout.Write(line)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return c.failed(err, "%s: %s", f, errText(err))
		}
	}
	return nil
}

// parseCount reads N with busybox's b, k, m suffixes (and K, M, G).
func parseCount(a string) (int64, bool) {
	mult := int64(1)
	if n := len(a); n > 0 {
		if i := strings.IndexByte("bkKmMG", a[n-1]); i >= 0 {
			mult, a = []int64{512, 1 << 10, 1 << 10, 1 << 20, 1 << 20, 1 << 30}[i], a[:n-1]
		}
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n * mult, err == nil && n >= 0
}
