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
	if out := e.berth("images", "import", "--runtime", s.tg.name, "--ref", s.base, s.tarball); out.code != 0 {
		t.Fatalf("images import: %v", out)
	}
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
	if err != nil {
		e.t.Fatal(err)
	}
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
	if err := os.WriteFile(e.config, []byte(yaml), 0o644); err != nil {
		e.t.Fatal(err)
	}
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
	if err := json.Unmarshal([]byte(out.stdout), &res); err != nil {
		e.t.Fatalf("berth run --json: stdout is no result (%v): %v", err, out)
	}
	return res, out
}

// mustRun runs script and requires exit code 0.
func (e *env) mustRun(w string, script string) core.Result {
	e.t.Helper()
	res, out := e.run(w, nil, script)
	if out.code != 0 || res.ExitCode != 0 {
		e.t.Fatalf("run %q: %v", script, out)
	}
	return res
}

// snapshots returns berth snapshots ls --json for the step's project.
func (e *env) snapshots() []core.Snapshot {
	e.t.Helper()
	out := e.berth("snapshots", "ls", "--json", "--project", e.project)
	if out.code != 0 {
		e.t.Fatalf("snapshots ls: %v", out)
	}
	var snaps []core.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snaps); err != nil || snaps == nil {
		e.t.Fatalf("snapshots ls --json: not a JSON array (%v): %v", err, out)
	}
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
	if err != nil {
		e.t.Fatalf("open driver: %v", err)
	}
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
	if err != nil {
		e.t.Fatalf("ListContainers: %v", err)
	}
	return cs
}

// images lists the images berth made for the step's project.
func (e *env) images() []runtime.Image {
	e.t.Helper()
	imgs, err := e.driver().ListImages(context.Background(), managed(e.project))
	if err != nil {
		e.t.Fatalf("ListImages: %v", err)
	}
	return imgs
}

// noContainers fails the step if a container of its project is left.
func (e *env) noContainers() {
	e.t.Helper()
	if cs := e.containers(); len(cs) != 0 {
		e.t.Errorf("containers left behind: %+v", cs)
	}
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
				if out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", s.WorkItem); out.code != 0 {
					e.t.Errorf("snapshots rm: %v", out)
				}
			}
		}
	}
	ctx := context.Background()
	for _, c := range e.containers() {
		e.t.Errorf("container left behind: %s %s %v", c.ID, c.State, c.Labels)
		_ = e.driver().Remove(ctx, c.ID)
	}
	imgs := e.images()
	// Newest first: a generation's parent goes after it.
	slices.SortFunc(imgs, func(a, b runtime.Image) int { return b.Created.Compare(a.Created) })
	for _, img := range imgs {
		e.t.Errorf("image left behind: %s %v %v", img.ID, img.Refs, img.Labels)
		_ = e.driver().RemoveImage(ctx, img.ID)
	}
}

// oneLine checks that stderr is exactly one non-empty line that mentions
// each of words.
func oneLine(t *testing.T, out output, words ...string) {
	t.Helper()
	line, rest, _ := strings.Cut(out.stderr, "\n")
	if strings.TrimSpace(line) == "" || rest != "" {
		t.Errorf("stderr is not one line: %q", out.stderr)
	}
	for _, w := range words {
		if !strings.Contains(line, w) {
			t.Errorf("stderr %q does not name %q", line, w)
		}
	}
}
