package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The keys of the secret environment of the secret steps: one given with
// --secret-env, one given with --env and named in never_commit_env.
const secretKey, neverKey = "E2E_SECRET", "E2E_NEVER"

// secretCheck is a job script that needs both values and prints neither.
const secretCheck = `test -n "$` + secretKey + `" && test -n "$` + neverKey + `"`

// secrets are the values a secret step must never find: unique random
// strings, given to jobs only through their secret environment. plain, if
// set, is a control given as plain env, which a search must find where an
// image config is (else the search proves nothing).
type secrets struct{ secret, never, plain string }

// control marks the findings of the plain value.
const control = "plain --env (the control)"

func newSecrets() secrets {
	return secrets{secret: "e2e-secret-" + randomID() + randomID(), never: "e2e-never-" + randomID() + randomID()}
}

// flags give a job both values.
func (s secrets) flags() []string {
	return []string{"--secret-env", secretKey + "=" + s.secret, "--env", neverKey + "=" + s.never}
}

// find returns where in data, named what, either value is found.
func (s secrets) find(what string, data []byte) []string {
	var found []string
	for _, v := range []struct{ kind, value string }{{"--secret-env", s.secret}, {"never_commit_env", s.never}, {control, s.plain}} {
		if v.value == "" {
			continue
		}
		if i := bytes.Index(data, []byte(v.value)); i >= 0 {
			lo, hi := max(i-80, 0), min(i+len(v.value)+80, len(data))
			found = append(found, fmt.Sprintf("%s: the %s value at byte %d: %q", what, v.kind, i, data[lo:hi]))
		}
	}
	return found
}

// findAll searches data and, when it is gzip-compressed, its decompressed
// bytes.
func (s secrets) findAll(what string, data []byte) []string {
	found := s.find(what, data)
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return append(found, fmt.Sprintf("%s: gzip: %v", what, err))
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			return append(found, fmt.Sprintf("%s: gunzip: %v", what, err))
		}
		found = append(found, s.find(what+" (gunzipped)", plain)...)
	}
	return found
}

// findInDir searches every file under dir (the SQLite database, its WAL,
// lock files, a driver's files: every byte), returning what it found and
// how many bytes it read.
func (s secrets) findInDir(t *testing.T, dir string) (found []string, n int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += int64(len(data))
		found = append(found, s.findAll(path, data)...)
		return nil
	})
	require.NoError(t, err, "read every file under %s", dir)
	return found, n
}

// findInArchive searches an image archive (docker save, podman save, ctr
// export): every byte of the file, then every entry, gunzipped when
// compressed (layers and configs alike).
func (s secrets) findInArchive(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "read the image archive")
	found := s.findAll(path, data)
	tr := tar.NewReader(bytes.NewReader(data))
	entries := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "read the entries of the archive %s", path)
		entry, err := io.ReadAll(tr)
		require.NoError(t, err, "read the entry %s of the archive %s", h.Name, path)
		entries++
		found = append(found, s.findAll(path+":"+h.Name, entry)...)
	}
	assert.NotZero(t, entries, "entries of the archive %s", path)
	return found
}

// secretsNeverShown (issue 11, item 7): whatever a job does (success and
// commit, failure, timeout, cancel, bad input), no output of berth, no
// --json result, metric, log line (berth's and its driver's, at debug
// level) and no byte of the state directory holds a secret value.
func secretsNeverShown(t *testing.T, e *env) {
	const w = "item-secret"
	sec := newSecrets()
	e.writeConfig("job:\n  stop_grace: 1s\nsnapshots:\n  never_commit_env: [" + neverKey + "]\n")
	metrics := filepath.Join(e.dir, "metrics.prom")
	global := []string{"--log-level", "debug", "--metrics-file", metrics}
	runArgs := func(asJSON bool, extra ...string) []string {
		args := append([]string{"run"}, global...)
		if asJSON {
			args = append(args, "--json")
		}
		args = append(args, "--image", e.s.base, "--project", e.project, "--work-item", w)
		return append(append(args, sec.flags()...), extra...)
	}
	var found []string
	look := func(what string, out output) {
		found = append(found, sec.find(what+": stdout", []byte(out.stdout))...)
		found = append(found, sec.find(what+": stderr", []byte(out.stderr))...)
	}

	for _, c := range []struct {
		what   string
		asJSON bool
		extra  []string
		script string
		want   int
	}{
		{"success", true, nil, secretCheck + "; echo 1 > /work/ok", 0},
		{"success from the snapshot", false, nil, secretCheck + "; echo 2 > /work/ok", 0},
		{"failure", true, nil, secretCheck + "; exit 3", 3},
		{"timeout", true, []string{"--timeout", "1s"}, secretCheck + "; sleep 30", 124},
	} {
		out := e.berth(append(runArgs(c.asJSON, c.extra...), "--", "sh", "-c", c.script)...)
		assert.Equal(t, c.want, out.code, "exit code of the %s: %v", c.what, out)
		look(c.what, out)
	}
	assert.Len(t, e.snapshots(), 1, "snapshots after the jobs: want the successful jobs' one")

	r := e.start(t.Context(), append(runArgs(false), "--", "sh", "-c", secretCheck+" && echo started; sleep 30"), nil)
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt), "interrupt berth")
	assert.Equal(t, 130, r.wait(t), "exit code of the cancelled run; stderr %q", r.stderr)
	look("cancel", output{stdout: r.stdout.String(), stderr: r.stderr.String()})

	for _, c := range []struct {
		what  string
		extra []string
	}{
		{"secret env with an empty key", []string{"--secret-env", "=" + sec.secret}},
		{"secret env whose key has a space", []string{"--secret-env", "BAD KEY=" + sec.secret}},
		{"secret env whose key has a tab", []string{"--secret-env", "BAD\tKEY=" + sec.secret}},
		{"env without =", []string{"--env", "NOEQUALS"}},
		{"unknown runtime", []string{"--runtime", "nosuch"}},
		{"malformed memory", []string{"--memory", "12q"}},
		{"malformed timeout", []string{"--timeout", "soon"}},
		{"unknown flag", []string{"--bogus"}},
		{"image not in the engine", []string{"--image", "berth-e2e/missing:" + randomID()}},
	} {
		out := e.berth(append(runArgs(true, c.extra...), "--", "sh", "-c", secretCheck)...)
		assert.Equal(t, 125, out.code, "exit code of bad input, %s: %v", c.what, out)
		look("bad input, "+c.what, out)
	}

	look("gc", e.berth(append(global, "gc", "--json", "--orphan-grace", "0s")...))
	look("snapshots ls", e.berth(append(global, "snapshots", "ls", "--json")...))

	m, err := os.ReadFile(metrics)
	assert.True(t, err == nil && bytes.Contains(m, []byte("berth_")), "metrics file %s: want berth's counters, got %q (read error: %v)", metrics, m, err)
	found = append(found, sec.find("metrics file", m)...)
	inState, n := sec.findInDir(t, e.stateDir)
	found = append(found, inState...)
	t.Logf("searched the output of 16 berth commands, the metrics file and %d bytes of the state directory", n)
	assert.Empty(t, found, "places where a secret value is found")
	e.noContainers()
}

// secretsNotInImages (issue 11, item 9): no byte of any image berth
// leaves in the engine holds a secret value: snapshots of several
// generations, one of them squashed (a low layer limit), and every image
// with berth's labels the engine lists, untagged ones included. The images
// are saved with the engine's own command (or, for containerd, exported
// and its whole content store read; for the fake, its state read) and
// searched, layers decompressed.
func secretsNotInImages(t *testing.T, e *env) {
	const w, runs = "item-secret-images", 5
	sec := newSecrets()
	e.writeConfig("snapshots:\n  layer_limit: 3\n  never_commit_env: [" + neverKey + "]\n")
	sec.plain = "e2e-plain-" + randomID() + randomID()
	squashed := false
	for i := 1; i <= runs; i++ {
		flags := sec.flags()
		if i == runs {
			flags = append(flags, "--env", "E2E_PLAIN="+sec.plain) // kept in the last image's config
		}
		res, out := e.run(w, flags, fmt.Sprintf("%s && echo %d > /work/g%d", secretCheck, i, i))
		require.True(t, out.code == 0 && res.Commit.Committed, "run %d: want exit code 0 and a commit, got commit %+v: %v", i, res.Commit, out)
		squashed = squashed || res.Commit.Squashed
	}
	assert.True(t, squashed, "want a squash in %d generations with a layer limit of 3, got none", runs)
	// A failed job and a killed one: their containers held the values too.
	_, out := e.run(w, sec.flags(), secretCheck+" && exit 3")
	assert.Equal(t, 3, out.code, "exit code of the failing run: %v", out)
	r := e.start(t.Context(), append([]string{"run", "--image", e.s.base, "--project", e.project, "--work-item", w},
		append(sec.flags(), "--", "sh", "-c", secretCheck+" && echo started; sleep 300")...), nil)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL), "kill berth")
	r.wait(t)
	e.sweep("--orphan-grace", "0s")

	imgs := e.images()
	require.NotEmpty(t, imgs, "images of the step's project: else nothing to search")
	var found []string
	for _, img := range imgs {
		found = append(found, sec.find("image config env of "+img.ID, []byte(strings.Join(img.Env, "\n")))...)
	}
	var read int64
	if c := e.s.tg.cli; c != nil {
		var names []string
		for _, img := range imgs {
			if c.kind == "ctr" {
				names = append(names, img.Refs...)
			} else {
				names = append(names, img.ID)
			}
		}
		names = append(names, c.images(t, core.LabelProject, e.project)...)
		for i, n := range names {
			names[i] = strings.TrimPrefix(n, "sha256:") // an ID, with or without the prefix
		}
		slices.Sort(names)
		names = slices.Compact(names)
		archive := filepath.Join(t.TempDir(), "images.tar")
		c.save(t, archive, names)
		found = append(found, sec.findInArchive(t, archive)...)
		if fi, err := os.Stat(archive); err == nil {
			read += fi.Size()
		}
		t.Logf("saved %d images of the project (%s)", len(names), strings.Join(names, " "))
		if c.contentStore != "" {
			inStore, n := sec.findInDir(t, c.contentStore)
			found = append(found, inStore...)
			read += n
		}
	} else {
		// The fake keeps its images (layers and configs) in its state
		// directory, inside berth's.
		inState, n := sec.findInDir(t, filepath.Join(e.stateDir, "fake"))
		found = append(found, inState...)
		read += n
	}
	t.Logf("searched %d bytes of images", read)
	controls := 0
	var leaks []string
	for _, f := range found {
		if strings.Contains(f, control) {
			controls++
			continue
		}
		leaks = append(leaks, f)
	}
	assert.Empty(t, leaks, "places where a secret value is found")
	assert.NotZero(t, controls, "findings of the plain env value of the last generation (none: the search cannot see image configs)")
}
