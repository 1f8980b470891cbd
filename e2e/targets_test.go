package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/require"
)

// target is a runtime the scenario runs against: everything engine
// specific lives here, none of it in the scenario's steps.
type target struct {
	name string
	// module is the driver's own Go module (relative to the repository
	// root), built with tags; "" means the driver is built with berth.
	module, tags string
	// buildEnv is added to the environment of the driver's build.
	buildEnv []string
	// address is the engine's socket ("" for the fake, which needs none).
	address string
	// options are the driver options berth passes for this runtime by
	// default; the fake's state_dir is added per state directory.
	options map[string]string
	// down are driver options that make the engine unreachable.
	down map[string]string
	// cli is the engine's own command line, for what a user does beside
	// berth (tag, run, commit, save); nil for the fake, which has none.
	cli *engineCLI
}

// targets are the runtimes BERTH_E2E_RUNTIMES may name.
var targets = map[string]target{
	"fake": {
		name: "fake",
		down: map[string]string{"faults": "*:*:unavailable"}, // every engine call fails
	},
	"docker": {
		name: "docker", module: "plugins/docker",
		address: "unix:///var/run/docker.sock",
		options: map[string]string{"address": "unix:///var/run/docker.sock"},
		down:    map[string]string{"address": "unix:///nonexistent/docker.sock"},
		cli:     &engineCLI{kind: "docker", argv: []string{"docker", "-H", "unix:///var/run/docker.sock"}},
	},
	"podman": {
		name: "podman", module: "plugins/podman", tags: "remote containers_image_openpgp",
		buildEnv: []string{"CGO_ENABLED=0"},
		address:  "unix:///run/podman/podman.sock",
		options:  map[string]string{"address": "unix:///run/podman/podman.sock"},
		down:     map[string]string{"address": "unix:///nonexistent/podman.sock"},
		cli:      &engineCLI{kind: "docker", argv: []string{"podman", "--remote", "--url", "unix:///run/podman/podman.sock"}},
	},
	"containerd": {
		name: "containerd", module: "plugins/containerd",
		address: "/run/containerd/containerd.sock",
		options: map[string]string{"address": "/run/containerd/containerd.sock"},
		down:    map[string]string{"address": "/nonexistent/containerd.sock"},
		// The driver's default namespace (option "namespace") is "berth".
		cli: &engineCLI{kind: "ctr", argv: []string{"ctr", "--address", "/run/containerd/containerd.sock", "-n", "berth"},
			contentStore: "/var/lib/containerd/io.containerd.content.v1.content/blobs"},
	},
}

// engineCLI runs the engine's own command line, as a user working beside
// berth would.
type engineCLI struct {
	// kind is "docker" for the docker command grammar (Docker and
	// Podman), "ctr" for containerd's ctr.
	kind string
	// argv is the command with its global flags (socket, namespace).
	argv []string
	// contentStore is where the engine keeps image blobs on disk, read
	// directly ("" when saving images is enough).
	contentStore string
}

// cli runs the engine command with args and returns its standard output.
func (c *engineCLI) cli(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], append(slices.Clone(c.argv[1:]), args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", strings.Join(c.argv, " "), strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func (c *engineCLI) must(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := c.cli(args...)
	require.NoError(t, err, "the engine's command line")
	return out
}

// ref is r as the CLI takes it: ctr wants references fully qualified
// ("keep:x" is docker.io/library/keep:x, as the containerd driver stores it).
func (c *engineCLI) ref(r string) string {
	if c.kind != "ctr" {
		return r
	}
	first, _, ok := strings.Cut(r, "/")
	switch {
	case !ok:
		return "docker.io/library/" + r
	case strings.ContainsAny(first, ".:") || first == "localhost":
		return r
	}
	return "docker.io/" + r
}

// podman is true for the Podman CLI (its save needs -m for several images).
func (c *engineCLI) podman() bool { return c.argv[0] == "podman" }

// user does beside berth what a user of the engine does with berth's
// images: tag one, run a container from one, commit that container. It is
// the engine's own CLI or, for the fake (no CLI), its driver.
type user interface {
	// tag gives image src the reference dst; false when the runtime has no
	// way to.
	tag(t *testing.T, src, dst string) bool
	// runFrom runs script in a new container named name from image and
	// leaves the container (exited).
	runFrom(t *testing.T, image, name, script string)
	// commit commits the container named name to the image ref; false
	// when the runtime has no commit command (containerd).
	commit(t *testing.T, name, ref string) bool
	// hasContainer reports whether the container named name exists.
	hasContainer(t *testing.T, name string) bool
	// removeContainer and removeImage clean up after the user.
	removeContainer(name string) error
	removeImage(ref string) error
}

// user returns the user of the step's runtime.
func (e *env) user() user {
	if c := e.s.tg.cli; c != nil {
		return cliUser{c}
	}
	return fakeUser{e}
}

type cliUser struct{ c *engineCLI }

func (u cliUser) tag(t *testing.T, src, dst string) bool {
	t.Helper()
	if u.c.kind == "ctr" {
		u.c.must(t, "image", "tag", u.c.ref(src), u.c.ref(dst))
	} else {
		u.c.must(t, "tag", src, dst)
	}
	return true
}

func (u cliUser) runFrom(t *testing.T, image, name, script string) {
	t.Helper()
	if u.c.kind == "ctr" {
		// ctr run gives the container the image config's labels, as
		// docker run does; without --rm the container stays.
		u.c.must(t, "run", u.c.ref(image), name, "sh", "-c", script)
	} else {
		u.c.must(t, "run", "--name", name, image, "sh", "-c", script)
	}
}

func (u cliUser) commit(t *testing.T, name, ref string) bool {
	t.Helper()
	if u.c.kind == "ctr" {
		return false
	}
	u.c.must(t, "commit", name, ref)
	return true
}

func (u cliUser) hasContainer(t *testing.T, name string) bool {
	t.Helper()
	var out []byte
	if u.c.kind == "ctr" {
		out = u.c.must(t, "containers", "ls", "-q")
	} else {
		out = u.c.must(t, "ps", "-a", "--format", "{{.Names}}")
	}
	return slices.Contains(strings.Fields(string(out)), name)
}

func (u cliUser) removeContainer(name string) error {
	if u.c.kind == "ctr" {
		_, _ = u.c.cli("task", "rm", "-f", name) // none after ctr run; in case
		_, err := u.c.cli("containers", "rm", name)
		return err
	}
	_, err := u.c.cli("rm", "-f", name)
	return err
}

func (u cliUser) removeImage(ref string) error {
	if u.c.kind == "ctr" {
		_, err := u.c.cli("image", "rm", u.c.ref(ref))
		return err
	}
	_, err := u.c.cli("rmi", ref)
	return err
}

// fakeUser works the fake through its driver, as the engines' CLIs would:
// a container gets its image's labels, a commit keeps them. It tags with
// the fake's own Tag (not in the driver contract) on the state directory
// the driver shares.
type fakeUser struct{ e *env }

func (u fakeUser) tag(t *testing.T, src, dst string) bool {
	t.Helper()
	rt := fake.New(fake.WithStateDir(filepath.Join(u.e.stateDir, "fake")))
	defer rt.Close()
	require.NoError(t, rt.Tag(src, dst), "tag %s %s", src, dst)
	return true
}

func (u fakeUser) runFrom(t *testing.T, image, name, script string) {
	t.Helper()
	ctx, d := context.Background(), u.e.driver()
	img, err := d.InspectImage(ctx, image)
	require.NoError(t, err, "inspect %s", image)
	c, err := d.Run(ctx, runtime.ContainerSpec{Name: name, Image: image, Cmd: []string{"sh", "-c", script}, Labels: img.Labels})
	require.NoError(t, err, "run %s", image)
	st, err := d.Wait(ctx, c.ID)
	require.True(t, err == nil && st.ExitCode == 0, "container %s: want exit code 0, got %+v (wait error: %v)", name, st, err)
}

func (u fakeUser) commit(t *testing.T, name, ref string) bool {
	t.Helper()
	ctx, d := context.Background(), u.e.driver()
	c, err := d.InspectContainer(ctx, name)
	if err == nil {
		_, err = d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
	}
	require.NoError(t, err, "commit %s to %s", name, ref)
	return true
}

func (u fakeUser) hasContainer(t *testing.T, name string) bool {
	t.Helper()
	_, err := u.e.driver().InspectContainer(context.Background(), name)
	if err != nil {
		require.ErrorIs(t, err, runtime.ErrNotFound, "inspect container %s: want it or ErrNotFound", name)
	}
	return err == nil
}

func (u fakeUser) removeContainer(name string) error {
	ctx, d := context.Background(), u.e.driver()
	c, err := d.InspectContainer(ctx, name)
	if err != nil {
		return err
	}
	return d.Remove(ctx, c.ID)
}

func (u fakeUser) removeImage(ref string) error {
	return u.e.driver().RemoveImage(context.Background(), ref)
}

// images lists the IDs of every image whose config has the label k=v,
// untagged ones included (Docker and Podman keep a committed image's
// untagged parents); nil for containerd, where every image has a name and
// the content store is read instead.
func (c *engineCLI) images(t *testing.T, k, v string) []string {
	t.Helper()
	if c.kind == "ctr" {
		return nil
	}
	out := c.must(t, "images", "-a", "-q", "--no-trunc", "--filter", "label="+k+"="+v)
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return slices.Compact(ids)
}

// save writes the images (IDs for Docker and Podman, references for
// containerd) into one archive at path.
func (c *engineCLI) save(t *testing.T, path string, images []string) {
	t.Helper()
	switch {
	case c.kind == "ctr":
		args := []string{"image", "export", path}
		for _, r := range images {
			args = append(args, c.ref(r))
		}
		c.must(t, args...)
	case c.podman():
		c.must(t, append([]string{"save", "-m", "-o", path}, images...)...)
	default:
		c.must(t, append([]string{"save", "-o", path}, images...)...)
	}
}
