package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/core"
)

// fork (issue 13): berth snapshots fork gives work item B the newest
// snapshot of work item A. B's next job runs warm and sees A's files; A's
// snapshot is untouched by B's commit and A's next job does not see B's
// change; B's image carries B's labels, so a gc keeps both; a work item
// without snapshot cannot be forked.
func fork(t *testing.T, e *env) {
	const a, b = "item-a", "item-b"
	src := e.mustRun(a, `echo from-a > /work/a`)
	require.True(t, src.Commit.Committed, "a's run: want a commit, got %+v", src.Commit)

	out := e.berth("snapshots", "fork", "--json", "--project", e.project, "--work-item", a, "--to-work-item", b)
	require.Equal(t, 0, out.code, "snapshots fork: %v", out)
	var sn core.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out.stdout), &sn), "snapshots fork --json: want a snapshot on stdout: %v", out)
	assert.Equal(t, b, sn.WorkItem, "the fork's work item")
	assert.Equal(t, e.project, sn.Project, "the fork's project")
	assert.Equal(t, 1, sn.Generation, "the fork's generation")
	assert.NotEqual(t, src.Commit.Image, sn.Image, "the fork's image reference")
	img, err := e.driver().InspectImage(t.Context(), sn.Image)
	require.NoError(t, err, "inspect the fork's image %s", sn.Image)
	assert.Equal(t, b, img.Labels[core.LabelWorkItem], "work item label of the fork's image")
	assert.Equal(t, "1", img.Labels[core.LabelGeneration], "generation label of the fork's image")

	res, run := e.run(b, nil, `cat /work/a; echo from-b >> /work/a; echo BERTH_SNAPSHOT=$BERTH_SNAPSHOT`)
	require.Equal(t, exits{0, 0}, exits{run.code, res.ExitCode}, "b's run: %v", run)
	assert.True(t, res.Hit, "b's run after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, sn.Image, res.Image, "image b's run started from")
	assert.Contains(t, run.stderr, "from-a\nBERTH_SNAPSHOT=1\n", "what b's run sees")
	require.True(t, res.Commit.Committed, "b's run: want a commit, got %+v", res.Commit)
	assert.Equal(t, 2, res.Commit.Generation, "b's commit after the fork")

	after, err := e.driver().InspectImage(t.Context(), src.Commit.Image)
	require.NoError(t, err, "a's image after b's commit")
	assert.Equal(t, src.Commit.ImageID, after.ID, "a's image after b's commit")
	res, run = e.run(a, nil, `cat /work/a`)
	require.Equal(t, exits{0, 0}, exits{run.code, res.ExitCode}, "a's run: %v", run)
	assert.True(t, res.Hit, "a's run after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, src.Commit.Image, res.Image, "image a's run started from")
	assert.NotContains(t, run.stderr, "from-b", "a's run sees b's change")

	gc := e.berth("gc", "--json")
	require.Equal(t, 0, gc.code, "gc: %v", gc)
	items := map[string]bool{}
	for _, s := range e.snapshots() {
		items[s.WorkItem] = true
	}
	assert.Equal(t, map[string]bool{a: true, b: true}, items, "work items with a snapshot after gc")

	none := e.berth("snapshots", "fork", "--project", e.project, "--work-item", "item-none", "--to-work-item", b)
	assert.Equal(t, 125, none.code, "fork of a work item without snapshot: %v", none)
	assert.Contains(t, none.stderr, "no snapshot of project", "fork of a work item without snapshot")
}
