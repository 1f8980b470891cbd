package chroot

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// container is a container's metadata, stored as container.json. The
// values of SecretEnv are never stored: only their keys, so that Commit can
// leave them out.
type container struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	Image      string                 `json:"image"`
	ImageHex   string                 `json:"image_hex"`
	Labels     map[string]string      `json:"labels,omitempty"`
	Created    time.Time              `json:"created"`
	State      runtime.ContainerState `json:"state"`
	Exit       runtime.ExitStatus     `json:"exit"`
	Env        []string               `json:"env,omitempty"` // without secrets
	SecretKeys []string               `json:"secret_keys,omitempty"`
	Cmd        []string               `json:"cmd"`
	WorkingDir string                 `json:"working_dir"`

	pid  int           // of the main process while it runs
	done chan struct{} // closed once the exit is recorded
}

func (c *container) public() runtime.Container {
	return runtime.Container{
		ID: c.ID, Name: c.Name, Image: c.Image, Labels: maps.Clone(c.Labels),
		State: c.State, Created: c.Created,
	}
}

func (d *Driver) containerDir(id string) string { return filepath.Join(d.dir, "containers", id) }

// lookupContainer finds a container by ID or name. Callers hold d.mu.
func (d *Driver) lookupContainer(id string) (*container, error) {
	if c := d.containers[id]; c != nil {
		return c, nil
	}
	for _, c := range d.containers {
		if c.Name == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("chroot: container %q: %w", id, runtime.ErrNotFound)
}

// getContainer is lookupContainer taking the lock.
func (d *Driver) getContainer(id string) (*container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookupContainer(id)
}

// checkSpec validates what Run can check before touching anything.
func checkSpec(spec runtime.ContainerSpec) error {
	if spec.Image == "" {
		return fmt.Errorf("chroot: run: image is empty: %w", runtime.ErrInvalidArgument)
	}
	for _, kv := range slices.Concat(spec.Env, spec.SecretEnv) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("chroot: run: env entry %q is not KEY=VALUE: %w", kv, runtime.ErrInvalidArgument)
		}
	}
	if spec.MemoryBytes < 0 || spec.NanoCPUs < 0 {
		return fmt.Errorf("chroot: run: negative limit: %w", runtime.ErrInvalidArgument)
	}
	if spec.MemoryBytes > 0 || spec.NanoCPUs > 0 {
		return fmt.Errorf("chroot: run: resource limits: %w", runtime.ErrNotImplemented)
	}
	if spec.WorkingDir != "" && !filepath.IsAbs(spec.WorkingDir) {
		return fmt.Errorf("chroot: run: working dir %q is not absolute: %w", spec.WorkingDir, runtime.ErrInvalidArgument)
	}
	return nil
}

// Run copies the image's tree into a new container and starts its command
// there under chroot, in a process group of its own, with stdout and stderr
// going to files.
func (d *Driver) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	if err := checkSpec(spec); err != nil {
		return runtime.Container{}, err
	}
	id := randomHex(32)
	c := &container{
		ID: id, Name: spec.Name, Image: spec.Image, Labels: maps.Clone(spec.Labels),
		Created: time.Now(), State: runtime.StateCreated, done: make(chan struct{}),
	}
	if c.Name == "" {
		c.Name = "chroot-" + id[:12]
	}
	d.mu.Lock()
	img, err := d.lookupImage(spec.Image)
	if err == nil {
		if _, taken := d.lookupContainer(c.Name); taken == nil {
			err = fmt.Errorf("chroot: run: container name %q: %w", c.Name, runtime.ErrAlreadyExists)
		}
	}
	if err != nil {
		d.mu.Unlock()
		return runtime.Container{}, err
	}
	img = &image{Hex: img.Hex, Env: img.Env, Cmd: img.Cmd, WorkingDir: img.WorkingDir}
	c.ImageHex = img.Hex
	d.containers[id] = c // reserves the name and the image
	d.mu.Unlock()

	env := mergeEnv(img.Env, spec.Env)
	for _, kv := range spec.SecretEnv {
		k, _, _ := strings.Cut(kv, "=")
		c.SecretKeys = append(c.SecretKeys, k)
	}
	c.Env = dropKeys(env, c.SecretKeys)
	c.Cmd = spec.Cmd
	if len(c.Cmd) == 0 {
		c.Cmd = img.Cmd
	}
	c.WorkingDir = cmp.Or(spec.WorkingDir, img.WorkingDir, "/")

	if err := d.start(ctx, c, img, mergeEnv(env, spec.SecretEnv)); err != nil {
		d.mu.Lock()
		delete(d.containers, id)
		d.mu.Unlock()
		d.removeDir(d.containerDir(id))
		return runtime.Container{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return c.public(), nil
}

// start makes the container's directory and starts its process.
func (d *Driver) start(ctx context.Context, c *container, img *image, env []string) error {
	if len(c.Cmd) == 0 {
		return fmt.Errorf("chroot: run: no command (spec and image have none): %w", runtime.ErrInvalidArgument)
	}
	dir := d.containerDir(c.ID)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := copyTree(ctx, filepath.Join(d.imageDir(img.Hex), "rootfs"), rootfs); err != nil {
		return fmt.Errorf("chroot: run: copy image: %w", err)
	}
	if err := makeDevices(rootfs); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(rootfs, c.WorkingDir), 0o755); err != nil {
		return err
	}
	path, err := lookPath(rootfs, c.Cmd[0], env)
	if err != nil {
		return err
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path: path, Args: c.Cmd, Env: env, Dir: c.WorkingDir,
		Stdout: stdout, Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{Chroot: rootfs, Setpgid: true},
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chroot: run: start %s: %v: %w", c.Cmd[0], err, runtime.ErrInvalidArgument)
	}
	c.pid = cmd.Process.Pid
	c.State = runtime.StateRunning
	if err := d.saveContainer(c); err != nil {
		syscall.Kill(-c.pid, syscall.SIGKILL)
		cmd.Wait()
		return err
	}
	go d.reap(c, cmd)
	return nil
}

// reap waits for the main process, kills what is left of its process group
// (as a PID namespace would) and records the exit.
func (d *Driver) reap(c *container, cmd *exec.Cmd) {
	cmd.Wait()
	syscall.Kill(-c.pid, syscall.SIGKILL)
	st := runtime.ExitStatus{ExitCode: cmd.ProcessState.ExitCode()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st.ExitCode = 128 + int(ws.Signal())
	}
	d.mu.Lock()
	c.State = runtime.StateExited
	c.Exit = st
	c.pid = 0
	d.saveContainer(c)
	d.mu.Unlock()
	close(c.done)
}

// lookPath finds the program inside the container's tree.
func lookPath(rootfs, prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(filepath.Join(rootfs, p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("chroot: run: %q not found in the image's PATH: %w", prog, runtime.ErrInvalidArgument)
}

// Wait blocks until the container has exited.
func (d *Driver) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	c, err := d.getContainer(id)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return runtime.ExitStatus{}, fmt.Errorf("chroot: wait %s: %w", id, ctx.Err())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.lookupContainer(c.ID); err != nil {
		return runtime.ExitStatus{}, err // removed meanwhile
	}
	return c.Exit, nil
}

// Stop signals the main process, waits up to the grace period, then kills
// the whole process group.
func (d *Driver) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	c, err := d.getContainer(id)
	if err != nil {
		return err
	}
	sig, err := parseSignal(opts.Signal)
	if err != nil {
		return err
	}
	d.mu.Lock()
	pid := c.pid
	d.mu.Unlock()
	if pid == 0 {
		return nil // exited (or never started)
	}
	syscall.Kill(pid, sig)
	timer := time.NewTimer(opts.Grace)
	defer timer.Stop()
	select {
	case <-c.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	<-c.done // SIGKILL cannot be ignored: the exit is near
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chroot: stop %s: killed without waiting out the grace: %w", id, err)
	}
	return nil
}

// parseSignal maps a signal name ("SIGTERM", "TERM", "9") to a signal.
func parseSignal(name string) (syscall.Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "", "TERM", "15":
		return syscall.SIGTERM, nil
	case "KILL", "9":
		return syscall.SIGKILL, nil
	case "INT", "2":
		return syscall.SIGINT, nil
	case "HUP", "1":
		return syscall.SIGHUP, nil
	case "QUIT", "3":
		return syscall.SIGQUIT, nil
	case "USR1":
		return syscall.SIGUSR1, nil
	case "USR2":
		return syscall.SIGUSR2, nil
	}
	return 0, fmt.Errorf("chroot: unknown signal %q: %w", name, runtime.ErrInvalidArgument)
}

// Remove kills the container if it runs and deletes it with its files.
func (d *Driver) Remove(ctx context.Context, id string) error {
	c, err := d.getContainer(id)
	if err != nil {
		return err
	}
	d.mu.Lock()
	pid := c.pid
	d.mu.Unlock()
	if pid != 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
		<-c.done
	}
	d.mu.Lock()
	if d.containers[c.ID] != c {
		d.mu.Unlock()
		return fmt.Errorf("chroot: container %q: %w", id, runtime.ErrNotFound)
	}
	delete(d.containers, c.ID)
	d.mu.Unlock()
	return d.removeDir(d.containerDir(c.ID))
}

// InspectContainer returns the container's current state.
func (d *Driver) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookupContainer(id)
	if err != nil {
		return runtime.Container{}, err
	}
	return c.public(), nil
}

// ListContainers returns the containers whose labels match filter.
func (d *Driver) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []runtime.Container
	for _, c := range d.containers {
		if c.State != runtime.StateCreated && filter.Match(c.Labels) {
			out = append(out, c.public())
		}
	}
	return out, nil
}

// saveContainer writes c's metadata. Callers hold d.mu.
func (d *Driver) saveContainer(c *container) error {
	return writeJSON(filepath.Join(d.containerDir(c.ID), "container.json"), c)
}

// mergeEnv returns base with the entries of add set, replacing same keys.
func mergeEnv(base, add []string) []string {
	out := slices.Clone(base)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return envKey(e) == k })
		out = append(out, kv)
	}
	return out
}

// dropKeys returns env without the entries of the keys.
func dropKeys(env, keys []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(e string) bool { return slices.Contains(keys, envKey(e)) })
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}
