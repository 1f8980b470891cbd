package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/server"
)

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]server.Address{
		"unix:///run/berth.sock": {Network: "unix", Address: "/run/berth.sock"},
		"/run/berth.sock":        {Network: "unix", Address: "/run/berth.sock"},
		"berth.sock":             {Network: "unix", Address: "berth.sock"},
		"tcp://127.0.0.1:7400":   {Network: "tcp", Address: "127.0.0.1:7400"},
		"tcp://[::1]:7400":       {Network: "tcp", Address: "[::1]:7400"},
	} {
		got, err := server.ParseAddress(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "unix://", "tcp://127.0.0.1", "tcp://h:1/x", "http://127.0.0.1:7400"} {
		_, err := server.ParseAddress(bad)
		assert.Error(t, err, "ParseAddress(%q)", bad)
	}
}

// serve serves the env's API on l until the test ends.
func (e *env) serve(l net.Listener) {
	hs := &http.Server{Handler: e.srv, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // the refused handshakes of TestTCPWithTLSAndToken
	var wg sync.WaitGroup
	wg.Go(func() {
		err := hs.Serve(l)
		if !errors.Is(err, net.ErrClosed) { // the test closed l itself
			assert.ErrorIs(e.t, err, http.ErrServerClosed)
		}
	})
	e.t.Cleanup(func() {
		if err := hs.Close(); !errors.Is(err, net.ErrClosed) {
			assert.NoError(e.t, err)
		}
		wg.Wait()
	})
}

func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "b") // short: socket paths are limited to 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "berth.sock")
}

func TestUnixSocket(t *testing.T) {
	e := newEnv(t, setup{})
	path := socketPath(t)
	l, err := server.Listen("unix://"+path, server.ListenOptions{})
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket, fi.Mode().Type())
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm(), "the socket's mode")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing but the socket is left in its directory")
	e.serve(l)

	for _, host := range []string{"unix://" + path, path} {
		c, err := client.New(host, client.WithTransport(e.check.Transport(t)))
		require.NoError(t, err)
		require.NoError(t, c.Health(context.Background()), "over %s", host)
		j, err := c.CreateJob(context.Background(), sh("", "echo over the socket"), "")
		require.NoError(t, err)
		_, err = c.WaitJob(context.Background(), j.Id, time.Minute)
		require.NoError(t, err)
		c.Close()
	}

	_, err = server.Listen(path, server.ListenOptions{})
	require.ErrorIs(t, err, server.ErrAddrInUse, "a socket a daemon serves")
	_, err = os.Stat(path)
	require.NoError(t, err, "the socket of the running daemon stays")

	require.NoError(t, l.Close())
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "closing the listener removes its socket")
}

// A socket file nobody listens on (left by a daemon that was killed) is
// replaced; a file that is not a socket is not.
func TestUnixSocketStaleAndForeignFiles(t *testing.T) {
	path := socketPath(t)
	stale, err := net.Listen("unix", path)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, stale.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "a stale socket file")

	l, err := server.Listen(path, server.ListenOptions{})
	require.NoError(t, err, "Listen over a stale socket")
	require.NoError(t, l.Close())

	require.NoError(t, os.WriteFile(path, []byte("mine"), 0o600))
	_, err = server.Listen(path, server.ListenOptions{})
	require.Error(t, err, "Listen over a regular file")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(b), "the file is left alone")
}

func TestTCPNeedsATokenAndOffLoopbackTLS(t *testing.T) {
	for _, c := range []struct {
		addr  string
		opts  server.ListenOptions
		valid bool
	}{
		{"tcp://127.0.0.1:0", server.ListenOptions{}, false},
		{"tcp://127.0.0.1:0", server.ListenOptions{Token: "t"}, true},
		{"tcp://localhost:0", server.ListenOptions{Token: "t"}, true},
		{"tcp://0.0.0.0:0", server.ListenOptions{Token: "t"}, false},
		{"tcp://:0", server.ListenOptions{Token: "t"}, false},
		{"tcp://example.com:0", server.ListenOptions{Token: "t"}, false},
		{"tcp://0.0.0.0:0", server.ListenOptions{TLS: &tls.Config{}}, false},
		{"tcp://0.0.0.0:0", server.ListenOptions{Token: "t", TLS: &tls.Config{}}, true},
	} {
		l, err := server.Listen(c.addr, c.opts)
		if c.valid {
			require.NoError(t, err, "Listen(%s, token %v, TLS %v)", c.addr, c.opts.Token != "", c.opts.TLS != nil)
			require.NoError(t, l.Close())
			continue
		}
		require.ErrorIs(t, err, server.ErrInsecureListen, "Listen(%s, token %v, TLS %v)", c.addr, c.opts.Token != "", c.opts.TLS != nil)
	}
}

func TestTCPWithTLSAndToken(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.Token = "tok" }})
	cert, pool := selfSigned(t)
	l, err := server.Listen("tcp://127.0.0.1:0", server.ListenOptions{Token: "tok",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	require.NoError(t, err)
	e.serve(l)
	host := "tcp://" + l.Addr().String()

	c, err := client.New(host, client.WithToken("tok"), client.WithTLSConfig(&tls.Config{RootCAs: pool}),
		client.WithTransport(e.check.Transport(t)))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Health(context.Background()), "over TLS with the token")

	anon, err := client.New(host, client.WithTLSConfig(&tls.Config{RootCAs: pool}), client.WithTransport(e.check.Transport(t)))
	require.NoError(t, err)
	defer anon.Close()
	require.ErrorIs(t, anon.Health(context.Background()), client.ErrUnauthorized, "over TLS without the token")

	plain, err := client.New(host, client.WithToken("tok"))
	require.NoError(t, err)
	defer plain.Close()
	require.Error(t, plain.Health(context.Background()), "plain HTTP to a TLS listener")
}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
