package fake_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestFailNth(t *testing.T) {
	rt, ctx := newRuntime(t)
	rt.FailNth(fake.OpCommit, 2, runtime.ErrUnavailable)
	rt.FailNth(fake.OpRun, 0, runtime.ErrConflict)
	_, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	require.ErrorIs(t, err, runtime.ErrConflict, "Run with an every-call fault")
	cs, _ := rt.ListContainers(ctx, nil)
	assert.Empty(t, cs, "containers after a faulted Run")
	rt.ClearFaults()
	rt.FailNth(fake.OpCommit, 2, runtime.ErrUnavailable)
	r := sh(t, ctx, rt, baseRef, "true")
	for i, want := range []error{nil, runtime.ErrUnavailable, nil} {
		_, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/f:" + string(rune('a'+i))})
		if want == nil {
			assert.NoError(t, err, "commit call %d", i+1)
		} else {
			assert.ErrorIs(t, err, want, "commit call %d", i+1)
		}
	}
	_, err = rt.InspectImage(ctx, "snap/f:b")
	assert.ErrorIs(t, err, runtime.ErrNotFound, "image of the failed commit")
	assert.Equal(t, 3, rt.Calls(fake.OpCommit), "Calls(commit)")
}

func TestFaultAfter(t *testing.T) {
	rt, ctx := newRuntime(t, fake.WithFaults(fake.Fault{Op: fake.OpCommit, Nth: 1, Err: runtime.ErrUnavailable, After: true}))
	r := sh(t, ctx, rt, baseRef, "true")
	_, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/after:1"})
	require.ErrorIs(t, err, runtime.ErrUnavailable, "commit with an after fault")
	_, err = rt.InspectImage(ctx, "snap/after:1")
	assert.NoError(t, err, "an after fault must let the commit happen")
}

func TestFaultHangWait(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	require.NoError(t, err)
	rt.HangNth(fake.OpWait, 1)
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = rt.Wait(wctx, c.ID)
	require.ErrorIs(t, err, context.DeadlineExceeded, "hung Wait")
	st, err := rt.Wait(ctx, c.ID)
	if assert.NoError(t, err, "second Wait") {
		assert.Equal(t, 0, st.ExitCode, "exit code at the second Wait")
	}
}

func TestFaultHangExit(t *testing.T) {
	rt, ctx := newRuntime(t)
	rt.HangNth(fake.OpExit, 1)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo done"}})
	require.NoError(t, err)
	waitOutput(t, ctx, rt, c.ID, "done")
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = rt.Wait(wctx, c.ID)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Wait for a hung container")
	got, _ := rt.InspectContainer(ctx, c.ID)
	assert.Equal(t, runtime.StateRunning, got.State, "state of the hung container")
	require.NoError(t, rt.Stop(ctx, c.ID, runtime.StopOptions{Grace: 10 * time.Millisecond}))
	st, _ := rt.Wait(ctx, c.ID)
	assert.Equal(t, 137, st.ExitCode, "exit code of the hung container after Stop")
	// The fault was for the first container only.
	r := sh(t, ctx, rt, baseRef, "exit 2")
	assert.Equal(t, 2, r.status.ExitCode, "second container: %+v", r)
}

func TestParseFaults(t *testing.T) {
	faults, err := fake.ParseFaults("commit:2:unavailable, wait:1:crash,run:*:hang,remove:0:conflict-after,exit:3:hang")
	require.NoError(t, err)
	want := []fake.Fault{
		{Op: "commit", Nth: 2, Err: runtime.ErrUnavailable},
		{Op: "wait", Nth: 1, Crash: true},
		{Op: "run", Nth: 0, Hang: true},
		{Op: "remove", Nth: 0, Err: runtime.ErrConflict, After: true},
		{Op: "exit", Nth: 3, Hang: true},
	}
	require.Equal(t, want, faults)
	for i := range want {
		again, err := fake.ParseFaults(faults[i].String())
		if assert.NoError(t, err, "round trip of %s", faults[i]) {
			assert.Equal(t, faults[i:i+1], again, "round trip of %s", faults[i])
		}
	}
	for _, bad := range []string{"commit", "commit:x:unavailable", "nope:1:unavailable", "commit:1:nope", "exit:1:unavailable", "wait:1:hang-after", "*:1:nope"} {
		_, err := fake.ParseFaults(bad)
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "ParseFaults(%q)", bad)
	}
	faults, err = fake.ParseFaults("")
	if assert.NoError(t, err, `ParseFaults("")`) {
		assert.Empty(t, faults, `ParseFaults("")`)
	}
}

func TestEngineDownFault(t *testing.T) {
	faults, err := fake.ParseFaults("*:*:unavailable")
	require.NoError(t, err)
	rt := fake.New(fake.WithFaults(faults...))
	defer rt.Close()
	ctx := context.Background()
	assert.ErrorIs(t, rt.Ping(ctx), runtime.ErrUnavailable, "Ping")
	_, err = rt.ListImages(ctx, nil)
	assert.ErrorIs(t, err, runtime.ErrUnavailable, "ListImages")
	_, err = rt.Run(ctx, runtime.ContainerSpec{Image: "x", Cmd: []string{"true"}})
	assert.ErrorIs(t, err, runtime.ErrUnavailable, "Run")
}
