package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// Version is the driver's own version, reported by Info.
const Version = "0.1.0"

// DefaultAddress is the daemon address used when neither the "address"
// option, $DOCKER_HOST nor the Docker CLI's current context names one.
const DefaultAddress = client.DefaultDockerHost

// secretLabel is the container label holding the names (a JSON array) of
// the container's SecretEnv variables, set by Run when there are any. The
// driver never reports it, and no image it commits carries it.
const secretLabel = "io.berth.docker.secret-env"

var _ runtime.Runtime = (*Driver)(nil)

// Driver is the Docker implementation of runtime.Runtime. It is safe for
// concurrent use. Close it to end the waits it keeps for running containers.
type Driver struct {
	cli  *client.Client
	addr string

	bg     context.Context // lives as long as the driver: exit watches
	cancel context.CancelFunc

	mu    sync.Mutex
	exits map[string]*exitWatch // by container ID, registered by Run
	wg    sync.WaitGroup
}

// Option configures New.
type Option func(*options)

type options struct {
	address string
}

// WithAddress sets the daemon's address (for example
// "unix:///var/run/docker.sock" or "tcp://127.0.0.1:2375"). Empty keeps the
// default, found by the Docker CLI's conventions (see New).
func WithAddress(addr string) Option {
	return func(o *options) {
		if addr != "" {
			o.address = addr
		}
	}
}

// OptionsFromMap reads the plugin options map (key "address"; see the
// package doc) into Options for New.
func OptionsFromMap(m map[string]string) []Option {
	return []Option{WithAddress(m["address"])}
}

// New returns a driver for the daemon at the configured address; without
// one, the daemon the Docker CLI would use: $DOCKER_HOST, else the current
// context's endpoint ($DOCKER_CONTEXT, else config.json's currentContext,
// in $DOCKER_CONFIG or ~/.docker), else DefaultAddress. TLS and the API
// version come from the environment as for the CLI (DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY, DOCKER_API_VERSION).
//
// New does not need the daemon: an engine that is down makes the methods
// fail with runtime.ErrUnavailable, not New. It starts negotiating the API
// version in the background, so that the first call makes one round trip,
// not two.
func New(opts ...Option) (*Driver, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ep, err := resolve(o.address)
	if err != nil {
		return nil, err
	}
	cli, err := client.New(ep.opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: address %q (%s): %w: %w", ep.address, ep.from, runtime.ErrInvalidArgument, err)
	}
	bg, cancel := context.WithCancel(context.Background())
	d := &Driver{cli: cli, addr: ep.address, bg: bg, cancel: cancel, exits: map[string]*exitWatch{}}
	d.wg.Go(func() {
		// A failure is left to the first call, which negotiates again.
		ctx, cancel := context.WithTimeout(bg, negotiateTimeout)
		defer cancel()
		_, _ = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	})
	return d, nil
}

// negotiateTimeout bounds the API version negotiation New starts.
const negotiateTimeout = 10 * time.Second

// Address returns the daemon address the driver talks to.
func (d *Driver) Address() string { return d.addr }

// Close ends the driver's pending exit watches and closes its connections.
// The containers are left alone.
func (d *Driver) Close() error {
	d.cancel()
	d.wg.Wait()
	return d.cli.Close()
}

// Info describes the driver; EngineVersion is empty if the daemon is down.
func (d *Driver) Info(ctx context.Context) (runtime.Info, error) {
	info := runtime.Info{
		Name:            "docker",
		Version:         Version,
		ProtocolVersion: runtime.ProtocolVersion,
		Capabilities: []runtime.Capability{
			runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits, runtime.CapCopy, runtime.CapDiff,
			runtime.CapRegistry,
		},
	}
	if v, err := d.cli.ServerVersion(ctx, client.ServerVersionOptions{}); err == nil {
		info.EngineVersion = v.Version
	}
	return info, nil
}

// Ping checks that the daemon answers.
func (d *Driver) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		if ctx.Err() != nil {
			return runtime.WrapEngine("docker", "ping "+d.addr, nil, ctx.Err())
		}
		return runtime.WrapEngine("docker", "daemon at "+d.addr, runtime.ErrUnavailable, err)
	}
	return nil
}

// fail classifies an engine error into the contract's error classes with
// the SDK's typed checks (errdefs) and wraps it with what was being done
// (runtime.WrapEngine: the class and the engine's error both in the chain).
// Context errors stay context errors, of no class.
func (d *Driver) fail(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var class error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
	case client.IsErrConnectionFailed(err):
		what += ": daemon at " + d.addr
		class = runtime.ErrUnavailable
	case cerrdefs.IsNotFound(err):
		class = runtime.ErrNotFound
	case cerrdefs.IsConflict(err):
		class = runtime.ErrConflict
	case cerrdefs.IsAlreadyExists(err):
		class = runtime.ErrAlreadyExists
	case cerrdefs.IsInvalidArgument(err):
		class = runtime.ErrInvalidArgument
	case cerrdefs.IsFailedPrecondition(err):
		class = runtime.ErrFailedPrecondition
	case cerrdefs.IsNotImplemented(err):
		class = runtime.ErrNotImplemented
	case cerrdefs.IsUnavailable(err):
		class = runtime.ErrUnavailable
	}
	return runtime.WrapEngine("docker", what, class, err)
}

// exitWatch is the wait for a container's next exit that Run registers
// before starting it. done is closed once res or err is set.
type exitWatch struct {
	done chan struct{}
	res  container.WaitResponse
	err  error
}

// watch registers a wait for the container's next exit; it returns once the
// daemon has acknowledged the wait, so a start after it cannot be missed.
func (d *Driver) watch(ctx context.Context, id string) error {
	// The wait outlives ctx (Run returns long before the exit), so it runs
	// under the driver's context; ctx only bounds the registration.
	wctx, cancel := context.WithCancel(d.bg)
	stop := context.AfterFunc(ctx, cancel)
	res := d.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if !stop() { // ctx ended during the registration
		cancel()
		return fmt.Errorf("docker: wait for %s: %w", id, ctx.Err())
	}
	select {
	case err := <-res.Error: // failed to register
		cancel()
		return d.fail(err, "wait for %s", id)
	default:
	}
	w := &exitWatch{done: make(chan struct{})}
	d.mu.Lock()
	d.exits[id] = w
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		select {
		case w.res = <-res.Result:
		case w.err = <-res.Error:
		}
		close(w.done)
	}()
	return nil
}

// watched returns the exit watch Run registered for id, if any.
func (d *Driver) watched(id string) *exitWatch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.exits[id]
}

// forget drops the exit watch of a removed container.
func (d *Driver) forget(id string) {
	d.mu.Lock()
	delete(d.exits, id)
	d.mu.Unlock()
}
