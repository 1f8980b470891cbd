package api_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/api/apitest"
	"github.com/berth-dev/berth/core"
)

// api.gen.go is what oapi-codegen makes of openapi.yaml now (make api
// regenerates it).
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs oapi-codegen (builds it on first use)")
	}
	out := filepath.Join(t.TempDir(), "api.gen.go")
	cmd := exec.Command("bash", "gen.sh", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "gen.sh: %s", b)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	have, err := os.ReadFile("api.gen.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(have), "api.gen.go is stale: run make api")
}

func TestDocumentIsValid(t *testing.T) {
	c := apitest.New(t)
	assert.Equal(t, "3.1.0", c.Doc.OpenAPI)
	j, err := api.OpenAPIJSON()
	require.NoError(t, err)
	var fromJSON, fromYAML map[string]any
	require.NoError(t, json.Unmarshal(j, &fromJSON))
	y, err := json.Marshal(c.Doc)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(y, &fromYAML))
	assert.Equal(t, slices.Sorted(mapsKeys(fromYAML["paths"])), slices.Sorted(mapsKeys(fromJSON["paths"])),
		"the JSON form has the document's paths")
}

func mapsKeys(v any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range v.(map[string]any) {
			if !yield(k) {
				return
			}
		}
	}
}

// jsonFields lists the JSON names of t's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && f.IsExported() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// properties lists the properties of the document's schema name.
func properties(t *testing.T, name string) []string {
	s := apitest.New(t).Doc.Components.Schemas[name]
	require.NotNil(t, s, "schema %s", name)
	out := slices.Collect(func(yield func(string) bool) {
		for k := range s.Value.Properties {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(out)
	return out
}

// The document's names are those of berth run --json, berth snapshots ls
// --json and berth gc --json: the core's JSON, field for field.
func TestDocumentNamesAreTheCores(t *testing.T) {
	for schema, typ := range map[string]reflect.Type{
		"Snapshot":     reflect.TypeFor[core.Snapshot](),
		"SweepReport":  reflect.TypeFor[core.SweepReport](),
		"CommitResult": reflect.TypeFor[core.CommitResult](),
		"Durations":    reflect.TypeFor[core.Durations](),
		"GCRun":        reflect.TypeFor[core.SweepRun](),
	} {
		assert.Equal(t, jsonFields(typ), properties(t, schema), "schema %s and %s", schema, typ)
	}
	job := properties(t, "Job")
	for _, f := range jsonFields(reflect.TypeFor[core.Result]()) {
		assert.Contains(t, job, f, "every field of core.Result is a Job property")
	}
	var states []string
	for _, v := range apitest.New(t).Doc.Components.Schemas["JobState"].Value.Enum {
		states = append(states, v.(string))
	}
	assert.ElementsMatch(t, []string{string(core.JobQueued), string(core.JobRunning), string(core.JobExited),
		string(core.JobFailed), string(core.JobCancelled)}, states, "the job states")
	var types []string
	for _, v := range apitest.New(t).Doc.Components.Schemas["Event"].Value.Properties["type"].Value.Enum {
		types = append(types, v.(string))
	}
	assert.ElementsMatch(t, []string{string(core.EventJobQueued), string(core.EventJobStarted), string(core.EventJobCommitting), string(core.EventJobExited),
		string(core.EventSnapshotCommitted), string(core.EventSnapshotEvicted), string(core.EventGCDone)}, types, "the event types")
	var triggers []string
	for _, v := range apitest.New(t).Doc.Components.Schemas["GCRun"].Value.Properties["trigger"].Value.Enum {
		triggers = append(triggers, v.(string))
	}
	assert.ElementsMatch(t, []string{string(core.SweepOnTimer), string(core.SweepOnRequest)}, triggers, "the gc triggers")
}

// The descriptions of a job's snapshot_reason and of a commit's reason
// list the core's reasons, every one of them.
func TestDocumentListsTheCoresReasons(t *testing.T) {
	schemas := apitest.New(t).Doc.Components.Schemas
	why := schemas["Job"].Value.Properties["snapshot_reason"].Value.Description
	for _, r := range []core.SnapshotReason{core.ReasonHit, core.ReasonDisabled, core.ReasonNoWorkItem,
		core.ReasonNone, core.ReasonExpired, core.ReasonBaseChanged, core.ReasonImageGone,
		core.ReasonLayerLimit, core.ReasonPullFailed} {
		assert.Regexp(t, `[(, ]`+regexp.QuoteMeta(string(r))+`[,)]`, why, "snapshot_reason lists %s", r)
	}
	whyNot := schemas["CommitResult"].Value.Properties["reason"].Value.Description
	for _, r := range []core.NoCommitReason{core.NoCommitNoWorkItem, core.NoCommitDisabled,
		core.NoCommitCancelled, core.NoCommitTimeout, core.NoCommitWaitError, core.NoCommitOOM,
		core.NoCommitExitCode, core.NoCommitNotSupported, core.NoCommitLayerLimit,
		core.NoCommitSuperseded, core.NoCommitUnchanged} {
		assert.Regexp(t, `[(, ]`+regexp.QuoteMeta(string(r))+`[,)]`, whyNot, "the commit's reason lists %s", r)
	}
}

func TestProblemKind(t *testing.T) {
	assert.Equal(t, "queue-timeout", api.ProblemKind(api.ProblemType("queue-timeout")))
	assert.Equal(t, "", api.ProblemKind("about:blank"))
}
