package fake

import (
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// checkEnv checks KEY=VALUE entries.
func checkEnv(field string, env []string) error {
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return fmt.Errorf("fake: %s entry %q is not KEY=VALUE: %w", field, kv, runtime.ErrInvalidArgument)
		}
	}
	return nil
}

// checkSpec validates what can be checked without the state.
func (r *Runtime) checkSpec(spec runtime.ContainerSpec) error {
	switch {
	case spec.Image == "":
		return fmt.Errorf("fake: spec has no image: %w", runtime.ErrInvalidArgument)
	case spec.Name != "" && !namePattern.MatchString(spec.Name):
		return fmt.Errorf("fake: invalid container name %q: %w", spec.Name, runtime.ErrInvalidArgument)
	case spec.MemoryBytes < 0:
		return fmt.Errorf("fake: negative MemoryBytes %d: %w", spec.MemoryBytes, runtime.ErrInvalidArgument)
	case spec.NanoCPUs < 0:
		return fmt.Errorf("fake: negative NanoCPUs %d: %w", spec.NanoCPUs, runtime.ErrInvalidArgument)
	case spec.WorkingDir != "" && !path.IsAbs(spec.WorkingDir):
		return fmt.Errorf("fake: working directory %q is not absolute: %w", spec.WorkingDir, runtime.ErrInvalidArgument)
	}
	if spec.MemoryBytes > 0 || spec.NanoCPUs > 0 {
		if err := r.need(runtime.CapLimits); err != nil {
			return err
		}
	}
	if err := checkEnv("Env", spec.Env); err != nil {
		return err
	}
	return checkEnv("SecretEnv", spec.SecretEnv)
}

// setEnv sets the KEY=VALUE entries of add in env, replacing same keys.
func setEnv(env []string, add ...string) []string {
	out := slices.Clone(env)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") || e == k })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// processEnv is the environment of a container's process.
func processEnv(img imageConfig, spec runtime.ContainerSpec, id string) []string {
	env := setEnv(img.Env, spec.Env...)
	env = setEnv(env, spec.SecretEnv...)
	env = setEnv(env, "HOSTNAME="+id[:12])
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		env = append(env, "HOME=/root")
	}
	return env
}

// findContainer returns the container with that ID or name.
func findContainer(st *state, id string) (*ctrRec, error) {
	if c := st.Containers[id]; c != nil {
		return c, nil
	}
	if id != "" {
		for _, c := range st.Containers {
			if c.Name == id {
				return c, nil
			}
		}
	}
	return nil, fmt.Errorf("fake: container %q: %w", id, runtime.ErrNotFound)
}

// effective returns c's state and exit status, counting a container whose
// process died as killed.
func (r *Runtime) effective(c *ctrRec) (runtime.ContainerState, runtime.ExitStatus) {
	if c.State == runtime.StateRunning && r.disk != nil && !c.Owner.alive() {
		return runtime.StateExited, runtime.ExitStatus{
			ExitCode: 137,
			Error:    fmt.Sprintf("fake: process %d running the container died", c.Owner.Pid),
		}
	}
	return c.State, c.Exit
}

func (r *Runtime) containerOf(c *ctrRec) runtime.Container {
	state, _ := r.effective(c)
	labels := maps.Clone(c.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return runtime.Container{
		ID: c.ID, Name: c.Name, Image: c.Image, Labels: labels, State: state, Created: c.Created,
	}
}

// localTask returns the task running container id in this Runtime.
func (r *Runtime) localTask(id string) *task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tasks[id]
}

// Run creates and starts a container. The script runs in a goroutine of
// this process.
func (r *Runtime) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	return call(ctx, r, OpRun, func() (runtime.Container, error) {
		if err := r.checkSpec(spec); err != nil {
			return runtime.Container{}, err
		}
		if err := ctx.Err(); err != nil {
			return runtime.Container{}, errCtx(ctx, "run")
		}
		var out runtime.Container
		var t *task
		var p program
		err := r.update(func(st *state) error {
			img, err := findImage(st, spec.Image)
			if err != nil {
				return err
			}
			if spec.Name != "" {
				if _, err := findContainer(st, spec.Name); err == nil {
					return fmt.Errorf("fake: container name %q is taken: %w", spec.Name, runtime.ErrAlreadyExists)
				}
			}
			p.argv = spec.Cmd
			if len(p.argv) == 0 {
				p.argv = img.Config.Cmd
			}
			if len(p.argv) == 0 {
				return fmt.Errorf("fake: no command in spec or image %q: %w", spec.Image, runtime.ErrInvalidArgument)
			}
			base, err := r.flat(st, img.Top)
			if err != nil {
				return err
			}
			n := st.next()
			id := newID("container", n)
			name := spec.Name
			if name == "" {
				name = "fake_" + id[:12]
			}
			p.env = processEnv(img.Config, spec, id)
			p.cwd = firstNonEmpty(spec.WorkingDir, img.Config.WorkingDir, "/")
			p.fs = newCFS(base)
			p.mem = spec.MemoryBytes
			if p.cwd != "/" {
				if err := p.fs.mkdir(path.Clean(p.cwd), true); err != nil {
					return fmt.Errorf("fake: working directory %q: %v: %w", p.cwd, err, runtime.ErrInvalidArgument)
				}
			}
			t = newTask(id)
			if r.disk != nil {
				t.out.paths = [3]string{"", r.disk.logPath(id, 1), r.disk.logPath(id, 2)}
			}
			c := &ctrRec{
				ID: id, Name: name, Image: spec.Image, ImageID: img.ID, Spec: spec,
				State: runtime.StateRunning, Created: r.cfg.clock(), Seq: n, Owner: self,
			}
			c.Spec.Labels = maps.Clone(spec.Labels)
			st.Containers[id] = c
			r.tasks[id] = t
			out = r.containerOf(c)
			return nil
		})
		if err != nil {
			if t != nil {
				t.out.close()
				r.mu.Lock()
				delete(r.tasks, t.id)
				r.mu.Unlock()
			}
			return runtime.Container{}, err
		}
		if before, _ := r.hit(OpExit); before != nil && before.Hang {
			p.hang = true
		}
		r.start(t, p)
		return out, nil
	})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// lookupContainer returns the ID and current state of container id.
func (r *Runtime) lookupContainer(id string) (cid string, cs runtime.ContainerState, exit runtime.ExitStatus, err error) {
	err = r.view(func(st *state) error {
		c, err := findContainer(st, id)
		if err != nil {
			return err
		}
		cid = c.ID
		cs, exit = r.effective(c)
		return nil
	})
	return cid, cs, exit, err
}

// Wait waits for the container to exit. Other processes' containers are
// polled.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	return call(ctx, r, OpWait, func() (runtime.ExitStatus, error) {
		for {
			cid, state, exit, err := r.lookupContainer(id)
			if err != nil {
				return runtime.ExitStatus{}, err
			}
			if state != runtime.StateRunning {
				return exit, nil
			}
			if t := r.localTask(cid); t != nil {
				if t.exited() {
					return t.status, nil // the exit could not be saved
				}
				select {
				case <-t.done:
					continue
				case <-ctx.Done():
					return runtime.ExitStatus{}, errCtx(ctx, "wait")
				}
			}
			if err := sleepCtx(ctx, r.cfg.poll); err != nil {
				return runtime.ExitStatus{}, errCtx(ctx, "wait")
			}
		}
	})
}

// Remove kills the container if it runs here and forgets it; a container
// another process runs is killed by that process within its poll interval.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	_, err := call(ctx, r, OpRemove, func() (struct{}, error) {
		cid, _, _, err := r.lookupContainer(id)
		if err != nil {
			return struct{}{}, err
		}
		if t := r.localTask(cid); t != nil {
			t.kill()
			<-t.done
		}
		return struct{}{}, r.update(func(st *state) error {
			c := st.Containers[cid]
			if c == nil {
				return fmt.Errorf("fake: container %q: %w", id, runtime.ErrNotFound)
			}
			delete(st.Containers, cid)
			delete(r.tasks, cid)
			r.gc(st, c.Upper)
			if r.disk != nil {
				r.disk.removeLogs(cid)
			}
			return nil
		})
	})
	return err
}

// InspectContainer returns the container with its current state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	return call(ctx, r, OpInspectContainer, func() (out runtime.Container, err error) {
		err = r.view(func(st *state) error {
			c, err := findContainer(st, id)
			if err != nil {
				return err
			}
			out = r.containerOf(c)
			return nil
		})
		return out, err
	})
}

// ListContainers returns the containers whose labels match filter, oldest
// first.
func (r *Runtime) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	return call(ctx, r, OpListContainers, func() (out []runtime.Container, err error) {
		err = r.view(func(st *state) error {
			cs := slices.Collect(maps.Values(st.Containers))
			sort.Slice(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
			for _, c := range cs {
				if filter.Match(c.Spec.Labels) {
					out = append(out, r.containerOf(c))
				}
			}
			return nil
		})
		return out, err
	})
}
