package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/runtime"
)

// The labels the driver keeps on each containerd container. Keys under
// these prefixes are reserved: users' labels with them are refused.
const (
	reservedPrefix = "io.berth.containerd."
	labelImage     = reservedPrefix + "image"      // image as given in the spec
	labelImageID   = reservedPrefix + "image-id"   // manifest digest of the image
	labelName      = reservedPrefix + "name"       // the name given, if any
	labelSecretEnv = reservedPrefix + "secret-env" // JSON list of SecretEnv keys
	labelInit      = reservedPrefix + "init"       // "1" when the init wraps the command
	labelExit      = reservedPrefix + "exit"       // JSON ExitStatus once the task is deleted
	// labelCommitBase is the manifest digest of the image whose top
	// snapshot the container's snapshot now stands on (see rebase).
	labelCommitBase = reservedPrefix + "commit-base"
	// labelGCCommit keeps that image's content while the container exists.
	labelGCCommit = "containerd.io/gc.ref.content.berth-commit"
	// labelGCImage makes containerd's garbage collector keep the image's
	// content while the container exists, even if its reference moves.
	labelGCImage = "containerd.io/gc.ref.content.berth-image"
)

// initPath is where the init binary appears in containers: under /dev, a
// tmpfs, so its mount point never lands in the container's snapshot.
const initPath = "/dev/.berth-init"

// cpuPeriod is the CFS period used for NanoCPUs, in microseconds.
const cpuPeriod = 100000

// validID matches what containerd accepts as a container ID.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$`)

// validateSpec checks what can be checked without the engine.
func validateSpec(spec runtime.ContainerSpec) error {
	if spec.Image == "" {
		return invalid("container spec: empty image")
	}
	if spec.Name != "" && !validID.MatchString(spec.Name) {
		return invalid("container name %q: want letters, digits, '_', '.', '-' (at most 76)", spec.Name)
	}
	for _, e := range append(append([]string{}, spec.Env...), spec.SecretEnv...) {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, "\x00") {
			return invalid("env entry %q: want KEY=VALUE", e)
		}
	}
	if spec.MemoryBytes < 0 {
		return invalid("negative memory limit %d", spec.MemoryBytes)
	}
	if spec.NanoCPUs < 0 {
		return invalid("negative CPU limit %d", spec.NanoCPUs)
	}
	for k := range spec.Labels {
		if k == "" {
			return invalid("empty label key")
		}
		if strings.HasPrefix(k, reservedPrefix) || strings.HasPrefix(k, "containerd.io/") {
			return invalid("label %q: prefix reserved by the containerd driver", k)
		}
	}
	return nil
}

// containerLabels returns the labels to store: the user's plus the driver's.
func (d *Driver) containerLabels(spec runtime.ContainerSpec, imageID string) map[string]string {
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelImage] = spec.Image
	labels[labelImageID] = imageID
	labels[labelGCImage] = imageID
	if spec.Name != "" {
		labels[labelName] = spec.Name
	}
	if len(spec.SecretEnv) > 0 {
		keys := make([]string, len(spec.SecretEnv))
		for i, e := range spec.SecretEnv {
			keys[i], _, _ = strings.Cut(e, "=")
		}
		b, _ := json.Marshal(keys)
		labels[labelSecretEnv] = string(b)
	}
	if d.initPath != "" {
		labels[labelInit] = "1"
	}
	return labels
}

// userLabels returns the labels of a stored container without the driver's.
func userLabels(stored map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range stored {
		if strings.HasPrefix(k, reservedPrefix) || strings.HasPrefix(k, "containerd.io/") {
			continue
		}
		out[k] = v
	}
	return out
}

// specOpts returns the OCI spec options for spec on an image with config
// cfg.
func (d *Driver) specOpts(spec runtime.ContainerSpec, id string, cfg ocispec.ImageConfig) []oci.SpecOpts {
	opts := []oci.SpecOpts{withImageConfig(cfg), oci.WithHostname(hostname(spec.Name, id)), withCgroupMount}
	if len(spec.Cmd) > 0 {
		opts = append(opts, oci.WithProcessArgs(spec.Cmd...))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if len(spec.SecretEnv) > 0 {
		opts = append(opts, oci.WithEnv(spec.SecretEnv))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.MemoryBytes > 0 {
		// The limit covers memory and swap together, as on every engine:
		// the OCI swap limit is memory plus swap. A host without swap
		// accounting (runc would fail to set it) gets the memory limit
		// alone, as Docker and Podman do.
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryBytes)))
		if swapAccounting() {
			opts = append(opts, oci.WithMemorySwap(spec.MemoryBytes))
		}
	}
	if spec.NanoCPUs > 0 {
		quota := spec.NanoCPUs * cpuPeriod / 1e9
		quota = max(quota, 1000) // the kernel's minimum is 1ms
		opts = append(opts, oci.WithCPUCFS(quota, cpuPeriod))
	}
	opts = append(opts, requireArgs)
	if d.initPath != "" {
		opts = append(opts, withInit(d.initPath))
	}
	return opts
}

// withImageConfig applies the image config's environment, command and
// working directory (and user, when set) without mounting the image, which
// oci.WithImageConfig does to read /etc/group.
func withImageConfig(cfg ocispec.ImageConfig) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		env := cfg.Env
		if len(env) == 0 {
			env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		}
		s.Process.Env = mergeEnv(env, nil)
		s.Process.Args = append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
		s.Process.Cwd = cfg.WorkingDir
		if s.Process.Cwd == "" {
			s.Process.Cwd = "/"
		}
		if cfg.User != "" {
			return oci.WithUser(cfg.User)(ctx, c, ctr, s)
		}
		return nil
	}
}

// withCgroupMount mounts the container's own cgroups, read-only, at
// /sys/fs/cgroup, as Docker and Podman do: a job sees its limits (runtimes
// such as the JVM size themselves from them).
func withCgroupMount(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	for _, m := range s.Mounts {
		if m.Destination == "/sys/fs/cgroup" {
			return nil
		}
	}
	s.Mounts = append(s.Mounts, specs.Mount{
		Destination: "/sys/fs/cgroup",
		Type:        "cgroup",
		Source:      "cgroup",
		Options:     []string{"ro", "nosuid", "noexec", "nodev"},
	})
	return nil
}

// swapAccounting reports whether the host's kernel accounts swap to
// cgroups, so that a swap limit can be set: cgroup v1's
// memory.memsw.limit_in_bytes, or cgroup v2's memory.swap.max in a
// non-root cgroup. containerd runs on this host (its socket is local).
var swapAccounting = sync.OnceValue(func() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		return true
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		return false // no cgroup v2 either
	}
	found, _ := filepath.Glob("/sys/fs/cgroup/*/memory.swap.max")
	return len(found) > 0
})

// requireArgs refuses a spec with no command.
func requireArgs(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process == nil || len(s.Process.Args) == 0 {
		return invalid("no command: the spec has no Cmd and the image none")
	}
	return nil
}

// withInit bind-mounts the init binary and makes it the container's PID 1,
// running the command as its child.
func withInit(host string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: initPath,
			Type:        "bind",
			Source:      host,
			Options:     []string{"bind", "ro", "nosuid", "nodev"},
		})
		s.Process.Args = append([]string{initPath, "--"}, s.Process.Args...)
		return nil
	}
}

// mergeEnv returns base with the entries of over set (replacing entries
// with the same key, in place).
func mergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	at := map[string]int{}
	for _, e := range append(append([]string{}, base...), over...) {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := at[k]; ok {
			out[i] = e
			continue
		}
		at[k] = len(out)
		out = append(out, e)
	}
	return out
}

// hostname returns the container's host name: its name when that is a
// valid host name, else the first 12 characters of its ID.
func hostname(name, id string) string {
	if name != "" && len(name) <= 63 && !strings.ContainsAny(name, "._") {
		return name
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
