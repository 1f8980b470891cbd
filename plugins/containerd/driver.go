package containerd

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/runtime"
)

// Version is the driver's own version, reported by Info.
const Version = "0.1.0"

// The environment variables of containerd's conventions (ctr, nerdctl)
// that name the daemon and the namespace when the options do not.
const (
	EnvAddress   = "CONTAINERD_ADDRESS"
	EnvNamespace = "CONTAINERD_NAMESPACE"
)

// The defaults of Options, for what neither the options nor the
// environment (EnvAddress, EnvNamespace) set.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "berth"
	DefaultSnapshotter = "overlayfs"
	DefaultInit        = "/usr/bin/tini-static"
	defaultStateRoot   = "/run/berth-containerd"
	// dialTimeout bounds the wait for containerd's socket to accept.
	dialTimeout = 2 * time.Second
)

// Options configure a Driver. Zero fields take the defaults above.
type Options struct {
	// Address is containerd's socket; empty means $CONTAINERD_ADDRESS,
	// else DefaultAddress.
	Address string
	// Namespace is the containerd namespace holding everything the driver
	// makes; empty means $CONTAINERD_NAMESPACE, else DefaultNamespace. It
	// must not be Docker's "moby".
	Namespace string
	// Snapshotter is the snapshotter for images and containers.
	Snapshotter string
	// StateDir holds the driver's per-container files (logs, FIFOs);
	// default /run/berth-containerd/<namespace>.
	StateDir string
	// Init is a static init binary (tini) run as each container's PID 1;
	// default DefaultInit when that file exists. "none" runs the command
	// itself as PID 1.
	Init string
	// LayerCompression is "none" (default: fastest commit) or "gzip" for
	// the layers Commit writes.
	LayerCompression string
}

// OptionsFromMap reads Options from the plugin options map (keys "address",
// "namespace", "snapshotter", "state_dir", "init", "layer_compression").
func OptionsFromMap(m map[string]string) Options {
	return Options{
		Address:          m["address"],
		Namespace:        m["namespace"],
		Snapshotter:      m["snapshotter"],
		StateDir:         m["state_dir"],
		Init:             m["init"],
		LayerCompression: m["layer_compression"],
	}
}

// Driver is the containerd implementation of runtime.Runtime. It is safe
// for concurrent use.
type Driver struct {
	c          *client.Client
	address    string
	namespace  string
	sn         string
	stateDir   string
	initPath   string
	compressed bool

	// ctx lives as long as the driver: the waiters of started tasks use it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	procs   map[string]*proc // tasks whose output this process copies
	runtime string           // see runtimeName

	imgMu    sync.Mutex
	imgCache map[digest.Digest]imageBlobs // see readImage
}

var _ runtime.Runtime = (*Driver)(nil)

// New returns a driver for the containerd at opts.Address (by default
// $CONTAINERD_ADDRESS, else DefaultAddress), in opts.Namespace (by default
// $CONTAINERD_NAMESPACE, else DefaultNamespace). It does not contact the
// daemon: a daemon that is down makes the calls fail with
// runtime.ErrUnavailable, and Info still answers.
func New(opts Options) (*Driver, error) {
	opts.Address = cmp.Or(opts.Address, os.Getenv(EnvAddress), DefaultAddress)
	opts.Namespace = cmp.Or(opts.Namespace, os.Getenv(EnvNamespace), DefaultNamespace)
	if opts.Namespace == "moby" {
		return nil, fmt.Errorf("containerd: namespace %q belongs to Docker: %w", opts.Namespace, runtime.ErrInvalidArgument)
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = DefaultSnapshotter
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(defaultStateRoot, opts.Namespace)
	}
	switch opts.Init {
	case "":
		if _, err := os.Stat(DefaultInit); err == nil {
			opts.Init = DefaultInit
		}
	case "none":
		opts.Init = ""
	default:
		if _, err := os.Stat(opts.Init); err != nil {
			return nil, fmt.Errorf("containerd: init binary: %w: %w", runtime.ErrInvalidArgument, err)
		}
	}
	var compressed bool
	switch opts.LayerCompression {
	case "", "none":
	case "gzip":
		compressed = true
	default:
		return nil, fmt.Errorf("containerd: layer_compression %q (want none or gzip): %w", opts.LayerCompression, runtime.ErrInvalidArgument)
	}
	c, err := client.New(opts.Address, client.WithDefaultNamespace(opts.Namespace), client.WithTimeout(dialTimeout))
	if err != nil {
		return nil, runtime.WrapEngine("containerd", "daemon at "+opts.Address, runtime.ErrUnavailable, err)
	}
	if conn, ok := c.Conn().(interface{ Connect() }); ok {
		// Connect while the host does its handshake with the plugin,
		// rather than in the first call. It does not block.
		conn.Connect()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Driver{
		c:          c,
		address:    opts.Address,
		namespace:  opts.Namespace,
		sn:         opts.Snapshotter,
		stateDir:   opts.StateDir,
		initPath:   opts.Init,
		compressed: compressed,
		ctx:        ctx,
		cancel:     cancel,
		procs:      map[string]*proc{},
		imgCache:   map[digest.Digest]imageBlobs{},
	}, nil
}

// Close stops the driver's waiters and closes the connection. Containers
// keep running; their output is no longer copied until another driver
// attaches to them.
func (d *Driver) Close() error {
	d.cancel()
	d.mu.Lock()
	for id, p := range d.procs {
		p.detach()
		delete(d.procs, id)
	}
	d.mu.Unlock()
	return d.c.Close()
}

// Address returns the socket of the containerd the driver talks to.
func (d *Driver) Address() string { return d.address }

// Namespace returns the containerd namespace the driver works in.
func (d *Driver) Namespace() string { return d.namespace }

// Client returns the driver's containerd client (for tests and tools).
func (d *Driver) Client() *client.Client { return d.c }

// Info describes the driver. EngineVersion is empty when the daemon does
// not answer.
func (d *Driver) Info(ctx context.Context) (runtime.Info, error) {
	info := runtime.Info{
		Name:            "containerd",
		Version:         Version,
		ProtocolVersion: runtime.ProtocolVersion,
		Capabilities: []runtime.Capability{
			runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits, runtime.CapCopy, runtime.CapDiff,
			runtime.CapRegistry,
		},
	}
	if v, err := d.c.Version(ctx); err == nil {
		info.EngineVersion = v.Version
	}
	return info, nil
}

// Ping checks that containerd answers.
func (d *Driver) Ping(ctx context.Context) error {
	if _, err := d.c.Version(ctx); err != nil {
		return d.unavailable(ctx, err)
	}
	return nil
}

// unavailable wraps err as ErrUnavailable naming the socket (or returns the
// context's error if ctx ended).
func (d *Driver) unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return runtime.WrapEngine("containerd", "daemon at "+d.address, nil, ctx.Err())
	}
	return runtime.WrapEngine("containerd", "daemon at "+d.address, runtime.ErrUnavailable, err)
}
