package runtimetest

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		require.NoError(h.t, err, "ListContainers(%v)", tc.filter)
		assert.ElementsMatch(h.t, tc.want, ids(cs), "IDs ListContainers(%v) returned", tc.filter)
		for _, c := range cs {
			assert.True(h.t, tc.filter.Match(c.Labels), "ListContainers(%v) returned %s with labels %v", tc.filter, c.ID, c.Labels)
			wantState := runtime.StateExited
			if c.ID == idB {
				wantState = runtime.StateRunning
			}
			assert.Equal(h.t, wantState, c.State, "ListContainers(%v): state of %s", tc.filter, c.ID)
			assert.Equal(h.t, h.base, c.Image, "ListContainers(%v): image of %s", tc.filter, c.ID)
		}
	}
	all, err := h.rt.ListContainers(h.ctx, nil)
	require.NoError(h.t, err, "ListContainers(nil)")
	assert.Subset(h.t, ids(all), []string{idA, idB, idC}, "IDs ListContainers with an empty filter returned")
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
	require.NoError(h.t, h.rt.Stop(h.ctx, first.ID, runtime.StopOptions{Signal: "SIGKILL"}), "Stop(%s)", first.ID)
	_, err = h.tryRun(spec)
	h.expect("Run with the name of an exited container", err, runtime.ErrAlreadyExists)
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	require.NoError(h.t, err, "ListContainers")
	assert.Equal(h.t, []string{first.ID}, ids(cs), "IDs ListContainers returned after refused duplicates")
	require.NoError(h.t, h.rt.Remove(h.ctx, first.ID), "Remove(%s)", first.ID)
	spec = h.spec("true")
	spec.Name = name
	again := h.run(spec)
	assert.Equal(h.t, spec.Name, again.Name, "Name of the container Run after the name was freed")
}

// expectNoContainers fails the case if it has any container left.
func (h *harness) expectNoContainers() {
	h.t.Helper()
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	require.NoError(h.t, err, "ListContainers")
	assert.Empty(h.t, ids(cs), "containers left behind")
}
