package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of Listen.
var (
	// ErrInsecureListen: a TCP address without a token, or off the
	// loopback interface without both TLS and a token.
	ErrInsecureListen = errors.New("insecure listen address")
	// ErrAddrInUse: another process serves the unix socket.
	ErrAddrInUse = errors.New("address in use")
)

// SocketMode is the mode of the unix socket: its owner and group may use
// the API, as with docker.sock.
const SocketMode fs.FileMode = 0o660

// ListenOptions secure a listener.
type ListenOptions struct {
	// Token is the bearer token the server requires (Options.Token): a TCP
	// address needs one.
	Token string
	// TLS, when set, serves TLS: an address off the loopback interface
	// needs it.
	TLS *tls.Config
}

// Address is a parsed listen address.
type Address struct {
	Network string // "unix" or "tcp"
	Address string // the socket's path, or host:port
}

func (a Address) String() string {
	if a.Network == "unix" {
		return "unix://" + a.Address
	}
	return "tcp://" + a.Address
}

// ParseAddress reads unix:///path/to/berth.sock, a bare path, or
// tcp://host:port.
func ParseAddress(s string) (Address, error) {
	switch {
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if p == "" {
			return Address{}, fmt.Errorf("listen address %q: no socket path", s)
		}
		return Address{"unix", p}, nil
	case strings.HasPrefix(s, "tcp://"):
		u, err := url.Parse(s)
		if err != nil || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			return Address{}, fmt.Errorf("listen address %q: want tcp://host:port", s)
		}
		return Address{"tcp", u.Host}, nil
	case strings.Contains(s, "://"):
		return Address{}, fmt.Errorf("listen address %q: want unix:///path or tcp://host:port", s)
	case s == "":
		return Address{}, errors.New("listen address: empty")
	}
	return Address{"unix", s}, nil
}

// Listen opens the listener of addr (see ParseAddress). A TCP address needs
// a token, and one off the loopback interface needs TLS too (else
// ErrInsecureListen). A unix socket gets mode SocketMode; a socket file
// left by a process that is gone is replaced, one that a process serves
// is not (ErrAddrInUse); closing the listener removes the file.
func Listen(addr string, opts ListenOptions) (net.Listener, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var l net.Listener
	if a.Network == "tcp" {
		if err := checkTCP(a.Address, opts); err != nil {
			return nil, err
		}
		if l, err = net.Listen("tcp", a.Address); err != nil {
			return nil, err
		}
	} else if l, err = listenUnix(a.Address); err != nil {
		return nil, err
	}
	if opts.TLS != nil {
		l = tls.NewListener(l, opts.TLS)
	}
	return l, nil
}

// checkTCP refuses a TCP address without a token, or off the loopback
// interface without TLS and a token.
func checkTCP(hostport string, opts ListenOptions) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("listen address tcp://%s: %w", hostport, err)
	}
	if opts.Token == "" {
		return fmt.Errorf("listen address tcp://%s: TCP needs a bearer token (--token-file or BERTH_TOKEN): %w", hostport, ErrInsecureListen)
	}
	if opts.TLS == nil && !loopback(host) {
		return fmt.Errorf("listen address tcp://%s: off the loopback interface, TCP needs TLS (--tls-cert and --tls-key) and a token: %w", hostport, ErrInsecureListen)
	}
	return nil
}

// loopback reports whether host names the loopback interface only.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenUnix listens on the socket path: it is made under a temporary name,
// given its mode, then linked into place, so that no one can connect
// before the mode is set and two daemons never take the same path.
func listenUnix(path string) (net.Listener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), ".berth-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".sock")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, SocketMode); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		l.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("socket %s: %w (made by another process meanwhile)", path, ErrAddrInUse)
		}
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &unixListener{UnixListener: ul, path: path, fi: fi}, nil
}

// removeStale removes the socket file at path if no process listens on it.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: the path exists and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("socket %s: %w: another daemon serves it", path, ErrAddrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket %s: cannot tell whether a daemon serves it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// unixListener removes its socket file when closed, unless the file is no
// longer its own.
type unixListener struct {
	*net.UnixListener
	path string
	fi   fs.FileInfo
	once sync.Once
}

// Addr is the socket's path (not the temporary name it was made under).
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.fi) {
			_ = os.Remove(l.path)
		}
	})
	return err
}
