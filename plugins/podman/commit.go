package podman

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Commit makes an image of the exited container's file system and config.
func (d *Driver) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	repo, tag, err := splitRef(opts.Ref)
	if err != nil {
		return runtime.Image{}, err
	}
	changes, err := commitChanges(opts)
	if err != nil {
		return runtime.Image{}, err
	}
	data, err := d.inspect(ctx, id)
	if err != nil {
		return runtime.Image{}, err
	}
	if st := toState(data.State.Status); st != runtime.StateExited {
		return runtime.Image{}, fmt.Errorf("podman: commit %s: container is %s, not exited: %w", id, st, runtime.ErrFailedPrecondition)
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	no := false
	res, err := containers.Commit(c, data.ID, &containers.CommitOptions{
		Repo:    &repo,
		Tag:     &tag,
		Changes: changes,
		Squash:  &opts.Squash,
		Pause:   &no,
	})
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, "commit "+id, err)
	}
	return d.InspectImage(ctx, res.ID)
}

// splitRef checks a commit reference and splits it into repository and tag
// (default "latest"). The repository is passed on as given: Podman names
// one without a registry localhost/REPO.
func splitRef(ref string) (repo, tag string, err error) {
	if ref == "" {
		return "", "", invalid("commit", "empty reference")
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", invalid("commit", "reference %q: %v", ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", "", invalid("commit", "reference %q has a digest", ref)
	}
	repo, tag = ref, "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
		repo = strings.TrimSuffix(ref, ":"+tag)
	}
	return repo, tag, nil
}

// commitChanges turns labels and config changes into Podman's commit
// changes (Dockerfile instructions, one per change). Values are quoted:
// Podman strips one pair of double quotes around an ENV or LABEL value,
// which keeps spaces and '=' intact.
func commitChanges(opts runtime.CommitOptions) ([]string, error) {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(opts.Labels)) {
		if k == "" || strings.ContainsAny(k, "= \t\n\"") {
			return nil, invalid("commit", "label key %q", k)
		}
		out = append(out, "LABEL "+k+"=\""+opts.Labels[k]+"\"")
	}
	for _, kv := range opts.Changes.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n\"") {
			return nil, invalid("commit", "environment entry %q: want KEY=VALUE", kv)
		}
		out = append(out, "ENV "+k+"=\""+v+"\"")
	}
	if opts.Changes.Cmd != nil {
		cmd, err := json.Marshal(opts.Changes.Cmd)
		if err != nil {
			return nil, invalid("commit", "command %q: %v", opts.Changes.Cmd, err)
		}
		out = append(out, "CMD "+string(cmd))
	}
	if wd := opts.Changes.WorkingDir; wd != "" {
		if strings.TrimSpace(wd) != wd || !strings.HasPrefix(wd, "/") {
			return nil, invalid("commit", "working directory %q: want an absolute path", wd)
		}
		out = append(out, "WORKDIR "+wd)
	}
	return out, nil
}
