package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Snapshots shared through a registry (Config.Registry).
//
// A work item's newest snapshot is shared: its image pushed to the
// registry under a tag of the work item's, and recorded in the cluster's
// table by digest, with its generation. A host whose own snapshot of the
// work item is older pulls the shared one by digest before the job runs and
// keeps it as its own (its reference is the digest reference); the job's
// commit is the next generation, pushed in turn, and the generation it
// replaces is deleted from the registry. All of it happens under the work
// item's lock, which every host of the cluster honours, so two hosts never
// push one work item at once. A failed pull runs the job on the base image
// (ReasonPullFailed): never on an older snapshot, whose commit would drop
// the newer one's work; a failed push leaves the snapshot this host's own
// (CommitResult.PushError).

// pushTries bounds the pushes of one snapshot.
const pushTries = 3

// sharing returns the runtime's registry client when snapshots are shared
// and the runtime can push and pull.
func (c *Core) sharing(rt runtime.Runtime, info runtime.Info) (runtime.RegistryClient, bool) {
	if c.cfg.Registry == "" || !info.Has(runtime.CapRegistry) {
		return nil, false
	}
	rc, ok := rt.(runtime.RegistryClient)
	return rc, ok
}

// sharedTag is the registry tag of generation gen of (project, workItem):
// readable slugs, a hash of the exact pair (collision-free) and the
// generation; at most 128 characters, as the distribution spec allows.
func sharedTag(project, workItem string, gen int) string {
	return slug(project, maxProjectSlug) + "-" + slug(workItem, maxWorkItemSlug) + "-" +
		partsHash(project, workItem)[:16] + "-g" + strconv.Itoa(gen)
}

// pullShared looks up the work item's shared snapshot and, when it is newer
// than this host's and usable by the job, pulls it and makes it this host's
// snapshot (sel.entry). A pull that fails sets sel.pullFailed. It fails
// only when the state cannot be read or written, or ctx ends.
func (c *Core) pullShared(ctx context.Context, rt runtime.Runtime, job Job, sel *selection) error {
	rc, ok := c.sharing(rt, sel.info)
	if !ok {
		return nil
	}
	sh, found, err := c.st.LookupShared(ctx, job.Project, job.WorkItem)
	if err != nil || !found {
		return err
	}
	sel.shared = sh
	if sh.Dropped() {
		// Invalidated on some host: this host's copy, if as old, goes too.
		if local := sel.entry.Snapshot; sel.entry.Found && local.Generation <= sh.Generation {
			if _, _, err := c.st.Remove(ctx, local.Key, local.ImageID); err != nil {
				return err
			}
			c.log.Info("dropped snapshot invalidated on another host", "image", local.Image, "generation", local.Generation)
			c.removeImageRef(ctx, rt, local.Image)
			// As Remove left it: no snapshot, its generation dropped.
			e := &sel.entry
			e.Found, e.Snapshot = false, store.Snapshot{}
			e.LastGeneration = max(e.LastGeneration, local.Generation)
			e.DroppedThrough = max(e.DroppedThrough, local.Generation)
		}
		return nil
	}
	if local := sel.entry.Snapshot; sel.entry.Found && local.SharedBase == sh.Digest && local.Generation >= sh.Generation {
		// This host's snapshot is the shared one, or its descendant
		// through commits not shared yet (a failed push): it has all
		// the shared one's work.
		return nil
	}
	// Else the shared one wins: this host's is older, or another branch
	// (committed here while the shared one moved on), whose commit would
	// drop the shared one's work.
	if ttl := c.ttl(job.Project); ttl > 0 && c.now().Sub(sh.Created) >= ttl {
		return nil // expired: as this host's older one is
	}
	if sh.BaseImage != job.Image || (sh.Driver == sel.info.Name && sh.BaseImageID != "" && sh.BaseImageID != sel.base.ID) {
		return nil // made from another base image
	}
	img, err := rc.PullDigest(ctx, sh.Ref(), c.cfg.RegistryOptions)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pull snapshot %s: %w", sh.Ref(), ctx.Err())
		}
		c.log.Warn("pull of the shared snapshot failed: the job runs on its base image", "image", sh.Ref(), "err", err)
		c.counters.add(MetricPullFailures, 1)
		sel.pullFailed = true
		return nil
	}
	layers := img.Layers
	if layers <= 0 {
		layers = sh.Layers
	}
	now := c.now()
	n := store.Snapshot{Key: sel.key, Image: sh.Ref(), ImageID: img.ID, BaseImage: sh.BaseImage, BaseImageID: sel.base.ID,
		Size: img.Size, Layers: layers, Generation: sh.Generation, Created: sh.Created, LastUsed: now, SharedBase: sh.Digest}
	old, replaced, err := c.st.Pulled(ctx, n)
	if err != nil {
		c.removeImageRef(ctx, rt, sh.Ref())
		return err
	}
	if replaced && old.ImageID != img.ID {
		c.removeImageRef(ctx, rt, old.Image)
	}
	c.counters.add(MetricPulls, 1)
	c.log.Info("pulled the shared snapshot", "image", sh.Ref(), "generation", sh.Generation, "host", sh.Host)
	sel.pulled = true
	// As Pulled left it: n, and the work item's generations up to n's.
	sel.entry.Found, sel.entry.Snapshot = true, n
	sel.entry.LastGeneration = max(sel.entry.LastGeneration, n.Generation)
	return nil
}

// removeImageRef removes ref from rt, leaving an image in use (or an engine
// that fails) to the sweep.
func (c *Core) removeImageRef(ctx context.Context, rt runtime.Runtime, ref string) {
	err := rt.RemoveImage(ctx, ref)
	switch {
	case err == nil, errors.Is(err, runtime.ErrNotFound):
	case errors.Is(err, runtime.ErrConflict):
		c.log.Info("image in use: left for the sweep", "image", ref)
	default:
		c.log.Warn("remove image (left for the sweep)", "image", ref, "err", err)
	}
}

// push shares snap, the job's commit, through the registry: pushed, then
// recorded as the work item's shared snapshot; the generation it replaces
// is deleted from the registry. A failure leaves snap this host's own.
func (r *jobRun) push(ctx context.Context, snap *store.Snapshot) {
	c := r.c
	rc, ok := c.sharing(r.rt, r.sel.info)
	if !ok {
		return
	}
	res := &r.res.Commit
	fail := func(err error) {
		res.PushError = err.Error()
		c.counters.add(MetricPushFailures, 1)
		r.log.Warn("push of the snapshot failed: it stays this host's own", "image", snap.Image, "err", err)
	}
	dest := c.cfg.Registry + ":" + sharedTag(r.job.Project, r.job.WorkItem, snap.Generation)
	var digest string
	var err error
	for try := 1; ; try++ {
		if digest, err = rc.PushImage(ctx, snap.Image, dest, c.cfg.RegistryOptions); err == nil {
			break
		}
		// A registry may refuse a manifest whose blobs another push of the
		// same layers is still writing (MANIFEST_BLOB_UNKNOWN): tried
		// again, a little later each time.
		if try == pushTries || ctx.Err() != nil || errors.Is(err, runtime.ErrNotFound) || errors.Is(err, runtime.ErrInvalidArgument) ||
			errors.Is(err, runtime.ErrNotImplemented) {
			fail(fmt.Errorf("push %s to %s: %w", snap.Image, dest, err))
			return
		}
		r.log.Info("push failed: trying again", "image", snap.Image, "try", try, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		}
	}
	sh := store.Shared{Project: r.job.Project, WorkItem: r.job.WorkItem, Generation: snap.Generation,
		Repository: c.cfg.Registry, Digest: digest, BaseImage: snap.BaseImage, BaseImageID: snap.BaseImageID,
		Driver: r.sel.info.Name, Host: c.instance, Size: snap.Size, Layers: snap.Layers,
		Created: snap.Created, LastUsed: snap.LastUsed}
	stored, old, replaced, err := c.st.PutShared(ctx, sh)
	if err != nil || !stored {
		if err == nil {
			err = fmt.Errorf("a generation as new as %d is shared already: %w", snap.Generation, runtime.ErrConflict)
		}
		fail(fmt.Errorf("record shared snapshot %s: %w", sh.Ref(), err))
		c.deleteShared(ctx, sh)
		return
	}
	res.Digest = digest
	snap.SharedBase = digest
	c.counters.add(MetricPushes, 1)
	r.log.Info("shared the snapshot", "image", sh.Ref(), "generation", sh.Generation)
	if replaced && old.Ref() != sh.Ref() {
		c.deleteShared(ctx, old)
	}
}

// touchShared notes the shared snapshot the job ran from, if it ran from
// one, as used.
func (r *jobRun) touchShared(ctx context.Context) {
	sh := r.sel.shared
	if sh.Dropped() || r.sel.entry.Snapshot.SharedBase != sh.Digest || r.sel.entry.Snapshot.Generation != sh.Generation {
		return
	}
	if err := r.c.st.TouchShared(ctx, sh.Project, sh.WorkItem, sh.Digest, r.c.now()); err != nil {
		r.log.Warn("note shared snapshot used", "err", err)
	}
}

// registryTransport is the HTTP transport of the requests the core sends
// the registry itself (deletes), kept for the Core's life so that they
// reuse their connections; its TLS follows opts.Insecure.
func registryTransport(opts runtime.RegistryOptions) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if opts.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for: RegistryOptions.Insecure
	}
	return tr
}

// deleteShared deletes the manifest of sh from its registry (its tags go
// with it; the registry's own garbage collection frees the blobs). One
// already gone is no error; others are logged: the registry keeps it.
func (c *Core) deleteShared(ctx context.Context, sh store.Shared) {
	err := deleteManifest(ctx, sh.Ref(), c.cfg.RegistryOptions, c.registryHTTP)
	if err != nil {
		c.log.Warn("delete shared snapshot from the registry (left there)", "image", sh.Ref(), "err", err)
		return
	}
	c.log.Info("deleted shared snapshot from the registry", "image", sh.Ref())
}

// deleteManifest deletes the manifest ref (a reference by digest) names,
// through the registry's API (go-containerregistry), over tr.
func deleteManifest(ctx context.Context, ref string, opts runtime.RegistryOptions, tr http.RoundTripper) error {
	var nameOpts []name.Option
	insecure := opts.Insecure || runtime.IsLoopbackRegistry(ref)
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	d, err := name.NewDigest(ref, nameOpts...)
	if err != nil {
		return fmt.Errorf("%w: %v", runtime.ErrInvalidArgument, err)
	}
	auth := authn.Anonymous
	if opts.Username != "" || opts.Password != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: opts.Username, Password: opts.Password})
	}
	err = remote.Delete(d, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(tr))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil
	}
	return err
}

// evictShared forgets the shared snapshots over their project's TTL and
// deletes them from the registry, skipping a work item a job holds on any
// host.
func (c *Core) evictShared(ctx context.Context, opts SweepOptions, rep *SweepReport) error {
	if c.cfg.Registry == "" {
		return nil
	}
	all, err := c.st.ListShared(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	for _, sh := range all {
		if ttl := c.ttl(sh.Project); sh.Dropped() || ttl <= 0 || now.Sub(sh.Created) < ttl {
			continue
		}
		if opts.DryRun {
			rep.EvictedShared = append(rep.EvictedShared, sh.Ref())
			continue
		}
		unlock, err := c.tryLockItem(ctx, sh.Project, sh.WorkItem)
		if errors.Is(err, ErrWorkItemBusy) {
			rep.Skipped = append(rep.Skipped, sh.Ref())
			continue
		}
		if err != nil {
			return err
		}
		_, found, err := c.st.RemoveShared(ctx, sh.Project, sh.WorkItem, sh.Digest)
		if err == nil && found {
			c.deleteShared(ctx, sh)
			rep.EvictedShared = append(rep.EvictedShared, sh.Ref())
			c.log.Info("evicted shared snapshot", "project", sh.Project, "work_item", sh.WorkItem, "image", sh.Ref())
		}
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// forgetShared drops the shared snapshot of (project, workItem), whose
// lock the caller holds, for every host (the mark of InvalidateShared: each
// drops its own copy at its next job of the work item), and deletes it from
// the registry. It reports whether there was one.
func (c *Core) forgetShared(ctx context.Context, project, workItem string) (bool, error) {
	if c.cfg.Registry == "" {
		return false, nil
	}
	sh, found, err := c.st.InvalidateShared(ctx, project, workItem)
	if err != nil || !found {
		return false, err
	}
	c.deleteShared(ctx, sh)
	return true, nil
}
