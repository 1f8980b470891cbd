package runtime

import (
	"context"
	"io"
	"time"
)

// ProtocolVersion is the version of the contract and its wire protocol. The
// host refuses a driver that speaks another version.
const ProtocolVersion = 1

// Runtime is the interface every driver implements. Implementations must be
// safe for concurrent use by multiple goroutines.
type Runtime interface {
	// Info describes the driver and its engine. It must not fail just
	// because the engine is down: EngineVersion may then be empty. ctx
	// bounds the call.
	Info(ctx context.Context) (Info, error)

	// Ping checks that the engine answers. It returns nil when the engine
	// is healthy and an error wrapping ErrUnavailable (naming the engine's
	// address) when it is not. ctx bounds the check.
	Ping(ctx context.Context) error

	// InspectImage returns the image named by ref (a reference such as
	// "berth/x:g1" or an image ID). It returns ErrNotFound if there is none.
	InspectImage(ctx context.Context, ref string) (Image, error)

	// PullImage fetches ref from its registry and returns it. Optional
	// (CapPull). Cancelling ctx abandons the pull.
	PullImage(ctx context.Context, ref string) (Image, error)

	// LoadImage loads every image in r, a docker-save or OCI layout tar
	// stream, and returns them. Optional (CapLoad). Images in the stream
	// keep their references. Cancelling ctx abandons the load; a partial
	// load leaves no image reference behind.
	LoadImage(ctx context.Context, r io.Reader) ([]Image, error)

	// RemoveImage removes the reference ref; when ref is an image ID, or the
	// last reference of its image, the image itself is deleted. It returns
	// ErrNotFound if ref names nothing and ErrConflict if a container (in
	// any state) still uses the image; it never removes containers.
	RemoveImage(ctx context.Context, ref string) error

	// ListImages returns the images whose labels match filter (see
	// LabelFilter). An empty filter lists every image.
	ListImages(ctx context.Context, filter LabelFilter) ([]Image, error)

	// Run creates a container from spec and starts it, returning it with
	// its ID set. The driver must be able to report the exit of the
	// container through Wait even if it exits before Run returns, and must
	// never remove the container by itself (no auto-remove): only Remove
	// does. It returns ErrNotFound if the image does not exist,
	// ErrInvalidArgument for a malformed spec and ErrAlreadyExists if
	// spec.Name is taken. If Run fails after creating the container, the
	// driver removes it before returning. Cancelling ctx abandons the call
	// (with the same clean-up).
	Run(ctx context.Context, spec ContainerSpec) (Container, error)

	// Wait blocks until the container has exited and returns its status.
	// It may be called any number of times, before or after the exit, until
	// the container is removed. Cancelling ctx makes Wait return ctx's
	// error at once and does not touch the container. It returns
	// ErrNotFound if there is no such container.
	Wait(ctx context.Context, id string) (ExitStatus, error)

	// Stop sends opts.Signal (default SIGTERM) to the container's main
	// process, waits up to opts.Grace for it to exit, then kills it. It
	// returns once the container has exited, nil also if it had already
	// exited. ErrNotFound if there is no such container. Cancelling ctx
	// abandons the wait for the grace period, not the kill.
	Stop(ctx context.Context, id string, opts StopOptions) error

	// Logs copies the container's stdout and stderr into the writers, as
	// the output comes. With opts.Follow it returns once the container has
	// exited and all output has been written; without, once the output so
	// far has been written. Cancelling ctx stops the copy (and leaves the
	// container alone). ErrNotFound if there is no such container.
	Logs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error

	// Commit makes a new image from the container's file system and
	// config. Optional (CapCommit; CapSquash for opts.Squash). The
	// container should have exited: drivers may refuse a running container
	// with ErrFailedPrecondition. The new image gets reference opts.Ref,
	// labels opts.Labels (added to those inherited) and the config changes
	// in opts.Changes. The environment of spec.SecretEnv of the container
	// must not appear in the new image's config (see ContainerSpec). The
	// returned Image has ID, Size and Layers set.
	//
	// A driver may make temporary references during a commit, for images
	// it needs on the way (an intermediate image must never be left without
	// a reference, which whoever removes such images could take mid-commit
	// and which would outlive a crash unnoticed). Each is named
	// "<opts.Ref>-<suffix>": opts.Ref's repository, with its tag ("latest"
	// if it has none) followed by "-" and a suffix of the driver's (the tag
	// cut to fit the engine's limit if need be). The driver removes them,
	// with their images, when the commit ends, however it ends (for a
	// cancelled Commit, possibly just after it returned, once the engine's
	// own step is done). A driver that dies mid-commit can leave them
	// behind: a host may remove such references, as leftovers of a crashed
	// commit, whenever no commit to that repository is in progress.
	Commit(ctx context.Context, id string, opts CommitOptions) (Image, error)

	// Remove removes the container, killing it first if it runs, with
	// everything the engine keeps for it (task, file system, logs).
	// ErrNotFound if there is no such container.
	Remove(ctx context.Context, id string) error

	// InspectContainer returns the container with its current state.
	// ErrNotFound if there is no such container.
	InspectContainer(ctx context.Context, id string) (Container, error)

	// ListContainers returns the containers, in any state, whose labels
	// match filter.
	ListContainers(ctx context.Context, filter LabelFilter) ([]Container, error)
}

// Capability names an optional operation a driver supports.
type Capability string

// The optional capabilities. Everything not listed here is mandatory.
const (
	// CapPull: PullImage works.
	CapPull Capability = "pull"
	// CapLoad: LoadImage works.
	CapLoad Capability = "load"
	// CapCommit: Commit works.
	CapCommit Capability = "commit"
	// CapSquash: Commit with Squash makes a one-layer image.
	CapSquash Capability = "squash"
	// CapLimits: Run enforces MemoryBytes and NanoCPUs.
	CapLimits Capability = "limits"
	// CapCopy: the driver implements ImageCopier.
	CapCopy Capability = "copy"
	// CapDiff: the driver implements ChangeChecker.
	CapDiff Capability = "diff"
	// CapRegistry: the driver implements RegistryClient.
	CapRegistry Capability = "registry"
)

// ChangeChecker is implemented by drivers that can tell whether a
// container changed its file system (CapDiff), so that a host need not
// commit a container that changed nothing. Like ImageCopier it is separate
// from Runtime; a host probes it with a type assertion and the capability.
type ChangeChecker interface {
	// Changed reports whether the file system of the container id differs
	// from its image's: a file, directory or link added, changed (content,
	// mode or owner) or removed. What the engine itself makes in every
	// container (the mount points of /etc/hosts, /etc/hostname,
	// /etc/resolv.conf, of the volumes and of the working directory) does
	// not count. The container must have exited (ErrFailedPrecondition
	// while it runs); ErrNotFound if there is no such container. When in
	// doubt it reports true: a false "unchanged" loses work.
	Changed(ctx context.Context, id string) (bool, error)
}

// ImageCopier is implemented by drivers that can make an image from another
// one without running a container (CapCopy). It is separate from Runtime so
// that drivers without it need no change; a host probes it with a type
// assertion and the capability.
type ImageCopier interface {
	// CopyImage makes a new image from the image src (a reference or an
	// image ID) with reference opts.Ref and opts.Labels added to src's
	// labels (a label of opts.Labels replaces one of src of the same key).
	// Everything else is src's: its file system (layers shared where the
	// engine can) and its config. The copy has src's layers, plus at most
	// one empty layer where the engine's only way adds one (Podman's
	// build). src is left as it was, references and labels alike. It returns the new image with ID,
	// Size and Layers set. It returns ErrNotFound if src does not exist,
	// ErrInvalidArgument for a malformed opts.Ref and ErrAlreadyExists if
	// opts.Ref already names an image (it never moves a reference).
	// Cancelling ctx abandons the copy; an abandoned or failed copy leaves
	// no reference opts.Ref behind.
	CopyImage(ctx context.Context, src string, opts CopyOptions) (Image, error)
}

// CopyOptions says how to copy an image (ImageCopier.CopyImage).
type CopyOptions struct {
	// Ref is the new image's reference (name:tag). Required.
	Ref string
	// Labels are added to the source image's labels.
	Labels map[string]string
}

// Info describes a driver.
type Info struct {
	// Name is the driver's name ("docker", "fake", ...).
	Name string
	// Version is the driver's own version.
	Version string
	// EngineVersion is the version the engine reports, empty if unknown.
	EngineVersion string
	// ProtocolVersion is the contract version the driver implements.
	ProtocolVersion int
	// Capabilities are the optional operations supported.
	Capabilities []Capability
}

// Has reports whether the driver declares capability c.
func (i Info) Has(c Capability) bool {
	for _, have := range i.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// LabelFilter selects objects by label: every key must be present, and a
// non-empty value must match exactly (an empty value matches any value).
type LabelFilter map[string]string

// Match reports whether labels satisfy the filter.
func (f LabelFilter) Match(labels map[string]string) bool {
	for k, v := range f {
		got, ok := labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Image is an image as the engine knows it.
type Image struct {
	// ID is the engine's image ID (for example "sha256:...").
	ID string
	// Refs are the references (name:tag) that name the image.
	Refs []string
	// Size is the image's size in bytes, as the engine reports it.
	Size int64
	// Layers is the number of file system layers.
	Layers int
	// Labels are the image config's labels.
	Labels map[string]string
	// Env is the image config's environment, as KEY=VALUE entries.
	Env []string
	// Created is when the image was made.
	Created time.Time
}

// ContainerSpec says what to run.
type ContainerSpec struct {
	// Name is the container's name; empty lets the engine choose.
	Name string
	// Image is the reference or ID of the image to run. Required.
	Image string
	// Cmd replaces the image's command. The first element is the program.
	Cmd []string
	// Env is added to the image's environment, as KEY=VALUE entries.
	Env []string
	// SecretEnv is added like Env, but no image committed from this
	// container may carry the values: drivers must keep them out of any
	// image config Commit writes (the key may survive only as a bare name
	// that unsets the variable, if the engine cannot drop it outright).
	SecretEnv []string
	// Labels are set on the container.
	Labels map[string]string
	// WorkingDir replaces the image's working directory when set.
	WorkingDir string
	// MemoryBytes caps the container's memory; 0 means no limit.
	MemoryBytes int64
	// NanoCPUs caps the container's CPU in billionths of a CPU; 0 means
	// no limit.
	NanoCPUs int64
}

// ContainerState is a container's life-cycle state.
type ContainerState string

// The container states.
const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown"
)

// Container is a container as the engine knows it.
type Container struct {
	// ID is the engine's container ID.
	ID string
	// Name is the container's name.
	Name string
	// Image is the image it was created from, as given in the spec.
	Image string
	// Labels are the container's labels.
	Labels map[string]string
	// State is the container's current state.
	State ContainerState
	// Created is when the container was created.
	Created time.Time
}

// ExitStatus is how a container ended.
type ExitStatus struct {
	// ExitCode is the main process's exit code (128+signal if killed).
	ExitCode int
	// OOMKilled is true if the kernel killed the process for memory.
	OOMKilled bool
	// Error is an error the engine reported for the run, if any.
	Error string
}

// StopOptions says how to stop a container.
type StopOptions struct {
	// Signal is sent first; empty means "SIGTERM".
	Signal string
	// Grace is how long to wait after Signal before killing.
	Grace time.Duration
}

// LogOptions says which output Logs copies.
type LogOptions struct {
	// Follow keeps copying until the container exits.
	Follow bool
}

// CommitOptions says how to commit a container.
type CommitOptions struct {
	// Ref is the new image's reference (name:tag). Required. The driver
	// may also make temporary references "<Ref>-<suffix>" in Ref's
	// repository while the commit runs, and removes them before Commit
	// returns (see Runtime.Commit).
	Ref string
	// Labels are added to the image config's labels.
	Labels map[string]string
	// Changes are applied to the image config.
	Changes ConfigChanges
	// Squash makes an image of a single layer holding the container's
	// whole file system (requires CapSquash).
	Squash bool
}

// ConfigChanges edits an image config at commit time. Zero fields leave the
// config as the container had it.
type ConfigChanges struct {
	// Env entries (KEY=VALUE) are set, replacing entries with the same key.
	Env []string
	// Cmd replaces the command.
	Cmd []string
	// WorkingDir replaces the working directory.
	WorkingDir string
}
