package fake

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// The operations faults can target: one per method of runtime.Runtime, in
// lower case, plus OpExit, the exit of a container's script.
const (
	OpInfo             = "info"
	OpPing             = "ping"
	OpInspectImage     = "inspectimage"
	OpPullImage        = "pullimage"
	OpLoadImage        = "loadimage"
	OpRemoveImage      = "removeimage"
	OpListImages       = "listimages"
	OpRun              = "run"
	OpWait             = "wait"
	OpStop             = "stop"
	OpLogs             = "logs"
	OpCommit           = "commit"
	OpCopyImage        = "copyimage"
	OpChanged          = "changed"
	OpPushImage        = "pushimage"
	OpPullDigest       = "pulldigest"
	OpRemove           = "remove"
	OpInspectContainer = "inspectcontainer"
	OpListContainers   = "listcontainers"
	// OpExit counts containers as they start; a Hang fault on it makes
	// that container run until stopped, whatever its script does.
	OpExit = "exit"
)

var ops = []string{
	OpInfo, OpPing, OpInspectImage, OpPullImage, OpLoadImage, OpRemoveImage, OpListImages,
	OpRun, OpWait, OpStop, OpLogs, OpCommit, OpCopyImage, OpChanged, OpPushImage, OpPullDigest, OpRemove, OpInspectContainer, OpListContainers, OpExit,
}

// CrashExitCode is the exit status of a process killed by a Crash fault.
const CrashExitCode = 3

// Fault makes call Nth (from 1; 0: every call) of operation Op fail in one
// way: return an error wrapping Err, Hang until its ctx is done (on
// OpExit: the container never exits by itself), or Crash the process with
// CrashExitCode, as a plugin dying mid-call. After fires Err or Crash once
// the operation took effect (a commit whose answer is lost, say).
type Fault struct {
	Op                 string
	Nth                int
	Err                error
	Hang, Crash, After bool
}

// faultErrors are the error classes ParseFaults knows.
var faultErrors = map[string]error{
	"notfound": runtime.ErrNotFound, "alreadyexists": runtime.ErrAlreadyExists,
	"invalidargument": runtime.ErrInvalidArgument, "failedprecondition": runtime.ErrFailedPrecondition,
	"notimplemented": runtime.ErrNotImplemented, "unavailable": runtime.ErrUnavailable, "conflict": runtime.ErrConflict,
}

// String formats f as ParseFaults reads it.
func (f Fault) String() string {
	n, kind := strconv.Itoa(f.Nth), "error"
	if f.Nth == 0 {
		n = "*"
	}
	for name, class := range faultErrors {
		if f.Err == class {
			kind = name
		}
	}
	if f.Hang {
		kind = "hang"
	} else if f.Crash {
		kind = "crash"
	}
	if f.After {
		kind += "-after"
	}
	return f.Op + ":" + n + ":" + kind
}

// ParseFaults reads comma-separated OP:N:KIND faults ("commit:2:unavailable,
// wait:1:crash"): OP an operation or "*" for all but OpExit (an engine that
// is down), N the call ("*" or 0: every call), KIND "hang", "crash" or an
// error class of faultErrors, maybe ending with "-after" (Fault.After).
func ParseFaults(spec string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("fake: fault %q: %s: %w", item, why, runtime.ErrInvalidArgument)
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, bad("want OP:N:KIND")
		}
		targets := []string{strings.ToLower(parts[0])}
		if targets[0] == "*" {
			targets = ops[:len(ops)-1] // every engine operation: all but OpExit
		} else if !slices.Contains(ops, targets[0]) {
			return nil, bad("unknown operation")
		}
		f := Fault{}
		if parts[1] != "*" {
			n, err := strconv.Atoi(parts[1])
			if err != nil || n < 0 {
				return nil, bad("bad call number")
			}
			f.Nth = n
		}
		kind, after := strings.CutSuffix(strings.ToLower(parts[2]), "-after")
		f.After, f.Hang, f.Crash, f.Err = after, kind == "hang", kind == "crash", faultErrors[kind]
		if !f.Hang && !f.Crash && f.Err == nil {
			return nil, bad("unknown kind")
		}
		for _, op := range targets {
			if f.Op = op; f.Hang && f.After || op == OpExit && !f.Hang {
				return nil, bad("unsupported combination")
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// hit counts a call of op and returns the faults it triggers, before and
// after it; calls some fault targets are counted in the state dir, if any.
func (r *Runtime) hit(op string) (before, after *Fault) {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	r.calls[op]++
	n := r.calls[op]
	if r.dir != "" && slices.ContainsFunc(r.faults, func(f Fault) bool { return f.Op == op }) {
		_ = r.update(func(st *state) error {
			st.Calls[op]++
			n = st.Calls[op]
			return nil
		})
	}
	for _, f := range r.faults {
		switch {
		case f.Op != op || f.Nth != 0 && f.Nth != n:
		case f.After && after == nil:
			after = &f
		case !f.After && before == nil:
			before = &f
		}
	}
	return before, after
}

// fire carries out fault f; it returns the error the call must return.
func (f *Fault) fire(ctx context.Context) error {
	switch {
	case f.Crash:
		fmt.Fprintf(os.Stderr, "fake: injected crash on %s\n", f)
		os.Exit(CrashExitCode)
	case f.Hang:
		<-ctx.Done()
		return fmt.Errorf("fake: injected hang on %s: %w", f, ctx.Err())
	}
	return fmt.Errorf("fake: injected fault %s: %w", f, f.Err)
}

// Inject adds faults to r.
func (r *Runtime) Inject(faults ...Fault) {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	r.faults = append(r.faults, faults...)
}

// FailNth makes the nth call (from 1, counting calls already made) of op
// return an error wrapping err.
func (r *Runtime) FailNth(op string, n int, err error) { r.Inject(Fault{Op: op, Nth: n, Err: err}) }

// HangNth makes the nth call of op block until its ctx is done. On OpExit,
// the nth container started never exits by itself.
func (r *Runtime) HangNth(op string, n int) { r.Inject(Fault{Op: op, Nth: n, Hang: true}) }

// CrashNth makes the nth call of op end the process (see Fault.Crash).
func (r *Runtime) CrashNth(op string, n int) { r.Inject(Fault{Op: op, Nth: n, Crash: true}) }

// ClearFaults removes every fault; call counts go on.
func (r *Runtime) ClearFaults() {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	r.faults = nil
}

// Calls returns how many calls of op this Runtime has seen.
func (r *Runtime) Calls(op string) int {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return r.calls[op]
}

// call0 is call for an operation that returns only an error.
func call0(ctx context.Context, r *Runtime, op string, body func() error) error {
	_, err := call(ctx, r, op, func() (struct{}, error) { return struct{}{}, body() })
	return err
}

// call runs the body of operation op between its faults.
func call[T any](ctx context.Context, r *Runtime, op string, body func() (T, error)) (T, error) {
	before, after := r.hit(op)
	if before != nil {
		var zero T
		return zero, before.fire(ctx)
	}
	v, err := body()
	if err == nil && after != nil {
		return v, after.fire(ctx)
	}
	return v, err
}
