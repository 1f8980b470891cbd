package podman

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings"
)

// Name is the driver's name.
const Name = "podman"

// Version is the driver's own version.
const Version = "0.1.0"

// DefaultAddress is the API service's address for root when neither
// Options.Address nor $CONTAINER_HOST names one (see DefaultAddressFor).
const DefaultAddress = "unix:///run/podman/podman.sock"

// EnvHost is Podman's variable naming the API service (podman --remote).
const EnvHost = "CONTAINER_HOST"

// DefaultAddressFor returns the API service's address by Podman's
// conventions when no address is given: DefaultAddress for root (uid 0),
// else the rootless socket $XDG_RUNTIME_DIR/podman/podman.sock
// (/run/user/UID when XDG_RUNTIME_DIR is not set). getenv reads the
// environment.
func DefaultAddressFor(uid int, getenv func(string) string) string {
	if uid == 0 {
		return DefaultAddress
	}
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/run/user/%d", uid)
	}
	return "unix://" + path.Join(dir, "podman", "podman.sock")
}

// Options configure a Driver.
type Options struct {
	// Address is the URI of Podman's API service (unix://, tcp:// or
	// ssh://). Empty means $CONTAINER_HOST, else the socket of Podman's
	// service for this user (DefaultAddressFor).
	Address string
	// InitPath is the init binary (on the service's host) that runs as
	// PID 1 of every container and forwards signals to the job, so that a
	// job without a SIGTERM handler ends on SIGTERM. It must be static.
	// Empty means the first of initCandidates found, when the service is
	// on this host, else the init_path of the service's containers.conf.
	InitPath string
	// SecretGrace is how old a secret of berth's whose container no
	// longer exists must be before the driver deletes it (Remove and
	// ListContainers sweep such secrets: see sweepSecrets). It must exceed
	// the time a Run takes from creating its secrets to creating its
	// container. Zero means DefaultSecretGrace.
	SecretGrace time.Duration
}

// OptionsFromMap reads Options from the plugin options map (keys
// "address", "init_path", "secret_grace"; see the package doc). A
// secret_grace that is not a positive Go duration is ErrInvalidArgument.
func OptionsFromMap(m map[string]string) (Options, error) {
	opts := Options{Address: m["address"], InitPath: m["init_path"]}
	if v := m["secret_grace"]; v != "" {
		grace, err := time.ParseDuration(v)
		if err != nil || grace <= 0 {
			return Options{}, fmt.Errorf("podman: option secret_grace %q: want a positive duration such as 10m: %w", v, runtime.ErrInvalidArgument)
		}
		opts.SecretGrace = grace
	}
	return opts, nil
}

// initCandidates are static init binaries Podman can run as a container's
// PID 1: catatonit (Podman's default), and tini-static (with Docker).
var initCandidates = []string{
	"/usr/libexec/podman/catatonit", "/usr/bin/catatonit",
	"/usr/bin/tini-static", "/usr/bin/docker-init",
}

// Driver is the Podman runtime. It connects to the API service on first use
// and keeps the connection; it is safe for concurrent use.
type Driver struct {
	address     string
	initPath    string
	secretGrace time.Duration
	// now is the clock the secret sweep reads ages with (tests set it).
	now func() time.Time

	mu   sync.Mutex
	conn context.Context // the bindings' connection values; nil until connected
}

var _ runtime.Runtime = (*Driver)(nil)

// New returns a driver for the service at opts.Address. It does not
// contact the service: a driver of a service that is down still starts and
// answers Info.
func New(opts Options) *Driver {
	addr := opts.Address
	if addr == "" {
		addr = os.Getenv(EnvHost)
	}
	if addr == "" {
		addr = DefaultAddressFor(os.Geteuid(), os.Getenv)
	}
	init := opts.InitPath
	if init == "" && strings.HasPrefix(addr, "unix://") {
		for _, p := range initCandidates {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				init = p
				break
			}
		}
	}
	grace := opts.SecretGrace
	if grace <= 0 {
		grace = DefaultSecretGrace
	}
	return &Driver{address: addr, initPath: init, secretGrace: grace, now: time.Now}
}

// Address returns the URI of the API service the driver talks to.
func (d *Driver) Address() string { return d.address }

// capabilities are the optional operations the driver supports.
var capabilities = []runtime.Capability{
	runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits, runtime.CapCopy, runtime.CapDiff,
	runtime.CapRegistry,
}

// Info describes the driver; EngineVersion is empty when the service cannot
// be reached.
func (d *Driver) Info(ctx context.Context) (runtime.Info, error) {
	info := runtime.Info{
		Name:            Name,
		Version:         Version,
		ProtocolVersion: runtime.ProtocolVersion,
		Capabilities:    append([]runtime.Capability(nil), capabilities...),
	}
	if v, err := d.engineVersion(ctx); err == nil {
		info.EngineVersion = v
	} else if ctx.Err() != nil {
		return runtime.Info{}, fmt.Errorf("podman: info: %w", ctx.Err())
	}
	return info, nil
}

// Ping checks that the API service answers, with its cheap _ping endpoint.
func (d *Driver) Ping(ctx context.Context) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	conn, err := bindings.GetClient(c)
	if err != nil {
		return d.wrap(ctx, "ping", err)
	}
	resp, err := conn.DoRequest(c, nil, http.MethodGet, "/_ping", nil, nil)
	if err != nil {
		return d.wrap(ctx, "ping", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("podman: ping %s: status %d: %w", d.address, resp.StatusCode, runtime.ErrUnavailable)
	}
	return nil
}

// engineVersion returns the service's version, as it announced it when the
// connection was made (the Libpod-Api-Version of its _ping, which is
// Podman's own version). Podman 4's version endpoint takes about half a
// second (it asks the OCI runtime), and Info is called for every job.
func (d *Driver) engineVersion(ctx context.Context) (string, error) {
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	return bindings.ServiceVersion(c).String(), nil
}

// client returns a context for the bindings: ctx's deadline, cancellation
// and values, plus the connection (made now if there is none yet).
func (d *Driver) client(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	conn := d.conn
	d.mu.Unlock()
	if conn == nil {
		// NewConnection pings the service: it fails at once when the
		// socket is missing. Only a successful connection is kept.
		c, err := bindings.NewConnection(ctx, d.address)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("podman: connecting to %s: %w", d.address, ctx.Err())
			}
			return nil, runtime.WrapEngine(Name, "service at "+d.address, runtime.ErrUnavailable, err)
		}
		d.mu.Lock()
		if d.conn == nil {
			d.conn = c
		}
		conn = d.conn
		d.mu.Unlock()
	}
	return connCtx{Context: ctx, conn: conn}, nil
}

// connCtx is a call's context that also carries the connection's values.
// The connection's own context is used only for Value: its cancellation
// (it was made with the first call's context) never matters.
type connCtx struct {
	context.Context
	conn context.Context
}

// Value looks key up in the call's context, then in the connection's.
func (c connCtx) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.conn.Value(key)
}

// background returns a context for clean-up after ctx was cancelled: ctx's
// values without its cancellation, bounded by a timeout.
func background(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}
