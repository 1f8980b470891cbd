package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// cleanupTimeout bounds clean-up done after the caller's context has ended
// (removing a half-made container, the kill at the end of Stop).
const cleanupTimeout = 30 * time.Second

var yes = true

// Run creates the container, registers the wait for its exit, and starts it.
func (d *Driver) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	if err := checkSpec(spec); err != nil {
		return runtime.Container{}, err
	}
	labels := maps.Clone(spec.Labels)
	if len(spec.SecretEnv) > 0 {
		if labels == nil {
			labels = map[string]string{}
		}
		keys, _ := json.Marshal(envKeys(spec.SecretEnv))
		labels[secretLabel] = string(keys)
	}
	created := time.Now()
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: spec.Name,
		Config: &container.Config{
			Image:      spec.Image,
			Cmd:        spec.Cmd,
			Env:        slices.Concat(spec.Env, spec.SecretEnv),
			Labels:     labels,
			WorkingDir: spec.WorkingDir,
		},
		HostConfig: &container.HostConfig{
			AutoRemove: false, // the container may be committed after its exit
			// An init as PID 1 passes signals on: the program gets SIGTERM's
			// default action (a process that is PID 1 would ignore it).
			Init:      &yes,
			Resources: resources(spec),
		},
	})
	if err != nil {
		if cerrdefs.IsConflict(err) {
			return runtime.Container{}, runtime.WrapEngine("docker", fmt.Sprintf("create container %q", spec.Name), runtime.ErrAlreadyExists, err)
		}
		return runtime.Container{}, d.fail(err, "create container from %q", spec.Image)
	}
	id := res.ID
	if err := d.watch(ctx, id); err != nil {
		return runtime.Container{}, d.discard(id, err)
	}
	if _, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return runtime.Container{}, d.discard(id, d.fail(err, "start container %s", id))
	}
	// The container as specified: no inspect on the hot path (the engine's
	// view is one InspectContainer away).
	return runtime.Container{
		ID:      id,
		Name:    spec.Name,
		Image:   spec.Image,
		Labels:  spec.Labels,
		State:   runtime.StateRunning,
		Created: created,
	}, nil
}

// resources returns the container's limits. MemoryBytes caps memory and
// swap together, as on every engine: MemorySwap (memory plus swap) is set
// to the same value (Docker's default would be twice the memory). On a
// host without swap accounting the daemon ignores it, and memory alone is
// capped.
func resources(spec runtime.ContainerSpec) container.Resources {
	r := container.Resources{Memory: spec.MemoryBytes, NanoCPUs: spec.NanoCPUs}
	if spec.MemoryBytes > 0 {
		r.MemorySwap = spec.MemoryBytes
	}
	return r
}

// discard removes a container Run made but could not finish, and returns
// cause (with the clean-up's failure, if any).
func (d *Driver) discard(id string, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := d.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("%w (and removing the container failed: %v)", cause, err)
	}
	return cause
}

// checkSpec rejects a malformed spec before anything is created.
func checkSpec(spec runtime.ContainerSpec) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("docker: run: %w: %s", runtime.ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(spec.Image) == "":
		return bad("image is required")
	case len(spec.Cmd) > 0 && spec.Cmd[0] == "":
		return bad("empty program in cmd %q", spec.Cmd)
	case spec.MemoryBytes < 0:
		return bad("negative memory limit %d", spec.MemoryBytes)
	case spec.NanoCPUs < 0:
		return bad("negative CPU limit %d", spec.NanoCPUs)
	}
	for _, e := range slices.Concat(spec.Env, spec.SecretEnv) {
		if err := checkEnv(e); err != nil {
			return bad("%v", err)
		}
	}
	for k := range spec.Labels {
		if k == "" {
			return bad("empty label key")
		}
	}
	return nil
}

// checkEnv checks one KEY=VALUE entry.
func checkEnv(e string) error {
	k, _, ok := strings.Cut(e, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
		return fmt.Errorf("env entry %q is not KEY=VALUE", e)
	}
	return nil
}

// envKeys returns the keys of KEY=VALUE entries.
func envKeys(env []string) []string {
	keys := make([]string, 0, len(env))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		keys = append(keys, k)
	}
	return keys
}

// Wait blocks until the container has exited.
func (d *Driver) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	var code int64 = -1
	if w := d.watched(id); w != nil {
		select {
		case <-w.done:
		case <-ctx.Done():
			return runtime.ExitStatus{}, fmt.Errorf("docker: wait for %s: %w", id, ctx.Err())
		}
		if w.err == nil {
			code = w.res.StatusCode
			if code == 0 && w.res.Error == nil {
				// A clean exit: nothing more to learn from an inspect (the
				// init made the program's status the container's).
				return runtime.ExitStatus{}, nil
			}
		}
	}
	if code < 0 { // no watch, or it failed: ask the engine
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		res := d.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case r := <-res.Result:
			code = r.StatusCode
		case err := <-res.Error:
			return runtime.ExitStatus{}, d.fail(err, "wait for %s", id)
		case <-ctx.Done():
			return runtime.ExitStatus{}, fmt.Errorf("docker: wait for %s: %w", id, ctx.Err())
		}
	}
	insp, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) { // removed since: the wait's code is all there is
			return runtime.ExitStatus{ExitCode: int(code)}, nil
		}
		return runtime.ExitStatus{}, d.fail(err, "inspect container %s", id)
	}
	st := insp.Container.State
	if st == nil {
		return runtime.ExitStatus{ExitCode: int(code)}, nil
	}
	return runtime.ExitStatus{ExitCode: st.ExitCode, OOMKilled: st.OOMKilled, Error: st.Error}, nil
}

// Stop signals the container, waits up to the grace period, then kills it.
func (d *Driver) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	if opts.Grace < 0 {
		return fmt.Errorf("docker: stop %s: %w: negative grace %v", id, runtime.ErrInvalidArgument, opts.Grace)
	}
	sig := opts.Signal
	if sig == "" {
		sig = "SIGTERM"
	}
	// Only the grace period depends on ctx: the signals are sent, and the
	// end of the container awaited, whatever ctx says.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	running, err := d.kill(kctx, id, sig)
	if err != nil || !running {
		return err
	}
	if opts.Grace > 0 {
		gctx, cancel := context.WithTimeout(ctx, opts.Grace)
		err := d.waitStopped(gctx, id)
		cancel()
		if err == nil {
			return nil
		}
	}
	if _, err := d.kill(kctx, id, "SIGKILL"); err != nil {
		return err
	}
	return d.waitStopped(kctx, id)
}

// kill sends sig; it reports false (and no error) if the container was not
// running.
func (d *Driver) kill(ctx context.Context, id, sig string) (running bool, _ error) {
	_, err := d.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: sig})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsConflict(err): // "is not running"
		return false, nil
	default:
		return false, d.fail(err, "signal %s to container %s", sig, id)
	}
}

// waitStopped waits until the container is not running.
func (d *Driver) waitStopped(ctx context.Context, id string) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := d.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
		return nil
	case err := <-res.Error:
		if cerrdefs.IsNotFound(err) {
			return nil // removed: certainly not running
		}
		return d.fail(err, "wait for %s to stop", id)
	case <-ctx.Done():
		return fmt.Errorf("docker: wait for %s to stop: %w", id, ctx.Err())
	}
}

// Logs copies the container's output, demultiplexed, into the writers.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	rc, err := d.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow})
	if err != nil {
		return d.fail(err, "logs of container %s", id)
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("docker: logs of container %s: %w", id, ctx.Err())
		}
		return fmt.Errorf("docker: logs of container %s: %w", id, err)
	}
	return nil
}

// Remove kills and removes the container with its anonymous volumes.
func (d *Driver) Remove(ctx context.Context, id string) error {
	_, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		return d.fail(err, "remove container %s", id)
	}
	d.forget(id)
	return nil
}

// InspectContainer returns the container with its current state.
func (d *Driver) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	if strings.TrimSpace(id) == "" {
		return runtime.Container{}, fmt.Errorf("docker: inspect container: %w: empty ID", runtime.ErrInvalidArgument)
	}
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.Container{}, d.fail(err, "inspect container %s", id)
	}
	c := res.Container
	out := runtime.Container{
		ID:    c.ID,
		Name:  strings.TrimPrefix(c.Name, "/"),
		State: runtime.StateUnknown,
	}
	if c.Config != nil {
		out.Image = c.Config.Image
		out.Labels = visibleLabels(c.Config.Labels)
	}
	if c.State != nil {
		out.State = mapState(c.State.Status)
	}
	out.Created, _ = time.Parse(time.RFC3339Nano, c.Created)
	return out, nil
}

// ListContainers returns the containers, in any state, whose labels match.
func (d *Driver) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(filter)})
	if err != nil {
		return nil, d.fail(err, "list containers")
	}
	ids := make([]string, len(res.Items))
	for i, s := range res.Items {
		ids[i] = s.ID
	}
	// Inspect for the image as given at creation (the summary may show an
	// ID instead) and a precise creation time.
	return inspectAll(ctx, ids, d.InspectContainer)
}

// mapState maps Docker's container status onto the contract's states.
func mapState(s container.ContainerState) runtime.ContainerState {
	switch s {
	case container.StateCreated:
		return runtime.StateCreated
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtime.StateRunning
	case container.StateExited, container.StateDead:
		return runtime.StateExited
	default:
		return runtime.StateUnknown
	}
}

// labelFilters turns a LabelFilter into the engine's label filters, which
// have the same meaning: "key" = present, "key=value" = exact.
func labelFilters(f runtime.LabelFilter) client.Filters {
	filters := client.Filters{}
	for k, v := range f {
		if v == "" {
			filters.Add("label", k)
		} else {
			filters.Add("label", k+"="+v)
		}
	}
	return filters
}

// visibleLabels returns labels without the driver's own bookkeeping label.
func visibleLabels(labels map[string]string) map[string]string {
	if _, ok := labels[secretLabel]; !ok {
		return labels
	}
	out := maps.Clone(labels)
	delete(out, secretLabel)
	return out
}
