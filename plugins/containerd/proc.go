package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/berth-dev/berth/runtime"
)

// proc is a task whose output this process copies into the container's log
// files. The copying process holds the container's lock file, so two
// drivers never read the same FIFOs; when it dies, another driver attaches.
type proc struct {
	id   string
	task taskHandle
	lock *os.File   // flock held while copying
	logs []*os.File // stdout, stderr

	done   chan struct{} // closed once the task exited and its output is written
	status runtime.ExitStatus

	once sync.Once
}

// containerDir is where the driver keeps a container's logs and FIFOs.
func (d *Driver) containerDir(id string) string { return filepath.Join(d.stateDir, id) }

// openLogs creates the container's directory and takes its lock, returning
// the lock and the log files opened for appending. It returns ok false if
// another process holds the lock.
func (d *Driver) openLogs(id string) (lock *os.File, logs []*os.File, ok bool, err error) {
	dir := d.containerDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, false, err
	}
	lock, err = os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, false, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, false, nil
		}
		return nil, nil, false, err
	}
	for _, name := range []string{"stdout", "stderr"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			for _, f := range logs {
				f.Close()
			}
			lock.Close()
			return nil, nil, false, err
		}
		logs = append(logs, f)
	}
	return lock, logs, true, nil
}

// copying reports whether some process holds the container's lock (copies
// its output).
func (d *Driver) copying(id string) bool {
	lock, err := os.Open(filepath.Join(d.containerDir(id), "lock"))
	if err != nil {
		return false
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	return false
}

// newTask creates the task of container id, with its root file system on
// mounts and its output going to the log files, registers the waiter
// (before the task starts) and returns the proc. The caller starts the
// task.
func (d *Driver) newTask(ctx context.Context, id string, mounts []mount.Mount) (*proc, error) {
	lock, logs, ok, err := d.openLogs(id)
	if err != nil {
		return nil, fmt.Errorf("log files of %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("log files of %s are held by another process: %w", id, runtime.ErrConflict)
	}
	p := &proc{id: id, lock: lock, logs: logs, done: make(chan struct{})}
	creator := cio.NewCreator(cio.WithStreams(nil, logs[0], logs[1]), cio.WithFIFODir(d.containerDir(id)))
	io, err := creator(id)
	if err != nil {
		p.release()
		return nil, fmt.Errorf("output of %s: %w", id, err)
	}
	task, err := createTask(ctx, d.c, id, mounts, io)
	if err != nil {
		io.Cancel()
		io.Close()
		p.release()
		return nil, d.wrap(ctx, err, "create task %s", id)
	}
	p.task = task
	exitCh, err := p.task.Wait(d.ctx)
	if err != nil {
		p.release()
		return p, d.wrap(ctx, err, "wait task %s", id)
	}
	d.mu.Lock()
	d.procs[id] = p
	d.mu.Unlock()
	go d.watch(p, exitCh)
	return p, nil
}

// attach returns the proc of the container's task: this process's own, or,
// when no live process copies the output of a task that still runs, a new
// one attached to the task's FIFOs. It returns nil when nobody needs to
// copy (the task has exited, or another process copies).
func (d *Driver) attach(ctx context.Context, cont client.Container) (*proc, error) {
	id := cont.ID()
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.procs[id]; p != nil {
		return p, nil
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, nil
		}
		return nil, d.wrap(ctx, err, "task %s", id)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "task %s", id)
	}
	if st.Status == client.Stopped || st.Status == client.Unknown {
		return nil, nil
	}
	lock, logs, ok, err := d.openLogs(id)
	if err != nil || !ok {
		return nil, err
	}
	p := &proc{id: id, lock: lock, logs: logs, done: make(chan struct{})}
	p.task, err = cont.Task(ctx, cio.NewAttach(cio.WithStreams(nil, logs[0], logs[1])))
	if err != nil {
		p.release()
		return nil, d.wrap(ctx, err, "attach to task %s", id)
	}
	exitCh, err := p.task.Wait(d.ctx)
	if err != nil {
		p.release()
		return nil, d.wrap(ctx, err, "wait task %s", id)
	}
	d.procs[id] = p
	go d.watch(p, exitCh)
	return p, nil
}

// watch records the task's exit once its output is written.
func (d *Driver) watch(p *proc, exitCh <-chan client.ExitStatus) {
	st := <-exitCh
	if d.ctx.Err() != nil {
		return // Close detaches
	}
	code, _, err := st.Result()
	if io := p.task.IO(); io != nil {
		io.Wait()
		io.Close()
	}
	p.status = runtime.ExitStatus{ExitCode: int(code)}
	if err != nil {
		p.status.Error = err.Error()
	}
	p.status.OOMKilled = d.oomKilled(p.id)
	p.release()
	close(p.done)
}

// release closes the log files and the lock.
func (p *proc) release() {
	p.once.Do(func() {
		for _, f := range p.logs {
			f.Close()
		}
		if p.lock != nil {
			p.lock.Close()
		}
	})
}

// detach stops copying (the driver closes). The FIFOs stay, so another
// driver can attach to them.
func (p *proc) detach() {
	if p.task != nil {
		if io := p.task.IO(); io != nil {
			io.Cancel()
		}
	}
	p.release()
}

// proc returns this process's proc of container id, nil if none.
func (d *Driver) proc(id string) *proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.procs[id]
}

// forget drops the container's proc.
func (d *Driver) forget(id string) {
	d.mu.Lock()
	delete(d.procs, id)
	d.mu.Unlock()
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// container (cgroup v1 memory.oom_control or v2 memory.events), best effort.
func (d *Driver) oomKilled(id string) bool {
	rel := filepath.Join(d.namespace, id)
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", rel, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", rel, "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" && v != "0" {
				return true
			}
		}
	}
	return false
}
