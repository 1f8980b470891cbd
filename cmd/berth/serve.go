package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// serveFlags are berth serve's flags.
type serveFlags struct {
	listen          string
	tlsCert, tlsKey string
	drainTimeout    time.Duration
	onStop          string
}

// The answers to SIGTERM and SIGINT (--on-stop).
const (
	onStopDrain = "drain"
	onStopLeave = "leave"
)

// shutdownTimeout bounds the end of the requests in flight once the jobs
// are drained or left.
const shutdownTimeout = 5 * time.Second

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: the HTTP API on a unix socket (or TCP), jobs that outlive their clients",
		Long: `Run berth as a daemon: it keeps the state and the drivers open and serves
the HTTP API (GET /v1/openapi.json describes it) on a unix socket in the state
directory, mode 0660, or on TCP with --listen tcp://HOST:PORT. On TCP every
request needs the bearer token of the global --token-file (or the config's
token_file, else BERTH_TOKEN); an address off
the loopback interface also needs TLS (--tls-cert and --tls-key).

On start it takes over the jobs a previous daemon left running. On SIGTERM or
SIGINT it stops accepting jobs, then with --on-stop drain (the default) waits
for the running jobs up to --drain-timeout and leaves the rest to the next
start, or with --on-stop leave leaves them all at once. A second signal ends it
at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "address to serve on: unix:///path/to/berth.sock or tcp://HOST:PORT (default unix://STATE_DIR/berth.sock)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve TLS with this certificate (PEM; needs --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the TLS certificate's private key (PEM)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on stop, how long to wait for running jobs (--on-stop drain)")
	fl.StringVar(&f.onStop, "on-stop", onStopDrain, "on SIGTERM or SIGINT: drain (wait for running jobs up to --drain-timeout) or leave (leave them to the next start)")
	return cmd
}

func (a *app) serve(cmd *cobra.Command, f serveFlags) error {
	ctx := cmd.Context()
	if f.onStop != onStopDrain && f.onStop != onStopLeave {
		return fmt.Errorf("--on-stop %q: want %s or %s", f.onStop, onStopDrain, onStopLeave)
	}
	if f.drainTimeout < 0 {
		return fmt.Errorf("--drain-timeout %s: must not be negative", f.drainTimeout)
	}
	// The global --token-file (or the config's token_file): the token the
	// daemon's clients give is the one it requires.
	token, err := readToken(pick(cmd, "token-file", "", a.cfg.TokenFile))
	if err != nil {
		return err
	}
	tlsCfg, err := loadTLS(f.tlsCert, f.tlsKey)
	if err != nil {
		return err
	}
	addr := f.listen
	if addr == "" {
		addr = "unix://" + filepath.Join(a.stateDir, "berth.sock")
	}
	if err := os.MkdirAll(a.stateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	// Listen first: a second daemon on the same socket fails at once.
	l, err := server.Listen(addr, server.ListenOptions{Token: token, TLS: tlsCfg})
	if err != nil {
		return err
	}
	defer l.Close()

	name, err := a.warmRuntime(cmd)
	if err != nil {
		return err
	}
	hub := server.NewHub(0)
	a.set.def = name
	cfg := a.coreConfig(name)
	cfg.OnEvent = hub.Publish
	c, err := core.Open(ctx, cfg)
	if err != nil {
		return err
	}
	a.core = c
	rep, err := c.Recover(ctx)
	if err != nil {
		return err
	}
	if len(rep.Reattached) > 0 || len(rep.Failed) > 0 {
		fmt.Fprintf(a.stderr, "berth: serve: jobs taken over from the previous daemon: %d (%s); jobs that could not go on: %d (%s)\n",
			len(rep.Reattached), strings.Join(rep.Reattached, ", "), len(rep.Failed), strings.Join(rep.Failed, ", "))
	}

	srv := server.New(server.Options{
		Core:        c,
		Events:      hub,
		Runtimes:    a.set,
		Driver:      func(name string) string { rt, _ := a.cfg.Runtime(name); return rt.Driver },
		Logger:      a.log,
		Token:       token,
		JobDefaults: a.jobDefaults(),
		ParseSize:   config.ParseSize,
	})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	srv.SetReady(nil)
	fmt.Fprintf(a.stderr, "berth: serving on %s (runtime %s)\n", addr, name)

	select {
	case <-ctx.Done():
	case err := <-served:
		srv.Close()
		c.Detach()
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	srv.SetReady(core.ErrDraining)
	a.stop(c, f)
	srv.Close() // ends the streams and the waits, which Shutdown would wait for
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		a.log.Warn("serve: connections cut at shutdown", "err", err)
		hs.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	fmt.Fprintln(a.stderr, "berth: stopped")
	return nil
}

// stop stops accepting jobs and drains the running ones (then leaves what
// is left) or leaves them at once, as --on-stop says.
func (a *app) stop(c *core.Core, f serveFlags) {
	if f.onStop == onStopDrain {
		fmt.Fprintf(a.stderr, "berth: stopping: waiting up to %s for the running jobs\n", f.drainTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
		err := c.Drain(ctx)
		cancel()
		if err == nil {
			return
		}
		fmt.Fprintln(a.stderr, "berth: drain timed out: leaving the jobs still running to the next berth serve")
	} else {
		fmt.Fprintln(a.stderr, "berth: stopping: leaving the running jobs to the next berth serve")
	}
	c.Detach()
}

// jobDefaults are the config's job defaults, as berth run applies them.
func (a *app) jobDefaults() server.JobDefaults {
	d := a.cfg.Job
	return server.JobDefaults{Image: d.Image, Timeout: time.Duration(d.Timeout), MemoryBytes: int64(d.Memory),
		NanoCPUs: int64(d.CPUs * 1e9)}
}

// readToken reads the bearer token from file, else from BERTH_TOKEN ("" if
// neither is set).
func readToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("BERTH_TOKEN")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s: empty", file)
	}
	return tok, nil
}

// loadTLS loads the certificate and key (both or neither).
func loadTLS(cert, key string) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
