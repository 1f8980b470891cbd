package docker

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

const secretValue = "s3cr3t-value-that-must-not-leak"

// TestSecretEnvNotCommitted checks, with the engine's own image inspect,
// that no committed config carries a secret value.
func TestSecretEnvNotCommitted(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	ctx := context.Background()
	for _, squash := range []bool{false, true} {
		c := runToEnd(t, d, runtime.ContainerSpec{
			Cmd:       []string{"sh", "-c", "[ ${#TOKEN} -eq " + strconv.Itoa(len(secretValue)) + " ] && echo x > /work/f"},
			Env:       []string{"PUBLIC=1"},
			SecretEnv: []string{"TOKEN=" + secretValue},
		})
		img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef(), Squash: squash})

		var rawJSON bytes.Buffer
		res, err := raw.ImageInspect(ctx, img.ID, client.ImageInspectWithRawResponse(&rawJSON))
		require.NoError(t, err)
		require.False(t, strings.Contains(rawJSON.String(), secretValue), "squash=%v: the secret value is in the image: %s", squash, rawJSON.String())
		env := res.Config.Env
		require.True(t, slices.Contains(env, "PUBLIC=1"), "squash=%v: public env lost: %q", squash, env)
		// Nothing remains of the key, not even a bare name.
		require.False(t, slices.ContainsFunc(env, func(e string) bool { return e == "TOKEN" || strings.HasPrefix(e, "TOKEN=") }),
			"squash=%v: env %q holds the key TOKEN", squash, env)
		t.Logf("squash=%v: the engine's inspect of the committed image: %s", squash, rawJSON.String())

		// Nor does any other image: the unscrubbed one is gone.
		noImageHolds(t, raw, secretValue)

		// A container of the image does not see the variable at all.
		var out bytes.Buffer
		c2 := runToEnd(t, d, runtime.ContainerSpec{Image: img.ID, Cmd: []string{"env"}})
		require.NoError(t, d.Logs(ctx, c2.ID, runtime.LogOptions{}, &out, &out))
		require.False(t, strings.Contains(out.String(), "TOKEN") || !strings.Contains(out.String(), "PUBLIC=1"), "squash=%v: env of a container of the image: %s", squash, out.String())
	}
}

// TestCommitCancelledLeavesNoSecret cancels commits of a container with
// secrets at each known point: before the commit starts, while the
// engine's commit is made (the caller has left before it starts), and once
// the intermediate image exists. Each commit returns context.Canceled, and
// once the driver is closed no image holds the secret and no temporary
// reference is left.
func TestCommitCancelledLeavesNoSecret(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", writeFiles}, SecretEnv: []string{"TOKEN=" + secretValue}})
	t.Cleanup(func() { testHookEngineCommit, testHookUnscrubbed = nil, nil })
	var refs []string
	for _, point := range []string{"before", "engine commit", "intermediate image"} {
		ctx, cancel := context.WithCancel(context.Background())
		returned := make(chan struct{})
		reached := false
		testHookEngineCommit, testHookUnscrubbed = nil, nil
		switch point {
		case "before":
			cancel()
		case "engine commit":
			// The commit waits, in the driver's goroutine, until Commit
			// has returned: the engine's commit starts after the caller
			// left, and must then delete its image itself.
			testHookEngineCommit = func() {
				reached = true
				cancel()
				<-returned
			}
		case "intermediate image":
			testHookUnscrubbed = func(context.Context, string) error {
				reached = true
				cancel()
				return nil
			}
		}
		ref := newRef()
		refs = append(refs, ref)
		img, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
		close(returned)
		cancel()
		if err == nil {
			t.Cleanup(func() { d.RemoveImage(context.Background(), img.ID) })
		}
		assert.ErrorIs(t, err, context.Canceled, "cancelled at %s: commit returned", point)
		assert.False(t, point != "before" && !reached, "the commit never reached the point %s", point)
	}
	d.Close() // waits for detached commits to delete their images
	noImageHolds(t, raw, secretValue)
	for _, ref := range refs {
		assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), ref+"-unscrubbed")), cerrdefs.ErrNotFound,
			"the temporary reference %s-unscrubbed is left", ref)
		assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), ref)), cerrdefs.ErrNotFound, "the cancelled commit left %s", ref)
	}
}

// TestCommitUnscrubbedReferenced follows the intermediate image of commits
// of a container with secrets that succeed, fail and are cancelled once it
// exists: while the commit runs, the image carries the reference
// opts.Ref+"-unscrubbed" and nothing else (it is never an image without a
// reference, which a concurrent clean-up could take, and a crash leaves it
// recognisably berth's); however the commit ends, neither that reference
// nor the image is left.
func TestCommitUnscrubbedReferenced(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo x > /f"}, SecretEnv: []string{"TOKEN=" + secretValue}})
	t.Cleanup(func() { testHookUnscrubbed = nil })
	injected := errors.New("injected failure")
	for _, end := range []string{"success", "failure", "cancel"} {
		ref := newRef()
		temp := ref + "-unscrubbed"
		ctx, cancel := context.WithCancel(context.Background())
		var seen string
		testHookUnscrubbed = func(hctx context.Context, imageID string) error {
			seen = imageID
			res, err := raw.ImageInspect(hctx, imageID)
			if assert.NoError(t, err, "%s: inspect the intermediate image", end) {
				assert.Equal(t, []string{temp}, tags(res.RepoTags), "%s: the intermediate image's references", end)
			}
			dangling, err := raw.ImageList(hctx, client.ImageListOptions{All: true, Filters: client.Filters{}.Add("dangling", "true")})
			require.NoError(t, err)
			for _, img := range dangling.Items {
				assert.False(t, img.ID == imageID, "%s: the intermediate image %s has no reference", end, imageID)
			}
			switch end {
			case "failure":
				return injected
			case "cancel":
				cancel()
			}
			return nil
		}
		img, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
		cancel()
		switch end {
		case "success":
			require.NoError(t, err, "%s", end)
			t.Cleanup(func() { d.RemoveImage(context.Background(), img.ID) })
			assert.Equal(t, []string{ref}, img.Refs, "%s: the committed image's references", end)
		case "failure":
			assert.ErrorIs(t, err, injected, "%s: commit returned", end)
		case "cancel":
			assert.ErrorIs(t, err, context.Canceled, "%s: commit returned", end)
		}
		require.False(t, seen == "", "%s: the commit made no intermediate image", end)
		assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), seen)), cerrdefs.ErrNotFound, "%s: the intermediate image %s is left", end, seen)
		assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), temp)), cerrdefs.ErrNotFound, "%s: the temporary reference %s is left", end, temp)
		if end != "success" {
			assert.ErrorIs(t, second(d.InspectImage(context.Background(), ref)), runtime.ErrNotFound, "%s: the failed commit left %s", end, ref)
		}
	}
	noImageHolds(t, raw, secretValue)
}

// noImageHolds fails if any image in the engine has s in its inspect.
func noImageHolds(t *testing.T, raw *client.Client, s string) {
	t.Helper()
	ctx := context.Background()
	all, err := raw.ImageList(ctx, client.ImageListOptions{All: true})
	require.NoError(t, err)
	for _, img := range all.Items {
		var buf bytes.Buffer
		if _, err := raw.ImageInspect(ctx, img.ID, client.ImageInspectWithRawResponse(&buf)); err != nil {
			continue // removed meanwhile by a concurrent test
		}
		require.False(t, strings.Contains(buf.String(), s), "image %s %v holds %q", img.ID, img.RepoTags, s)
	}
}

// TestCommitManyFiles commits a container that wrote 2,000 small files and
// checks they are all in the image.
func TestCommitManyFiles(t *testing.T) {
	d := newDriver(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", writeFiles}})
	img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef()})
	require.Equal(t, "2000", strings.TrimSpace(output(t, d, img.ID, "ls /work/files | wc -l")), "files in the image")
}

// writeFiles is a script that writes 2,000 small files.
const writeFiles = `mkdir -p /work/files && for i in $(seq 2000); do echo "$i" > /work/files/$i; done`

func TestCommitLayersGrow(t *testing.T) {
	d := newDriver(t)
	base, err := d.InspectImage(context.Background(), baseImage(t))
	require.NoError(t, err)
	image, layers := base.ID, base.Layers
	for g := 1; g <= 3; g++ {
		c := runToEnd(t, d, runtime.ContainerSpec{Image: image, Cmd: []string{"sh", "-c", "echo " + string(rune('0'+g)) + " >> /work/gens"}})
		img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef()})
		require.False(t, img.Layers != layers+1 || img.Size <= 0 || img.ID == "", "generation %d: %+v, want %d layers", g, img, layers+1)
		image, layers = img.ID, img.Layers
	}
	require.Equal(t, "1\n2\n3\n", output(t, d, image, "cat /work/gens"), "the generations' file")
}

func TestCommitChanges(t *testing.T) {
	d := newDriver(t)
	for _, squash := range []bool{false, true} {
		c := runToEnd(t, d, runtime.ContainerSpec{
			Cmd:    []string{"sh", "-c", "mkdir -p /work/sub && echo hi > /work/sub/f"},
			Env:    []string{"A=1", "B=2"},
			Labels: map[string]string{"io.berth.dt.from-container": "c"},
		})
		img := commit(t, d, c.ID, runtime.CommitOptions{
			Ref:    newRef(),
			Squash: squash,
			Labels: map[string]string{"io.berth.dt.commit": "yes"},
			Changes: runtime.ConfigChanges{
				Env:        []string{"B=3", `C=with "quotes" and $dollar \back`},
				Cmd:        []string{"sh", "-c", "pwd; echo $A$B; echo \"$C\"; cat f"},
				WorkingDir: "/work/sub",
			},
		})
		require.False(t, squash && img.Layers != 1, "squashed image has %d layers", img.Layers)
		require.False(t, img.Labels["io.berth.dt.commit"] != "yes" || img.Labels["io.berth.dt.from-container"] != "c" || img.Labels[testLabel] != testValue, "squash=%v: labels %v", squash, img.Labels)
		require.True(t, slices.Contains(img.Refs, strings.TrimPrefix(img.Refs[0], "docker.io/")), "refs %v", img.Refs)
		out := outputCmd(t, d, img.ID, nil)
		want := "/work/sub\n13\nwith \"quotes\" and $dollar \\back\nhi\n"
		require.Equal(t, want, out, "squash=%v: output %q, want %q", squash, out, want)
	}
}

// output runs script in a container of image and returns its stdout.
func output(t *testing.T, d *Driver, image, script string) string {
	t.Helper()
	return outputCmd(t, d, image, []string{"sh", "-c", script})
}

func outputCmd(t *testing.T, d *Driver, image string, cmd []string) string {
	t.Helper()
	c := runToEnd(t, d, runtime.ContainerSpec{Image: image, Cmd: cmd})
	var out bytes.Buffer
	require.NoError(t, d.Logs(context.Background(), c.ID, runtime.LogOptions{}, &out, nil))
	return out.String()
}

// TestCommitRemovesLeftoverUnscrubbed checks that the intermediate image
// a crashed commit left under opts.Ref+"-unscrubbed" is deleted by the next
// commit to opts.Ref, not left without a reference when the next commit's
// intermediate image takes that reference over.
func TestCommitRemovesLeftoverUnscrubbed(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	ref := newRef()
	// The leftover: an image of its own under the temporary reference.
	first := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo left > /f"}})
	leftover := commit(t, d, first.ID, runtime.CommitOptions{Ref: ref + "-unscrubbed"})
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo x > /f"}, SecretEnv: []string{"TOKEN=" + secretValue}})
	commit(t, d, c.ID, runtime.CommitOptions{Ref: ref})
	assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), leftover.ID)), cerrdefs.ErrNotFound,
		"the leftover intermediate image %s is still there", leftover.ID)
	assert.ErrorIs(t, second(raw.ImageInspect(context.Background(), ref+"-unscrubbed")), cerrdefs.ErrNotFound, "the temporary reference is left")
}

func TestUnscrubbedRef(t *testing.T) {
	long := strings.Repeat("t", maxTag)
	for _, tc := range []struct{ ref, want string }{
		{"berth/x-y-0123456789abcdef:g3", "berth/x-y-0123456789abcdef:g3-unscrubbed"},
		{"berth/x", "berth/x:latest-unscrubbed"},
		{"localhost:5000/berth/x:g1", "localhost:5000/berth/x:g1-unscrubbed"},
		{"berth/x:" + long, "berth/x:" + long[:maxTag-len("-unscrubbed")] + "-unscrubbed"},
	} {
		got, err := unscrubbedRef(tc.ref)
		assert.False(t, err != nil || got != tc.want, "unscrubbedRef(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		assert.NoError(t, checkRef(got), "unscrubbedRef(%q) = %q", tc.ref, got)
	}
	assert.ErrorIs(t, second(unscrubbedRef("Bad Ref")), runtime.ErrInvalidArgument, "unscrubbedRef of a bad reference")
}
