package fake_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestPersistAcrossRuntimes(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	r := runSpec(t, ctx, a, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", "echo out; echo err >&2; echo data > /work/f; exit 3"},
		Labels: map[string]string{"job": "1"},
	})
	img, err := a.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/p:1", Labels: map[string]string{"gen": "1"}})
	if err != nil {
		t.Fatal(err)
	}

	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	got, err := b.InspectContainer(ctx, r.id)
	if err != nil || got.State != runtime.StateExited || got.Labels["job"] != "1" {
		t.Errorf("container seen from another Runtime: %+v, %v", got, err)
	}
	if st, err := b.Wait(ctx, r.id); err != nil || st.ExitCode != 3 {
		t.Errorf("exit status seen from another Runtime: %+v, %v", st, err)
	}
	var out, errb bytes.Buffer
	if err := b.Logs(ctx, r.id, runtime.LogOptions{Follow: true}, &out, &errb); err != nil || out.String() != "out\n" || errb.String() != "err\n" {
		t.Errorf("logs seen from another Runtime: %q, %q, %v", out.String(), errb.String(), err)
	}
	img2, err := b.InspectImage(ctx, "snap/p:1")
	if err != nil || img2.ID != img.ID || img2.Layers != 2 || img2.Labels["gen"] != "1" {
		t.Errorf("image seen from another Runtime: %+v, %v", img2, err)
	}
	if r := sh(t, ctx, b, "snap/p:1", "cat /work/f"); r.stdout != "data\n" {
		t.Errorf("committed file run from another Runtime: %q", r.stdout)
	}
	// b commits a's container too.
	if _, err := b.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/p:2", Squash: true}); err != nil {
		t.Errorf("commit from another Runtime: %v", err)
	}
	if _, err := a.InspectImage(ctx, "snap/p:2"); err != nil {
		t.Errorf("image made by b, seen by a: %v", err)
	}
}

func TestPersistRemoveElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	c, err := a.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo ready; sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, ctx, b, c.ID, "ready")
	if got, _ := b.InspectContainer(ctx, c.ID); got.State != runtime.StateRunning {
		t.Fatalf("state seen by b: %s", got.State)
	}
	// a's Wait returns once b removed the container and a noticed.
	waited := make(chan error, 1)
	go func() {
		_, err := a.Wait(ctx, c.ID)
		waited <- err
	}()
	if err := b.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a's Wait after b removed the container: %v, want ErrNotFound", err)
	}
	for _, rt := range []*fake.Runtime{a, b} {
		if _, err := rt.InspectContainer(ctx, c.ID); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("InspectContainer after Remove: %v", err)
		}
	}
}

func TestPersistStopElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	for _, tc := range []struct {
		script string
		want   int
	}{{"echo ready; sleep 30", 143}, {"trap '' TERM; echo ready; sleep 30", 137}} {
		c, err := a.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", tc.script}})
		if err != nil {
			t.Fatal(err)
		}
		waitOutput(t, ctx, b, c.ID, "ready")
		if err := b.Stop(ctx, c.ID, runtime.StopOptions{Grace: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.InspectContainer(ctx, c.ID); got.State != runtime.StateExited {
			t.Errorf("state after a Stop from b: %s", got.State)
		}
		if st, _ := a.Wait(ctx, c.ID); st.ExitCode != tc.want {
			t.Errorf("%q stopped from b: exit %d, want %d", tc.script, st.ExitCode, tc.want)
		}
	}
}

func TestPersistFollowElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	c, err := a.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo a; sleep 0.1; echo b >&2; exit 2"}})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := b.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\n" || errb.String() != "b\n" {
		t.Errorf("followed from b: %q, %q", out.String(), errb.String())
	}
	if st, err := b.Wait(ctx, c.ID); err != nil || st.ExitCode != 2 {
		t.Errorf("Wait from b: %+v, %v", st, err)
	}
}

func TestPersistBadDir(t *testing.T) {
	f := t.TempDir() + "/file"
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rt := fake.New(fake.WithStateDir(f))
	if err := rt.Ping(context.Background()); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Ping with an unusable state dir: %v", err)
	}
}

// TestPersistProcessDied runs a container in a child process that then
// crashes (a Crash fault): the container must count as exited with 137.
func TestPersistProcessDied(t *testing.T) {
	dir := t.TempDir()
	rt, ctx := newRuntime(t, fake.WithStateDir(dir))
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "BERTH_FAKE_HELPER="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(line, "container "))
	got, err := rt.InspectContainer(ctx, id)
	if err != nil {
		t.Fatalf("container of the helper: %v", err)
	}
	if got.State != runtime.StateRunning {
		t.Errorf("state while the helper runs it: %s", got.State)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != fake.CrashExitCode {
		t.Fatalf("helper ended with %v, want exit status %d", err, fake.CrashExitCode)
	}
	st, err := rt.Wait(ctx, id)
	if err != nil || st.ExitCode != 137 || st.Error == "" {
		t.Errorf("Wait for a container whose process died: %+v, %v", st, err)
	}
	if got, _ := rt.InspectContainer(ctx, id); got.State != runtime.StateExited {
		t.Errorf("state after the helper died: %s", got.State)
	}
	if err := rt.Stop(ctx, id, runtime.StopOptions{Grace: time.Second}); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		t.Errorf("Remove: %v", err)
	}
}

// TestHelperProcess is the child of TestPersistProcessDied: it starts a
// container, prints its ID, then crashes in Wait.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("BERTH_FAKE_HELPER")
	if dir == "" {
		t.Skip("helper process for TestPersistProcessDied")
	}
	rt := fake.New(fake.WithStateDir(dir), fake.WithFaults(fake.Fault{Op: fake.OpWait, Nth: 1, Crash: true}))
	ctx := context.Background()
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "sleep 60"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Printf("container %s\n", c.ID)
	rt.Wait(ctx, c.ID)
	os.Exit(1) // not reached
}

// BenchmarkPersistedCycle measures one job on persisted state: run from the
// last snapshot, wait, commit the next snapshot, remove the container.
func BenchmarkPersistedCycle(b *testing.B) {
	rt, ctx := newRuntime(b, fake.WithStateDir(b.TempDir()))
	ref := baseRef
	i := 0
	for b.Loop() {
		r := sh(b, ctx, rt, ref, fmt.Sprintf("echo %d >> /work/log; echo %d > /work/f%d", i, i, i))
		next := fmt.Sprintf("snap/bench:%d", i)
		if _, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: next}); err != nil {
			b.Fatal(err)
		}
		if err := rt.Remove(ctx, r.id); err != nil {
			b.Fatal(err)
		}
		ref = next
		i++
	}
}

// TestPersistedCycles runs 50 jobs, each on the previous one's snapshot,
// on persisted state, and checks the last one sees every job's files.
func TestPersistedCycles(t *testing.T) {
	rt, ctx := newRuntime(t, fake.WithStateDir(t.TempDir()))
	ref := baseRef
	const n = 50
	for i := range n {
		r := sh(t, ctx, rt, ref, fmt.Sprintf("echo %d >> /work/log", i))
		next := fmt.Sprintf("snap/cycle:%d", i)
		img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: next})
		if err != nil {
			t.Fatal(err)
		}
		if img.Layers != i+2 {
			t.Fatalf("cycle %d: %d layers, want %d", i, img.Layers, i+2)
		}
		if err := rt.Remove(ctx, r.id); err != nil {
			t.Fatal(err)
		}
		ref = next
	}
	r := sh(t, ctx, rt, ref, "wc -l /work/log")
	if r.stdout != fmt.Sprintf("%d /work/log\n", n) {
		t.Errorf("after %d cycles: %q", n, r.stdout)
	}
}
