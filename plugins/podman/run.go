package podman

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotations the driver keeps on its containers. Annotations, unlike
// labels, are not copied into committed images.
const (
	// imageAnnotation holds ContainerSpec.Image as given.
	imageAnnotation = "io.berth.image"
	// tokenAnnotation is unique per Run, to find a container whose create
	// was abandoned.
	tokenAnnotation = "io.berth.podman.run"
)

// cpuPeriod is the CFS period NanoCPUs are converted with (100ms).
const cpuPeriod = 100_000

// validName is Podman's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Run creates a container from s and starts it.
func (d *Driver) Run(ctx context.Context, s runtime.ContainerSpec) (runtime.Container, error) {
	if err := validate(s); err != nil {
		return runtime.Container{}, err
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Container{}, err
	}
	// The service answers 500 for every create failure: tell a missing
	// image and a taken name apart by asking.
	if ok, err := images.Exists(c, s.Image, nil); err != nil {
		return runtime.Container{}, d.wrap(ctx, "run", err)
	} else if !ok {
		return runtime.Container{}, fmt.Errorf("podman: run: image %s: %w", s.Image, runtime.ErrNotFound)
	}
	token := randomHex(8)
	if s.Name == "" && hasSecretValue(s.SecretEnv) {
		// The secrets are tied to their container by its name (see
		// secrets.go): the container needs one before it exists.
		s.Name = "berth-" + token
	}
	gen := specgen.NewSpecGenerator(s.Image, false)
	gen.Name = s.Name
	gen.Command = s.Cmd
	gen.Labels = s.Labels
	gen.Annotations = map[string]string{imageAnnotation: s.Image, tokenAnnotation: token}
	gen.WorkDir = s.WorkingDir
	gen.Env = map[string]string{}
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		gen.Env[k] = v
	}
	gen.ResourceLimits = limits(s)
	yes := true
	gen.Init = &yes // an init as PID 1 forwards SIGTERM to the job
	gen.InitPath = d.initPath

	// The secrets are needed until start; the container's stored spec
	// never holds their values.
	envSecrets, err := d.createSecrets(c, s.Name, s.SecretEnv)
	defer d.removeSecrets(ctx, envSecrets)
	if err != nil {
		return runtime.Container{}, err
	}
	gen.EnvSecrets = envSecrets
	for _, kv := range s.SecretEnv {
		if k, v, _ := strings.Cut(kv, "="); v == "" {
			gen.Env[k] = "" // Podman refuses empty secrets; nothing to hide
		}
	}

	created, err := containers.CreateWithSpec(c, gen, nil)
	if err != nil {
		if ctx.Err() != nil {
			d.removeAbandoned(ctx, s, token)
			return runtime.Container{}, fmt.Errorf("podman: run: %w", ctx.Err())
		}
		if s.Name != "" {
			if taken, _ := containers.Exists(c, s.Name, nil); taken {
				return runtime.Container{}, fmt.Errorf("podman: run: name %s: %w", s.Name, runtime.ErrAlreadyExists)
			}
		}
		return runtime.Container{}, d.wrap(ctx, "run: create", err)
	}
	if err := containers.Start(c, created.ID, nil); err != nil {
		d.removeQuietly(ctx, created.ID)
		return runtime.Container{}, d.wrap(ctx, "run: start", err)
	}
	ctr, err := d.InspectContainer(ctx, created.ID)
	switch {
	case err == nil:
		return ctr, nil
	case ctx.Err() != nil:
		d.removeQuietly(ctx, created.ID)
		return runtime.Container{}, err
	}
	// The container runs: only its ID is promised. Podman 4.3 can fail an
	// inspect that races the container's exit ("read /proc/N/cgroup: no
	// such process"), which must not fail a job that started; Wait and
	// InspectContainer report its state from here on.
	return runtime.Container{ID: created.ID, Name: s.Name, Image: s.Image, Labels: s.Labels,
		State: runtime.StateRunning, Created: time.Now()}, nil
}

// hasSecretValue reports whether an entry of env (KEY=VALUE) has a
// non-empty value, which Run passes as a Podman secret.
func hasSecretValue(env []string) bool {
	for _, kv := range env {
		if _, v, _ := strings.Cut(kv, "="); v != "" {
			return true
		}
	}
	return false
}

// validate checks a spec before anything is made.
func validate(s runtime.ContainerSpec) error {
	const op = "run"
	switch {
	case s.Image == "":
		return invalid(op, "empty image")
	case s.Name != "" && !validName.MatchString(s.Name):
		return invalid(op, "container name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", s.Name)
	case s.MemoryBytes < 0:
		return invalid(op, "negative MemoryBytes %d", s.MemoryBytes)
	case s.NanoCPUs < 0:
		return invalid(op, "negative NanoCPUs %d", s.NanoCPUs)
	case s.MemoryBytes > 0 && s.MemoryBytes < 6<<20:
		return invalid(op, "MemoryBytes %d below Podman's minimum of 6 MiB", s.MemoryBytes)
	case s.NanoCPUs > 0 && s.NanoCPUs < 10_000_000:
		return invalid(op, "NanoCPUs %d below the minimum of 0.01 CPU", s.NanoCPUs)
	case len(s.SecretEnv) > maxSecretEnv:
		return invalid(op, "%d SecretEnv entries, more than %d", len(s.SecretEnv), maxSecretEnv)
	}
	for _, list := range [][]string{s.Env, s.SecretEnv} {
		for _, kv := range list {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") {
				return invalid(op, "environment entry %q: want KEY=VALUE", kv)
			}
		}
	}
	return nil
}

// limits returns the cgroup limits of s, nil for none.
func limits(s runtime.ContainerSpec) *spec.LinuxResources {
	if s.MemoryBytes == 0 && s.NanoCPUs == 0 {
		return nil
	}
	res := &spec.LinuxResources{}
	if s.MemoryBytes > 0 {
		// The limit covers memory and swap together (the OCI swap limit
		// is memory plus swap), as on every engine: left unset, Podman
		// would allow as much swap again. A host without swap accounting
		// makes Podman drop it, with a warning.
		mem, swap := s.MemoryBytes, s.MemoryBytes
		res.Memory = &spec.LinuxMemory{Limit: &mem, Swap: &swap}
	}
	if s.NanoCPUs > 0 {
		period := uint64(cpuPeriod)
		quota := s.NanoCPUs * cpuPeriod / 1_000_000_000
		res.CPU = &spec.LinuxCPU{Period: &period, Quota: &quota}
	}
	return res
}

// removeAbandoned removes the container of an abandoned create, if the
// service made it: it carries the Run's token annotation.
func (d *Driver) removeAbandoned(ctx context.Context, s runtime.ContainerSpec, token string) {
	if s.Name == "" && len(s.Labels) == 0 {
		return // the service cannot find it for us: nothing to list by
	}
	bg, cancel := background(ctx)
	defer cancel()
	c, err := d.client(bg)
	if err != nil {
		return
	}
	var candidates []string
	if s.Name != "" {
		candidates = append(candidates, s.Name)
	} else if list, err := d.list(c, s.Labels); err == nil {
		for _, ctr := range list {
			candidates = append(candidates, ctr.ID)
		}
	}
	for _, id := range candidates {
		data, err := containers.Inspect(c, id, nil)
		if err == nil && data.Config != nil && data.Config.Annotations[tokenAnnotation] == token {
			_ = d.Remove(bg, data.ID)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
