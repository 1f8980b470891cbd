package fake_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, err)

	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	got, err := b.InspectContainer(ctx, r.id)
	if assert.NoError(t, err, "container seen from another Runtime") {
		assert.Equal(t, runtime.StateExited, got.State, "state seen from another Runtime")
		assert.Equal(t, "1", got.Labels["job"], "label seen from another Runtime")
	}
	st, err := b.Wait(ctx, r.id)
	if assert.NoError(t, err, "Wait from another Runtime") {
		assert.Equal(t, 3, st.ExitCode, "exit status seen from another Runtime")
	}
	var out, errb bytes.Buffer
	if assert.NoError(t, b.Logs(ctx, r.id, runtime.LogOptions{Follow: true}, &out, &errb), "logs from another Runtime") {
		assert.Equal(t, "out\n", out.String(), "stdout seen from another Runtime")
		assert.Equal(t, "err\n", errb.String(), "stderr seen from another Runtime")
	}
	img2, err := b.InspectImage(ctx, "snap/p:1")
	if assert.NoError(t, err, "image seen from another Runtime") {
		assert.Equal(t, img.ID, img2.ID, "image ID seen from another Runtime")
		assert.Equal(t, 2, img2.Layers, "layers seen from another Runtime")
		assert.Equal(t, "1", img2.Labels["gen"], "label of the image seen from another Runtime")
	}
	assert.Equal(t, "data\n", sh(t, ctx, b, "snap/p:1", "cat /work/f").stdout, "committed file run from another Runtime")
	// b commits a's container too.
	_, err = b.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/p:2", Squash: true})
	assert.NoError(t, err, "commit from another Runtime")
	_, err = a.InspectImage(ctx, "snap/p:2")
	assert.NoError(t, err, "image made by b, seen by a")
}

func TestPersistRemoveElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	c, err := a.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo ready; sleep 30"}})
	require.NoError(t, err)
	waitOutput(t, ctx, b, c.ID, "ready")
	got, _ := b.InspectContainer(ctx, c.ID)
	require.Equal(t, runtime.StateRunning, got.State, "state seen by b")
	// a's Wait returns once b removed the container and a noticed.
	waited := make(chan error, 1)
	go func() {
		_, err := a.Wait(ctx, c.ID)
		waited <- err
	}()
	require.NoError(t, b.Remove(ctx, c.ID))
	assert.ErrorIs(t, <-waited, runtime.ErrNotFound, "a's Wait after b removed the container")
	for _, rt := range []*fake.Runtime{a, b} {
		_, err := rt.InspectContainer(ctx, c.ID)
		assert.ErrorIs(t, err, runtime.ErrNotFound, "InspectContainer after Remove")
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
		require.NoError(t, err)
		waitOutput(t, ctx, b, c.ID, "ready")
		require.NoError(t, b.Stop(ctx, c.ID, runtime.StopOptions{Grace: 200 * time.Millisecond}))
		got, _ := b.InspectContainer(ctx, c.ID)
		assert.Equal(t, runtime.StateExited, got.State, "state after a Stop from b")
		st, _ := a.Wait(ctx, c.ID)
		assert.Equal(t, tc.want, st.ExitCode, "%q stopped from b", tc.script)
	}
}

func TestPersistFollowElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, ctx := newRuntime(t, fake.WithStateDir(dir))
	b := fake.New(fake.WithStateDir(dir))
	defer b.Close()
	c, err := a.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo a; sleep 0.1; echo b >&2; exit 2"}})
	require.NoError(t, err)
	var out, errb bytes.Buffer
	require.NoError(t, b.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errb))
	assert.Equal(t, "a\n", out.String(), "stdout followed from b")
	assert.Equal(t, "b\n", errb.String(), "stderr followed from b")
	st, err := b.Wait(ctx, c.ID)
	if assert.NoError(t, err, "Wait from b") {
		assert.Equal(t, 2, st.ExitCode, "exit status from b")
	}
}

func TestPersistBadDir(t *testing.T) {
	f := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	rt := fake.New(fake.WithStateDir(f))
	assert.ErrorIs(t, rt.Ping(context.Background()), runtime.ErrUnavailable, "Ping with an unusable state dir")
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
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "helper")
	id := strings.TrimSpace(strings.TrimPrefix(line, "container "))
	got, err := rt.InspectContainer(ctx, id)
	require.NoError(t, err, "container of the helper")
	assert.Equal(t, runtime.StateRunning, got.State, "state while the helper runs it")
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &ee, "the helper's end")
	require.Equal(t, fake.CrashExitCode, ee.ExitCode(), "the helper's exit status")
	st, err := rt.Wait(ctx, id)
	if assert.NoError(t, err, "Wait for a container whose process died") {
		assert.Equal(t, 137, st.ExitCode, "exit code of a container whose process died")
		assert.NotEmpty(t, st.Error, "error of a container whose process died")
	}
	got, _ = rt.InspectContainer(ctx, id)
	assert.Equal(t, runtime.StateExited, got.State, "state after the helper died")
	assert.NoError(t, rt.Stop(ctx, id, runtime.StopOptions{Grace: time.Second}), "Stop")
	assert.NoError(t, rt.Remove(ctx, id), "Remove")
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
		_, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: next})
		require.NoError(b, err)
		require.NoError(b, rt.Remove(ctx, r.id))
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
		require.NoError(t, err)
		require.Equal(t, i+2, img.Layers, "layers at cycle %d", i)
		require.NoError(t, rt.Remove(ctx, r.id))
		ref = next
	}
	r := sh(t, ctx, rt, ref, "wc -l /work/log")
	assert.Equal(t, fmt.Sprintf("%d /work/log\n", n), r.stdout, "lines after %d cycles", n)
}
