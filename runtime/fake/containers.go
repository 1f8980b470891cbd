package fake

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func checkEnv(field string, env []string) error {
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return fmt.Errorf("fake: %s entry %q is not KEY=VALUE: %w", field, kv, runtime.ErrInvalidArgument)
		}
	}
	return nil
}

// checkSpec validates what can be checked without the state.
func (r *Runtime) checkSpec(spec runtime.ContainerSpec) error {
	bad := ""
	switch {
	case spec.Image == "":
		bad = "spec has no image"
	case spec.Name != "" && !namePattern.MatchString(spec.Name):
		bad = fmt.Sprintf("invalid container name %q", spec.Name)
	case spec.MemoryBytes < 0 || spec.NanoCPUs < 0:
		bad = "negative limits"
	case spec.WorkingDir != "" && !path.IsAbs(spec.WorkingDir):
		bad = fmt.Sprintf("working directory %q is not absolute", spec.WorkingDir)
	case spec.MemoryBytes > 0 || spec.NanoCPUs > 0:
		if err := r.need(runtime.CapLimits); err != nil {
			return err
		}
	}
	if bad != "" {
		return fmt.Errorf("fake: %s: %w", bad, runtime.ErrInvalidArgument)
	}
	return cmp.Or(checkEnv("Env", spec.Env), checkEnv("SecretEnv", spec.SecretEnv))
}

// setEnv sets the KEY=VALUE entries of add in env, replacing same keys.
func setEnv(env []string, add ...string) []string {
	out := slices.Clone(env)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		if i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") || e == k }); i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// findContainer returns the container with that ID or name.
func findContainer(st *state, id string) (*ctrRec, error) {
	if c := st.Containers[id]; c != nil {
		return c, nil
	}
	for _, c := range st.Containers {
		if c.Name == id && id != "" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("fake: container %q: %w", id, runtime.ErrNotFound)
}

// effective returns c's state and exit status: killed if its process died.
func (r *Runtime) effective(c *ctrRec) (runtime.ContainerState, runtime.ExitStatus) {
	if c.State == runtime.StateRunning && r.dir != "" && !c.Owner.alive() {
		return runtime.StateExited, runtime.ExitStatus{ExitCode: 137, Error: fmt.Sprintf("fake: process %d running it died", c.Owner.Pid)}
	}
	return c.State, c.Exit
}

func (r *Runtime) containerOf(c *ctrRec) runtime.Container {
	state, _ := r.effective(c)
	labels := maps.Clone(c.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return runtime.Container{ID: c.ID, Name: c.Name, Image: c.Image, Labels: labels, State: state, Created: c.Created}
}

// Run creates and starts a container, running in a goroutine.
func (r *Runtime) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	return call(ctx, r, OpRun, func() (out runtime.Container, err error) {
		if err := r.checkSpec(spec); err != nil {
			return out, err
		}
		if ctx.Err() != nil {
			return out, errCtx(ctx, "run")
		}
		var t *task
		err = r.update(func(st *state) error {
			img, err := findImage(st, spec.Image)
			if err != nil {
				return err
			}
			if _, err := findContainer(st, spec.Name); err == nil && spec.Name != "" {
				return fmt.Errorf("fake: container name %q is taken: %w", spec.Name, runtime.ErrAlreadyExists)
			}
			argv := spec.Cmd
			if len(argv) == 0 {
				argv = img.Config.Cmd
			}
			if len(argv) == 0 {
				return fmt.Errorf("fake: no command in spec or image %q: %w", spec.Image, runtime.ErrInvalidArgument)
			}
			base, err := r.flat(st, img.Top)
			if err != nil {
				return err
			}
			n := st.next()
			id := newID("container", n)
			fs, dir := newCFS(base), path.Clean(cmp.Or(spec.WorkingDir, img.Config.WorkingDir, "/"))
			if err := fs.mkdir(dir, true); err != nil {
				return fmt.Errorf("fake: working directory %q: %v: %w", dir, err, runtime.ErrInvalidArgument)
			}
			env := setEnv(img.Config.Env, spec.Env...)
			env = setEnv(env, append(spec.SecretEnv, "HOSTNAME="+id[:12])...)
			if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
				env = append(env, "HOME=/root")
			}
			t = &task{id: id, argv: argv, env: env, dir: dir, done: make(chan struct{}), out: &logBuf{notify: make(chan struct{})},
				sh: newShell(fs, spec.MemoryBytes, id)}
			if r.dir != "" {
				t.out.paths = [3]string{"", r.logPath(id, 1), r.logPath(id, 2)}
			}
			c := &ctrRec{
				ID: id, Name: cmp.Or(spec.Name, "fake_"+id[:12]), Image: spec.Image, ImageID: img.ID, Spec: spec,
				State: runtime.StateRunning, Created: r.cfg.clock(), Seq: n, Owner: self,
			}
			c.Spec.Labels = maps.Clone(spec.Labels)
			st.Containers[id] = c
			r.tasks[id] = t
			out = r.containerOf(c)
			return nil
		})
		if err != nil {
			return out, err
		}
		if before, _ := r.hit(OpExit); before != nil && before.Hang {
			t.hang = true
		}
		r.start(t)
		return out, nil
	})
}

// lookupContainer returns the ID, state and task (if here) of container id.
func (r *Runtime) lookupContainer(id string) (cid string, cs runtime.ContainerState, exit runtime.ExitStatus, t *task, err error) {
	err = r.view(func(st *state) error {
		c, err := findContainer(st, id)
		if err == nil {
			cid, t = c.ID, r.tasks[c.ID]
			cs, exit = r.effective(c)
		}
		return err
	})
	return cid, cs, exit, t, err
}

// Wait waits for the container to exit (polling another process's).
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	return call(ctx, r, OpWait, func() (runtime.ExitStatus, error) { return r.wait(ctx, id) })
}

func (r *Runtime) wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	for {
		_, state, exit, t, err := r.lookupContainer(id)
		switch {
		case err != nil:
			return exit, err
		case state != runtime.StateRunning:
			return exit, nil
		case t != nil && t.exited():
			return t.status, nil // the exit could not be saved
		case t != nil:
			select {
			case <-t.done:
				continue
			case <-ctx.Done():
			}
		}
		select {
		case <-time.After(r.cfg.poll):
		case <-ctx.Done():
			return exit, errCtx(ctx, "wait")
		}
	}
}

// Remove kills the container (its process obeys within its poll interval)
// and forgets it.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	return call0(ctx, r, OpRemove, func() error {
		cid, _, _, t, err := r.lookupContainer(id)
		if err != nil {
			return err
		}
		if t != nil {
			t.sh.signal(sigKILL)
			<-t.done
		}
		return r.update(func(st *state) error {
			c := st.Containers[cid]
			if c == nil {
				return fmt.Errorf("fake: container %q: %w", id, runtime.ErrNotFound)
			}
			delete(st.Containers, cid)
			delete(r.tasks, cid)
			r.dropBlob(st, c.Upper)
			r.removeLogs(cid)
			return nil
		})
	})
}

// InspectContainer returns the container with its current state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	return call(ctx, r, OpInspectContainer, func() (out runtime.Container, err error) {
		err = r.view(func(st *state) error {
			c, err := findContainer(st, id)
			if err == nil {
				out = r.containerOf(c)
			}
			return err
		})
		return out, err
	})
}

// ListContainers returns the containers matching filter, oldest first.
func (r *Runtime) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	return call(ctx, r, OpListContainers, func() (out []runtime.Container, err error) {
		err = r.view(func(st *state) error {
			cs := slices.SortedFunc(maps.Values(st.Containers), func(a, b *ctrRec) int { return cmp.Compare(a.Seq, b.Seq) })
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
