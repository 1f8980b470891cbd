package fake

import (
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Option configures a Runtime made by New.
type Option func(*config)

type config struct {
	clock    func() time.Time
	stateDir string
	registry map[string][]byte
	faults   []Fault
	caps     []runtime.Capability
	poll     time.Duration
}

// AllCapabilities are the capabilities a Runtime declares by default.
var AllCapabilities = []runtime.Capability{
	runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits,
}

// WithClock makes the Runtime read the time (creation times of images and
// containers) from now instead of time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}

// WithStateDir keeps the state (images, containers, their file systems,
// logs and exit statuses) in dir, created if needed, so that Runtimes in
// several processes (or several in one process) share it. A container's
// script runs in the process whose Runtime started it.
func WithStateDir(dir string) Option {
	return func(c *config) { c.stateDir = dir }
}

// WithRegistry gives PullImage a catalogue: images maps a reference to a
// docker-save (or OCI layout) tar whose first image PullImage loads under
// that reference. References without a tag mean ":latest".
func WithRegistry(images map[string][]byte) Option {
	return func(c *config) {
		if c.registry == nil {
			c.registry = map[string][]byte{}
		}
		for ref, tarball := range images {
			c.registry[normalizeRef(ref)] = tarball
		}
	}
}

// WithFaults injects faults from the start (see Runtime.Inject).
func WithFaults(faults ...Fault) Option {
	return func(c *config) { c.faults = append(c.faults, faults...) }
}

// WithCapabilities makes the Runtime declare only caps (and refuse the
// others with runtime.ErrNotImplemented), to test callers' fallbacks.
// CapSquash without CapCommit is dropped.
func WithCapabilities(caps ...runtime.Capability) Option {
	return func(c *config) { c.caps = append([]runtime.Capability{}, caps...) }
}

// WithPollInterval sets how often, with a state dir, the Runtime looks for
// changes made by other processes (Remove or Stop of the containers it
// runs; exits of the containers others run). The default is 20ms.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.poll = d
		}
	}
}
