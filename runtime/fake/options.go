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
	runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits, runtime.CapCopy,
	runtime.CapDiff, runtime.CapRegistry,
}

// WithClock makes the Runtime read the time from now, not time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}

// WithStateDir keeps the state in dir, created if needed, so that Runtimes
// of several processes (or of one) share it.
func WithStateDir(dir string) Option {
	return func(c *config) { c.stateDir = dir }
}

// WithRegistry gives PullImage a catalogue: a reference (name:latest
// without tag) maps to an image archive whose first image it loads.
func WithRegistry(images map[string][]byte) Option {
	return func(c *config) {
		for ref, tarball := range images {
			c.registry[normalizeRef(ref)] = tarball
		}
	}
}

// WithFaults injects faults from the start (see Runtime.Inject).
func WithFaults(faults ...Fault) Option {
	return func(c *config) { c.faults = append(c.faults, faults...) }
}

// WithCapabilities makes the Runtime declare only caps and refuse the
// others (runtime.ErrNotImplemented); CapSquash needs CapCommit.
func WithCapabilities(caps ...runtime.Capability) Option {
	return func(c *config) { c.caps = append([]runtime.Capability{}, caps...) }
}

// WithPollInterval sets how often (default 20ms) a Runtime with a state dir
// looks for what other processes do: Stop, Remove, exits.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.poll = d
		}
	}
}
