package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/runtime"
)

// commitLease bounds how long a crashed commit's content survives.
const commitLease = time.Hour

// Commit makes an image from an exited container: the diff of its snapshot
// (against its parent, or against nothing with opts.Squash) becomes a new
// layer on top of the container's image. See the package documentation.
func (d *Driver) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	name, err := normalizeRef(opts.Ref)
	if err != nil {
		return runtime.Image{}, err
	}
	for _, e := range opts.Changes.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return runtime.Image{}, invalid("commit: env entry %q: want KEY=VALUE", e)
		}
	}
	if id == "" {
		return runtime.Image{}, invalid("empty container ID")
	}
	info, err := d.c.ContainerService().Get(ctx, id)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "commit %s", id)
	}
	if err := d.checkExited(ctx, id); err != nil {
		return runtime.Image{}, err
	}
	if info.SnapshotKey == "" || info.Snapshotter == "" {
		return runtime.Image{}, fmt.Errorf("commit %s: the container has no snapshot: %w", id, runtime.ErrFailedPrecondition)
	}
	base, err := d.baseImage(ctx, info)
	if err != nil {
		return runtime.Image{}, err
	}

	ls := d.c.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(commitLease))
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "commit %s: lease", id)
	}
	ok := false
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		var opts []leases.DeleteOpt
		if !ok {
			opts = append(opts, leases.SynchronousDelete) // collect what the failed commit wrote
		}
		_ = ls.Delete(cctx, lease, opts...)
	}()
	ctx = leases.WithLease(ctx, lease.ID)

	layer, diffID, err := d.diffLayer(ctx, info, base, opts.Squash)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "commit %s: diff", id)
	}
	cfg, err := d.commitConfig(ctx, info, base, diffID, opts)
	if err != nil {
		return runtime.Image{}, err
	}
	layers := []ocispec.Descriptor{layer}
	if !opts.Squash {
		layers = append(append([]ocispec.Descriptor{}, base.manifest.Layers...), layer)
	}
	target, err := d.writeImage(ctx, info.Snapshotter, dockerTypes(base), cfg, layers)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "commit %s: write image", id)
	}
	img := images.Image{Name: name, Target: target}
	is := d.c.ImageService()
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return runtime.Image{}, d.wrap(ctx, err, "commit %s: image %s", id, opts.Ref)
		}
		if _, err := is.Update(ctx, img, "target"); err != nil {
			return runtime.Image{}, d.wrap(ctx, err, "commit %s: image %s", id, opts.Ref)
		}
	}
	rebased := false
	if !opts.Squash {
		if rebased, err = d.rebase(ctx, info, target, cfg.RootFS.DiffIDs); err != nil {
			return runtime.Image{}, d.wrap(ctx, err, "commit %s: snapshot", id)
		}
	}
	if !rebased {
		if err := client.NewImage(d.c, img).Unpack(ctx, info.Snapshotter); err != nil {
			return runtime.Image{}, d.wrap(ctx, err, "commit %s: unpack %s", id, opts.Ref)
		}
	}
	ok = true
	return d.InspectImage(ctx, opts.Ref)
}

// checkExited returns ErrFailedPrecondition unless the container's task has
// stopped (or it has none): diffing a mounted overlay breaks it.
func (d *Driver) checkExited(ctx context.Context, id string) error {
	resp, err := d.c.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		if err = errgrpc.ToNative(err); errdefs.IsNotFound(err) {
			return nil
		}
		return d.wrap(ctx, err, "commit %s", id)
	}
	if s := resp.Process.Status; s != tasktypes.Status_STOPPED {
		return fmt.Errorf("commit %s: the container is %s, not exited: %w",
			id, strings.ToLower(s.String()), runtime.ErrFailedPrecondition)
	}
	return nil
}

// baseImage reads the image the container's file system stands on: the
// image it was made from, by the manifest digest recorded at Run, or the
// image of its last commit once that commit took over its snapshot (see
// rebase). Gc labels on the container keep that content even if the
// references moved or went.
func (d *Driver) baseImage(ctx context.Context, info containers.Container) (imageContent, error) {
	ref := info.Labels[labelCommitBase]
	if ref == "" {
		ref = info.Labels[labelImageID]
	}
	if dgst, err := digest.Parse(ref); err == nil {
		desc, err := d.descriptorOf(ctx, dgst)
		if err != nil {
			return imageContent{}, err
		}
		return d.readImage(ctx, desc)
	}
	img, err := d.c.ImageService().Get(ctx, info.Image)
	if err != nil {
		return imageContent{}, d.wrap(ctx, err, "commit %s: image %s", info.ID, info.Image)
	}
	return d.readImage(ctx, img.Target)
}

// descriptorOf returns the descriptor of a stored manifest or index.
func (d *Driver) descriptorOf(ctx context.Context, dgst digest.Digest) (ocispec.Descriptor, error) {
	cs := d.c.ContentStore()
	ci, err := cs.Info(ctx, dgst)
	if err != nil {
		return ocispec.Descriptor{}, d.wrap(ctx, err, "image %s", dgst)
	}
	desc := ocispec.Descriptor{Digest: dgst, Size: ci.Size}
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return ocispec.Descriptor{}, d.wrap(ctx, err, "image %s", dgst)
	}
	var probe struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", dgst, err)
	}
	desc.MediaType = probe.MediaType
	if desc.MediaType == "" {
		desc.MediaType = ocispec.MediaTypeImageManifest
		if probe.Manifests != nil {
			desc.MediaType = ocispec.MediaTypeImageIndex
		}
	}
	return desc, nil
}

// dockerTypes reports whether the image uses Docker's media types (new
// content then does too).
func dockerTypes(ic imageContent) bool {
	return ic.manifestDesc.MediaType == images.MediaTypeDockerSchema2Manifest
}

// diffLayer writes the container's changes (all its files for a squash) as
// a layer into the content store and returns it with its diff ID.
func (d *Driver) diffLayer(ctx context.Context, info containers.Container, base imageContent, squash bool) (ocispec.Descriptor, digest.Digest, error) {
	sn := d.c.SnapshotService(info.Snapshotter)
	mt := ocispec.MediaTypeImageLayer
	if d.compressed {
		mt = ocispec.MediaTypeImageLayerGzip
	}
	upper, err := sn.Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	parent := ""
	if !squash {
		st, err := sn.Stat(ctx, info.SnapshotKey)
		if err != nil {
			return ocispec.Descriptor{}, "", err
		}
		parent = st.Parent
	}
	viewKey := fmt.Sprintf("berth-commit-view-%s-%s", info.ID, randomHex(4))
	lower, err := sn.View(ctx, viewKey, parent)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = sn.Remove(cctx, viewKey)
	}()
	desc, err := d.c.DiffService().Compare(ctx, lower, upper,
		diff.WithMediaType(mt), diff.WithReference("berth-commit-"+info.ID+"-"+randomHex(4)))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	diffID := desc.Digest
	if d.compressed {
		ci, err := d.c.ContentStore().Info(ctx, desc.Digest)
		if err != nil {
			return ocispec.Descriptor{}, "", err
		}
		if diffID, err = digest.Parse(ci.Labels["containerd.io/uncompressed"]); err != nil {
			return ocispec.Descriptor{}, "", fmt.Errorf("layer %s has no uncompressed digest: %w", desc.Digest, err)
		}
	}
	layer := ocispec.Descriptor{MediaType: mt, Digest: desc.Digest, Size: desc.Size}
	if dockerTypes(base) {
		layer.MediaType = images.MediaTypeDockerSchema2Layer
		if d.compressed {
			layer.MediaType = images.MediaTypeDockerSchema2LayerGzip
		}
	}
	return layer, diffID, nil
}

// commitConfig returns the new image config: the base image's, with the
// container's command, working directory and environment (without its
// secret entries), opts' labels and changes, and the new layer.
func (d *Driver) commitConfig(ctx context.Context, info containers.Container, base imageContent, diffID digest.Digest, opts runtime.CommitOptions) (ocispec.Image, error) {
	var spec struct {
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
			Cwd  string   `json:"cwd"`
		} `json:"process"`
	}
	if info.Spec == nil {
		return ocispec.Image{}, fmt.Errorf("commit %s: the container has no spec: %w", info.ID, runtime.ErrFailedPrecondition)
	}
	if err := json.Unmarshal(info.Spec.GetValue(), &spec); err != nil {
		return ocispec.Image{}, fmt.Errorf("commit %s: spec: %w", info.ID, err)
	}
	cfg := base.config
	c := cfg.Config
	c.Labels = maps.Clone(c.Labels)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, opts.Labels)

	args := spec.Process.Args
	if info.Labels[labelInit] == "1" && len(args) >= 2 && args[0] == initPath {
		args = args[2:]
	}
	if !equalStrings(args, append(append([]string{}, c.Entrypoint...), c.Cmd...)) {
		c.Entrypoint, c.Cmd = nil, args
	}
	if len(opts.Changes.Cmd) > 0 {
		c.Cmd = opts.Changes.Cmd
	}
	c.WorkingDir = spec.Process.Cwd
	if opts.Changes.WorkingDir != "" {
		c.WorkingDir = opts.Changes.WorkingDir
	}
	env, err := publicEnv(spec.Process.Env, c.Env, exactLabels(info)[labelSecretEnv])
	if err != nil {
		return ocispec.Image{}, fmt.Errorf("commit %s: %w", info.ID, err)
	}
	c.Env = mergeEnv(env, opts.Changes.Env)
	cfg.Config = c

	now := time.Now().UTC()
	cfg.Created = &now
	entry := ocispec.History{Created: &now, CreatedBy: strings.Join(args, " "), Comment: "berth commit"}
	if opts.Squash {
		entry.Comment = "berth commit (squashed)"
		cfg.RootFS.DiffIDs = []digest.Digest{diffID}
		cfg.History = []ocispec.History{entry}
	} else {
		cfg.RootFS.DiffIDs = append(append([]digest.Digest{}, cfg.RootFS.DiffIDs...), diffID)
		cfg.History = append(append([]ocispec.History{}, cfg.History...), entry)
	}
	cfg.RootFS.Type = "layers"
	return cfg, nil
}

// publicEnv returns env without the secret keys (a JSON list); a secret key
// the image itself set gets the image's value back. A list it cannot read
// is an error: the secrets it names must never reach an image.
func publicEnv(env, imageEnv []string, secretJSON string) ([]string, error) {
	if secretJSON == "" {
		return env, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(secretJSON), &keys); err != nil {
		return nil, fmt.Errorf("the container's list of secret keys is unreadable: %w: %w", runtime.ErrFailedPrecondition, err)
	}
	secret := map[string]bool{}
	for _, k := range keys {
		secret[k] = true
	}
	fromImage := map[string]string{}
	for _, e := range imageEnv {
		k, _, _ := strings.Cut(e, "=")
		fromImage[k] = e
	}
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if !secret[k] {
			out = append(out, e)
		} else if orig, ok := fromImage[k]; ok {
			out = append(out, orig)
		}
	}
	return out, nil
}

// writeImage writes the config and the manifest, with the labels that make
// the garbage collector keep the config, the layers and the unpacked
// snapshot as long as the manifest (and so the image) exists.
func (d *Driver) writeImage(ctx context.Context, snapshotter string, docker bool, cfg ocispec.Image, layers []ocispec.Descriptor) (ocispec.Descriptor, error) {
	cs := d.c.ContentStore()
	configMT, manifestMT := ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageManifest
	if docker {
		configMT, manifestMT = images.MediaTypeDockerSchema2Config, images.MediaTypeDockerSchema2Manifest
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	configDesc := ocispec.Descriptor{MediaType: configMT, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	snapLabel := fmt.Sprintf("containerd.io/gc.ref.snapshot.%s", snapshotter)
	if err := content.WriteBlob(ctx, cs, "berth-config-"+configDesc.Digest.String(), bytes.NewReader(cb), configDesc,
		content.WithLabels(map[string]string{snapLabel: identity.ChainID(cfg.RootFS.DiffIDs).String()})); err != nil {
		return ocispec.Descriptor{}, err
	}

	manifest := struct {
		SchemaVersion int                  `json:"schemaVersion"`
		MediaType     string               `json:"mediaType"`
		Config        ocispec.Descriptor   `json:"config"`
		Layers        []ocispec.Descriptor `json:"layers"`
	}{2, manifestMT, configDesc, layers}
	mb, err := json.MarshalIndent(manifest, "", "   ")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifestDesc := ocispec.Descriptor{MediaType: manifestMT, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	labels := map[string]string{"containerd.io/gc.ref.content.config": configDesc.Digest.String()}
	for i, l := range layers {
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	if err := content.WriteBlob(ctx, cs, "berth-manifest-"+manifestDesc.Digest.String(), bytes.NewReader(mb), manifestDesc,
		content.WithLabels(labels)); err != nil {
		return ocispec.Descriptor{}, err
	}
	return manifestDesc, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
