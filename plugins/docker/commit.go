package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// Commit makes an image of an exited container, without pausing it.
func (d *Driver) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	if err := checkCommit(opts); err != nil {
		return runtime.Image{}, fmt.Errorf("docker: commit %s: %w", id, err)
	}
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.Image{}, d.fail(err, "commit %s", id)
	}
	c := res.Container
	if c.State != nil && (c.State.Running || c.State.Paused || c.State.Restarting) {
		return runtime.Image{}, fmt.Errorf("docker: commit %s: %w: the container is %s", id, runtime.ErrFailedPrecondition, c.State.Status)
	}
	if c.Config == nil {
		c.Config = &container.Config{}
	}
	secrets := secretKeys(c.Config.Labels[secretLabel])
	var imageID string
	if opts.Squash {
		imageID, err = d.squash(ctx, c.ID, c.Config, secrets, opts)
	} else {
		imageID, err = d.commit(ctx, c.ID, secrets, opts)
	}
	if err != nil {
		return runtime.Image{}, err
	}
	return d.InspectImage(ctx, imageID)
}

// commit is Docker's own commit. The engine merges the container's config
// into the config given here, field by field; for Env it keeps every
// container entry whose key the given Env does not set, so the secret keys
// are set as bare names. But the engine also stores the container's whole
// config next to the image's, secret values included: a container with
// secrets is therefore committed first to an intermediate image, which
// scrub copies, cleaned, to opts.Ref before it is deleted.
//
// The intermediate image is never without a reference: the engine's commit
// tags it opts.Ref+"-unscrubbed" (see unscrubbedRef), so nothing that
// removes unreferenced images can take it while the commit runs, and a
// driver that dies mid-commit leaves a reference in opts.Ref's repository,
// which the host removes with that repository's other leftovers. The
// driver deletes it (by ID) when the commit ends, however it ends, and
// first deletes the leftover of an earlier crashed commit to opts.Ref, so
// that moving the reference never leaves such an image without one.
func (d *Driver) commit(ctx context.Context, id string, secrets []string, opts runtime.CommitOptions) (string, error) {
	env := slices.Clone(opts.Changes.Env)
	set := envKeys(env)
	var hide []string // the secrets no change sets again, in the open
	for _, k := range secrets {
		if !slices.Contains(set, k) {
			hide = append(hide, k)
			env = append(env, k)
		}
	}
	copts := client.ContainerCommitOptions{
		Reference: opts.Ref,
		NoPause:   true, // it has exited; pausing only costs time
		Config: &container.Config{
			Env:        env,
			Cmd:        opts.Changes.Cmd,
			WorkingDir: opts.Changes.WorkingDir,
			Labels:     opts.Labels,
		},
	}
	if len(secrets) == 0 {
		res, err := d.cli.ContainerCommit(ctx, id, copts)
		if err != nil {
			return "", d.fail(err, "commit %s", id)
		}
		return res.ID, nil
	}
	temp, err := unscrubbedRef(opts.Ref)
	if err != nil {
		return "", fmt.Errorf("docker: commit %s: %w", id, err)
	}
	if err := d.removeUnscrubbed(ctx, temp); err != nil {
		return "", err
	}
	copts.Reference = temp
	unscrubbed, err := d.commitDetached(ctx, id, copts)
	if err != nil {
		return "", err
	}
	if testHookUnscrubbed != nil {
		err = testHookUnscrubbed(ctx, unscrubbed)
	}
	var imageID string
	if err == nil {
		imageID, err = d.scrub(ctx, unscrubbed, hide, opts.Ref)
	}
	if rerr := d.removeUnscrubbed(ctx, unscrubbed); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return "", err
	}
	return imageID, nil
}

// testHookUnscrubbed, set only by tests, is called with the ID of the
// unscrubbed image once the engine has made it; an error it returns fails
// the commit at that point.
var testHookUnscrubbed func(ctx context.Context, imageID string) error

// testHookEngineCommit, set only by tests, is called by the detached
// commit of a container with secrets just before it asks the engine to
// commit.
var testHookEngineCommit func()

// commitDetached is the engine's commit of a container with secrets. The
// commit itself is never abandoned: an image made by a commit whose caller
// left would hold the secrets with nobody to delete it. If ctx ends first,
// commitDetached returns at once and the commit, once done, deletes its
// image.
func (d *Driver) commitDetached(ctx context.Context, id string, opts client.ContainerCommitOptions) (string, error) {
	type result struct {
		id  string
		err error
	}
	out := make(chan result, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if testHookEngineCommit != nil {
			testHookEngineCommit()
		}
		res, err := d.cli.ContainerCommit(context.WithoutCancel(ctx), id, opts)
		if err == nil && ctx.Err() != nil {
			d.removeUnscrubbed(ctx, res.ID) // the caller has gone
		}
		out <- result{res.ID, err}
	}()
	select {
	case r := <-out:
		if r.err != nil {
			return "", d.fail(r.err, "commit %s", id)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("docker: commit %s: %w", id, ctx.Err())
		}
		return r.id, nil
	case <-ctx.Done():
		return "", fmt.Errorf("docker: commit %s: %w", id, ctx.Err())
	}
}

// removeUnscrubbed deletes the intermediate image of a commit with
// secrets, named by its ID or its temporary reference, whatever ctx says.
// It has no other reference, so either deletes the image.
func (d *Driver) removeUnscrubbed(ctx context.Context, image string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := d.cli.ImageRemove(rctx, image, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return d.fail(err, "delete the unscrubbed image %s", image)
	}
	return nil
}

// unscrubbedSuffix ends the tag of the intermediate image of a commit with
// secrets.
const unscrubbedSuffix = "unscrubbed"

// maxTag is the longest tag the engine accepts.
const maxTag = 128

// unscrubbedRef returns the temporary reference of the intermediate image
// of a commit to ref: ref's repository, with ref's tag ("latest" if none)
// followed by "-unscrubbed"; a tag that would be too long is cut to fit.
func unscrubbedRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("%w: reference %q: %v", runtime.ErrInvalidArgument, ref, err)
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
		if len(tag)+1+len(unscrubbedSuffix) <= maxTag {
			return ref + "-" + unscrubbedSuffix, nil // the common case, as given
		}
	}
	tag = tag[:min(len(tag), maxTag-1-len(unscrubbedSuffix))]
	return reference.FamiliarName(named) + ":" + tag + "-" + unscrubbedSuffix, nil
}

// squash exports the container's file system and imports it as a one-layer
// image. An import starts from an empty config, so the driver writes the
// whole config as Dockerfile instructions: the secret keys are simply left
// out.
func (d *Driver) squash(ctx context.Context, id string, cfg *container.Config, secrets []string, opts runtime.CommitOptions) (string, error) {
	changes, err := squashChanges(cfg, secrets, opts)
	if err != nil {
		return "", fmt.Errorf("docker: squash %s: %w", id, err)
	}
	fs, err := d.cli.ContainerExport(ctx, id, client.ContainerExportOptions{})
	if err != nil {
		return "", d.fail(err, "squash %s: export", id)
	}
	defer fs.Close()
	rc, err := d.cli.ImageImport(ctx, client.ImageImportSource{Source: fs, SourceName: "-"}, opts.Ref,
		client.ImageImportOptions{Changes: changes, Message: "berth: squashed container " + id})
	if err != nil {
		return "", d.fail(err, "squash %s: import", id)
	}
	defer rc.Close()
	// The stream's last status is the new image's ID.
	var imageID string
	dec := json.NewDecoder(rc)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("docker: squash %s: %w", id, ctx.Err())
			}
			return "", d.fail(err, "squash %s: read import response", id)
		}
		if m.Error != nil {
			return "", fmt.Errorf("docker: squash %s: import: %s", id, m.Error.Message)
		}
		if strings.HasPrefix(m.Status, "sha256:") {
			imageID = strings.TrimSpace(m.Status)
		}
	}
	if imageID == "" {
		return "", fmt.Errorf("docker: squash %s: the import reported no image ID", id)
	}
	return imageID, nil
}

// squashChanges writes the committed config (the container's, with the
// commit's changes and without the secret keys) as Dockerfile instructions.
func squashChanges(cfg *container.Config, secrets []string, opts runtime.CommitOptions) ([]string, error) {
	var changes []string
	env := mergeEnv(cfg.Env, opts.Changes.Env, secrets)
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if strings.ContainsAny(v, "\n\r") {
			return nil, fmt.Errorf("%w: env %s: a squashed image cannot hold a value with a line break", runtime.ErrInvalidArgument, k)
		}
		changes = append(changes, "ENV "+k+"="+quote(v))
	}
	if cmd := cmdOr(opts.Changes.Cmd, cfg.Cmd); len(cmd) > 0 {
		b, _ := json.Marshal(cmd)
		changes = append(changes, "CMD "+string(b))
	}
	if len(cfg.Entrypoint) > 0 {
		b, _ := json.Marshal([]string(cfg.Entrypoint))
		changes = append(changes, "ENTRYPOINT "+string(b))
	}
	if wd := cmp.Or(opts.Changes.WorkingDir, cfg.WorkingDir); wd != "" {
		changes = append(changes, "WORKDIR "+quote(wd))
	}
	if cfg.User != "" {
		changes = append(changes, "USER "+quote(cfg.User))
	}
	if cfg.StopSignal != "" {
		changes = append(changes, "STOPSIGNAL "+cfg.StopSignal)
	}
	labels := maps.Clone(visibleLabels(cfg.Labels))
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, opts.Labels)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if strings.ContainsAny(k+labels[k], "\n\r") {
			return nil, fmt.Errorf("%w: label %q: a squashed image cannot hold a line break", runtime.ErrInvalidArgument, k)
		}
		changes = append(changes, "LABEL "+quote(k)+"="+quote(labels[k]))
	}
	return changes, nil
}

// mergeEnv applies changes to env (same key: replaced in place, new key:
// appended) and drops the secret keys unless a change sets them again.
func mergeEnv(env, changes, secrets []string) []string {
	out := make([]string, 0, len(env)+len(changes))
	index := map[string]int{}
	for _, e := range slices.Concat(env, changes) {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := index[k]; ok {
			out[i] = e
			continue
		}
		index[k] = len(out)
		out = append(out, e)
	}
	changed := envKeys(changes)
	return slices.DeleteFunc(out, func(e string) bool {
		k, _, _ := strings.Cut(e, "=")
		return slices.Contains(secrets, k) && !slices.Contains(changed, k)
	})
}

// quote writes s as a double-quoted Dockerfile word: no variable expansion.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

func cmdOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

// checkCommit rejects malformed commit options.
func checkCommit(opts runtime.CommitOptions) error {
	if strings.TrimSpace(opts.Ref) == "" {
		return fmt.Errorf("%w: a reference is required", runtime.ErrInvalidArgument)
	}
	if err := checkRef(opts.Ref); err != nil {
		return err
	}
	for _, e := range opts.Changes.Env {
		if err := checkEnv(e); err != nil {
			return fmt.Errorf("%w: %v", runtime.ErrInvalidArgument, err)
		}
	}
	for k := range opts.Labels {
		if k == "" {
			return fmt.Errorf("%w: empty label key", runtime.ErrInvalidArgument)
		}
	}
	return nil
}

// secretKeys parses the value of secretLabel (a JSON array of names).
func secretKeys(v string) []string {
	var keys []string
	json.Unmarshal([]byte(v), &keys) // absent or foreign: no keys
	return keys
}
