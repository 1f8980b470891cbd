package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commandTimeout bounds one berth command.
const commandTimeout = 5 * time.Minute

// suite is one runtime's run of the scenario.
type suite struct {
	tg target
	// tarball is the base image archive; base the reference it is
	// imported under (unique to this run).
	tarball, base string
	// projects are the projects of every step, checked for leftovers.
	projects []string
}

// env is one step of the scenario: its own state directory, project and
// config file.
type env struct {
	t        *testing.T
	s        *suite
	dir      string
	stateDir string
	project  string
	config   string // BERTH_CONFIG ("" for none)
	drv      *wire.Driver
}

// output is what a berth command did.
type output struct {
	code           int
	stdout, stderr string
}

func (o output) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
}

func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newEnv prepares a step: a fresh state directory and project, and the
// base image imported with berth itself.
func (s *suite) newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, s: s, dir: dir, stateDir: filepath.Join(dir, "state"), project: "e2e-" + randomID()}
	s.projects = append(s.projects, e.project)
	t.Cleanup(func() {
		if e.drv != nil {
			e.drv.Close()
		}
	})
	t.Cleanup(e.leftovers)
	out := e.berth("images", "import", "--runtime", s.tg.name, "--ref", s.base, s.tarball)
	require.Equal(t, 0, out.code, "exit code of images import: %v", out)
	return e
}

// environ is the environment of berth commands: no BERTH_* or user config
// from outside, the step's state directory and the runtime under test.
func (e *env) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "BERTH_STATE_DIR="+e.stateDir, "BERTH_RUNTIME="+e.s.tg.name,
		"XDG_CONFIG_HOME="+filepath.Join(e.dir, "xdg"))
	if e.config != "" {
		env = append(env, "BERTH_CONFIG="+e.config)
	}
	return env
}

func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "berth"), args...)
	cmd.Env = e.environ()
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// berth runs a berth command to its end.
func (e *env) berth(args ...string) output {
	e.t.Helper()
	out, err := e.exec(args...)
	require.NoError(e.t, err, "run berth to its end")
	return out
}

// exec runs a berth command to its end; unlike berth, it may be called
// from any goroutine. The error says berth could not be run or waited for.
func (e *env) exec(args ...string) (output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return output{}, fmt.Errorf("berth %s: %v", strings.Join(args, " "), err)
	}
	return output{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}, nil
}

// writeConfig makes the step's berth commands read a config file.
func (e *env) writeConfig(yaml string) {
	e.t.Helper()
	e.config = filepath.Join(e.dir, "berth.yaml")
	require.NoError(e.t, os.WriteFile(e.config, []byte(yaml), 0o644), "write the config file")
}

// runArgs are the arguments of berth run --json of script in the step's
// project, with work item w ("" for none) and extra flags.
func (e *env) runArgs(w string, extra []string, script string) []string {
	args := []string{"run", "--json", "--image", e.s.base, "--project", e.project}
	if w != "" {
		args = append(args, "--work-item", w)
	}
	args = append(args, extra...)
	return append(args, "--", "sh", "-c", script)
}

// run runs script with berth run --json and returns the result. The job's
// output is in out.stderr.
func (e *env) run(w string, extra []string, script string) (core.Result, output) {
	e.t.Helper()
	out := e.berth(e.runArgs(w, extra, script)...)
	var res core.Result
	require.NoError(e.t, json.Unmarshal([]byte(out.stdout), &res), "berth run --json: want a result on stdout: %v", out)
	return res, out
}

// mustRun runs script and requires exit code 0.
func (e *env) mustRun(w string, script string) core.Result {
	e.t.Helper()
	res, out := e.run(w, nil, script)
	require.Equal(e.t, exits{0, 0}, exits{out.code, res.ExitCode}, "run %q: %v", script, out)
	return res
}

// snapshots returns berth snapshots ls --json for the step's project.
func (e *env) snapshots() []core.Snapshot {
	e.t.Helper()
	out := e.berth("snapshots", "ls", "--json", "--project", e.project)
	require.Equal(e.t, 0, out.code, "exit code of snapshots ls: %v", out)
	var snaps []core.Snapshot
	err := json.Unmarshal([]byte(out.stdout), &snaps)
	if err == nil && snaps == nil {
		err = errors.New("null")
	}
	require.NoError(e.t, err, "snapshots ls --json: want a JSON array on stdout: %v", out)
	return snaps
}

// driver opens the runtime's driver as berth does, to look at the engine
// directly.
func (e *env) driver() runtime.Runtime {
	e.t.Helper()
	if e.drv != nil {
		return e.drv
	}
	opts := maps.Clone(e.s.tg.options)
	if opts == nil {
		opts = map[string]string{}
	}
	if e.s.tg.module == "" {
		opts["state_dir"] = filepath.Join(e.stateDir, "fake")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{Path: filepath.Join(binDir, "berth-driver-"+e.s.tg.name), Options: opts, Logger: quiet})
	require.NoError(e.t, err, "open the driver")
	e.drv = d
	return d
}

// quiet logs only the warnings of the drivers the tests open.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// managed returns the filter of what berth made for project.
func managed(project string) runtime.LabelFilter {
	return runtime.LabelFilter{core.LabelManagedBy: core.ManagedBy, core.LabelProject: project}
}

// containers lists the containers berth made for the step's project.
func (e *env) containers() []runtime.Container {
	e.t.Helper()
	cs, err := e.driver().ListContainers(context.Background(), managed(e.project))
	require.NoError(e.t, err, "ListContainers")
	return cs
}

// images lists the images berth made for the step's project.
func (e *env) images() []runtime.Image {
	e.t.Helper()
	imgs, err := e.driver().ListImages(context.Background(), managed(e.project))
	require.NoError(e.t, err, "ListImages")
	return imgs
}

// noContainers fails the step if a container of its project is left.
func (e *env) noContainers() {
	e.t.Helper()
	assert.Empty(e.t, e.containers(), "containers of the step's project left behind")
}

// leftovers removes the step's snapshots with berth, then fails the step
// if the engine still holds a container or image of its project (and
// removes them, to leave the engine clean).
func (e *env) leftovers() {
	e.noStrays()
	e.config = ""
	if _, err := os.Stat(e.stateDir); err == nil {
		seen := map[string]bool{}
		for _, s := range e.snapshots() {
			if !seen[s.WorkItem] {
				seen[s.WorkItem] = true
				out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", s.WorkItem)
				assert.Equal(e.t, 0, out.code, "exit code of snapshots rm --work-item %s: %v", s.WorkItem, out)
			}
		}
	}
	ctx := context.Background()
	var left []string
	for _, c := range e.containers() {
		left = append(left, fmt.Sprintf("%s %s %v", c.ID, c.State, c.Labels))
		_ = e.driver().Remove(ctx, c.ID)
	}
	assert.Empty(e.t, left, "containers left behind (removed now)")
	imgs := e.images()
	// Newest first: a generation's parent goes after it.
	slices.SortFunc(imgs, func(a, b runtime.Image) int { return b.Created.Compare(a.Created) })
	left = nil
	for _, img := range imgs {
		left = append(left, fmt.Sprintf("%s %v %v", img.ID, img.Refs, img.Labels))
		_ = e.driver().RemoveImage(ctx, img.ID)
	}
	assert.Empty(e.t, left, "images left behind (removed now)")
}

// oneLine checks that stderr is exactly one non-empty line that mentions
// each of words.
func oneLine(t *testing.T, out output, words ...string) {
	t.Helper()
	line, rest, _ := strings.Cut(out.stderr, "\n")
	assert.True(t, strings.TrimSpace(line) != "" && rest == "", "want stderr to be one non-empty line, got %q", out.stderr)
	for _, w := range words {
		assert.Contains(t, line, w, "the line on stderr names %q", w)
	}
}

// exits are the exit codes of berth and of its job (in its --json result).
type exits struct{ Berth, Job int }

// workItems returns the work item of each snapshot.
func workItems(snaps []core.Snapshot) []string {
	var items []string
	for _, s := range snaps {
		items = append(items, s.WorkItem)
	}
	return items
}

// generationsOf returns the generation of each snapshot.
func generationsOf(snaps []core.Snapshot) []int {
	var gens []int
	for _, s := range snaps {
		gens = append(gens, s.Generation)
	}
	return gens
}

// imageIDs returns the ID of each image.
func imageIDs(imgs []runtime.Image) []string {
	var ids []string
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	return ids
}

// idOf is the ID of an image InspectImage returned, or its error: what an
// image ID is compared with.
func idOf(img runtime.Image, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return img.ID
}
