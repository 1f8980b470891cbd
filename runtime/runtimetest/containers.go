package runtimetest

import (
	"slices"

	"github.com/berth-dev/berth/runtime"
)

// containerCases check ListContainers and the validation of Run.
var containerCases = []testCase{
	{"ListByLabel", testListContainers},
	{"EmptyImage", testRunEmptyImage},
	{"BadEnv", testRunBadEnv},
	{"DuplicateName", testDuplicateName},
}

const roleKey = "io.berth.test.role"

// testListContainers checks the filter semantics: every key present, a
// non-empty value equal, an empty value matching any value.
func testListContainers(h *harness) {
	a := h.spec("true")
	a.Labels = h.labels(roleKey, "a")
	b := h.sh("echo ready; sleep 30")
	b.Labels = h.labels(roleKey, "b")
	idA := h.run(a).ID
	idB := h.run(b).ID
	idC := h.run(h.spec("true")).ID
	h.wait(idA)
	h.wait(idC)
	h.waitOutput(idB, "ready")

	for _, tc := range []struct {
		filter runtime.LabelFilter
		want   []string
	}{
		{h.labels(), []string{idA, idB, idC}},
		{h.labels(roleKey, ""), []string{idA, idB}},
		{h.labels(roleKey, "a"), []string{idA}},
		{h.labels(roleKey, "b"), []string{idB}},
		{h.labels(roleKey, "zzz"), nil},
		{h.labels("io.berth.test.absent", ""), nil},
		{runtime.LabelFilter{LabelKey: h.id + "-other"}, nil},
	} {
		cs, err := h.rt.ListContainers(h.ctx, tc.filter)
		if err != nil {
			h.t.Fatalf("ListContainers(%v): %v", tc.filter, err)
		}
		got := ids(cs)
		if !sameSet(got, tc.want) {
			h.t.Errorf("ListContainers(%v) = %v, want %v", tc.filter, got, tc.want)
		}
		for _, c := range cs {
			if !tc.filter.Match(c.Labels) {
				h.t.Errorf("ListContainers(%v) returned %s with labels %v", tc.filter, c.ID, c.Labels)
			}
			wantState := runtime.StateExited
			if c.ID == idB {
				wantState = runtime.StateRunning
			}
			if c.State != wantState {
				h.t.Errorf("ListContainers: %s state %q, want %q", c.ID, c.State, wantState)
			}
			if c.Image != h.base {
				h.t.Errorf("ListContainers: %s image %q, want %q", c.ID, c.Image, h.base)
			}
		}
	}
	all, err := h.rt.ListContainers(h.ctx, nil)
	if err != nil {
		h.t.Fatalf("ListContainers(nil): %v", err)
	}
	for _, id := range []string{idA, idB, idC} {
		if !slices.Contains(ids(all), id) {
			h.t.Errorf("ListContainers with an empty filter lacks %s", id)
		}
	}
}

// testRunEmptyImage checks that Run refuses a spec without image and
// leaves nothing behind.
func testRunEmptyImage(h *harness) {
	spec := h.spec("true")
	spec.Image = ""
	_, err := h.tryRun(spec)
	h.expect("Run with empty image", err, runtime.ErrInvalidArgument)
	h.expectNoContainers()
}

// testRunBadEnv checks that Run refuses an Env entry without '='.
func testRunBadEnv(h *harness) {
	spec := h.spec("true")
	spec.Env = []string{"NO_EQUALS_SIGN"}
	_, err := h.tryRun(spec)
	h.expect("Run with Env entry without '='", err, runtime.ErrInvalidArgument)
	spec = h.spec("true")
	spec.SecretEnv = []string{"=value"}
	_, err = h.tryRun(spec)
	h.expect("Run with SecretEnv entry without key", err, runtime.ErrInvalidArgument)
	h.expectNoContainers()
}

// testDuplicateName checks that a taken name is refused, whatever the
// state of the container holding it.
func testDuplicateName(h *harness) {
	spec := h.sh("echo ready; sleep 30")
	name := h.name("dup")
	spec.Name = name
	first := h.run(spec)
	h.waitOutput(first.ID, "ready")
	_, err := h.tryRun(spec)
	h.expect("Run with the name of a running container", err, runtime.ErrAlreadyExists)
	if err := h.rt.Stop(h.ctx, first.ID, runtime.StopOptions{Signal: "SIGKILL"}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	_, err = h.tryRun(spec)
	h.expect("Run with the name of an exited container", err, runtime.ErrAlreadyExists)
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	if err != nil {
		h.t.Fatalf("ListContainers: %v", err)
	}
	if got := ids(cs); len(got) != 1 || got[0] != first.ID {
		h.t.Errorf("ListContainers after refused duplicates = %v, want [%s]", got, first.ID)
	}
	if err := h.rt.Remove(h.ctx, first.ID); err != nil {
		h.t.Fatalf("Remove: %v", err)
	}
	spec = h.spec("true")
	spec.Name = name
	again := h.run(spec)
	if again.Name != spec.Name {
		h.t.Errorf("Run after the name was freed: Name %q, want %q", again.Name, spec.Name)
	}
}

// expectNoContainers fails the case if it has any container left.
func (h *harness) expectNoContainers() {
	h.t.Helper()
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	if err != nil {
		h.t.Fatalf("ListContainers: %v", err)
	}
	if len(cs) != 0 {
		h.t.Errorf("containers left behind: %v", ids(cs))
	}
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
