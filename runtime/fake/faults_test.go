package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestFailNth(t *testing.T) {
	rt, ctx := newRuntime(t)
	rt.FailNth(fake.OpCommit, 2, runtime.ErrUnavailable)
	rt.FailNth(fake.OpRun, 0, runtime.ErrConflict)
	if _, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("Run with an every-call fault: %v", err)
	}
	if cs, _ := rt.ListContainers(ctx, nil); len(cs) != 0 {
		t.Errorf("a faulted Run made a container")
	}
	rt.ClearFaults()
	rt.FailNth(fake.OpCommit, 2, runtime.ErrUnavailable)
	r := sh(t, ctx, rt, baseRef, "true")
	for i, want := range []error{nil, runtime.ErrUnavailable, nil} {
		_, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/f:" + string(rune('a'+i))})
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("commit call %d: %v, want %v", i+1, err, want)
		}
	}
	if _, err := rt.InspectImage(ctx, "snap/f:b"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("the failed commit made its image: %v", err)
	}
	if n := rt.Calls(fake.OpCommit); n != 3 {
		t.Errorf("Calls(commit) = %d, want 3", n)
	}
}

func TestFaultAfter(t *testing.T) {
	rt, ctx := newRuntime(t, fake.WithFaults(fake.Fault{Op: fake.OpCommit, Nth: 1, Err: runtime.ErrUnavailable, After: true}))
	r := sh(t, ctx, rt, baseRef, "true")
	if _, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/after:1"}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("commit with an after fault: %v", err)
	}
	if _, err := rt.InspectImage(ctx, "snap/after:1"); err != nil {
		t.Errorf("an after fault must let the commit happen: %v", err)
	}
}

func TestFaultHangWait(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	rt.HangNth(fake.OpWait, 1)
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := rt.Wait(wctx, c.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung Wait: %v, want DeadlineExceeded", err)
	}
	if st, err := rt.Wait(ctx, c.ID); err != nil || st.ExitCode != 0 {
		t.Errorf("second Wait: %+v, %v", st, err)
	}
}

func TestFaultHangExit(t *testing.T) {
	rt, ctx := newRuntime(t)
	rt.HangNth(fake.OpExit, 1)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo done"}})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, ctx, rt, c.ID, "done")
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := rt.Wait(wctx, c.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for a hung container: %v, want DeadlineExceeded", err)
	}
	if got, _ := rt.InspectContainer(ctx, c.ID); got.State != runtime.StateRunning {
		t.Errorf("hung container state %s", got.State)
	}
	if err := rt.Stop(ctx, c.ID, runtime.StopOptions{Grace: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if st, _ := rt.Wait(ctx, c.ID); st.ExitCode != 137 {
		t.Errorf("hung container after Stop: exit %d, want 137", st.ExitCode)
	}
	// The fault was for the first container only.
	if r := sh(t, ctx, rt, baseRef, "exit 2"); r.status.ExitCode != 2 {
		t.Errorf("second container: %+v", r)
	}
}

func TestParseFaults(t *testing.T) {
	faults, err := fake.ParseFaults("commit:2:unavailable, wait:1:crash,run:*:hang,remove:0:conflict-after,exit:3:hang")
	if err != nil {
		t.Fatal(err)
	}
	want := []fake.Fault{
		{Op: "commit", Nth: 2, Err: runtime.ErrUnavailable},
		{Op: "wait", Nth: 1, Crash: true},
		{Op: "run", Nth: 0, Hang: true},
		{Op: "remove", Nth: 0, Err: runtime.ErrConflict, After: true},
		{Op: "exit", Nth: 3, Hang: true},
	}
	if len(faults) != len(want) {
		t.Fatalf("got %d faults, want %d", len(faults), len(want))
	}
	for i := range want {
		if faults[i] != want[i] {
			t.Errorf("fault %d = %+v, want %+v", i, faults[i], want[i])
		}
		again, err := fake.ParseFaults(faults[i].String())
		if err != nil || len(again) != 1 || again[0] != faults[i] {
			t.Errorf("round trip of %s: %+v, %v", faults[i], again, err)
		}
	}
	for _, bad := range []string{"commit", "commit:x:unavailable", "nope:1:unavailable", "commit:1:nope", "exit:1:unavailable", "wait:1:hang-after"} {
		if _, err := fake.ParseFaults(bad); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("ParseFaults(%q): %v, want ErrInvalidArgument", bad, err)
		}
	}
	if faults, err := fake.ParseFaults(""); err != nil || len(faults) != 0 {
		t.Errorf("ParseFaults(\"\") = %v, %v", faults, err)
	}
	if _, err := fake.ParseFaults("*:1:nope"); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("ParseFaults(\"*:1:nope\"): %v, want ErrInvalidArgument", err)
	}
}

func TestEngineDownFault(t *testing.T) {
	faults, err := fake.ParseFaults("*:*:unavailable")
	if err != nil {
		t.Fatal(err)
	}
	rt := fake.New(fake.WithFaults(faults...))
	defer rt.Close()
	ctx := context.Background()
	if err := rt.Ping(ctx); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Ping: %v, want ErrUnavailable", err)
	}
	if _, err := rt.ListImages(ctx, nil); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("ListImages: %v, want ErrUnavailable", err)
	}
	if _, err := rt.Run(ctx, runtime.ContainerSpec{Image: "x", Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Run: %v, want ErrUnavailable", err)
	}
}
