package fake

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/archive"
)

var _ runtime.RegistryClient = (*Runtime)(nil)

// PushImage pushes the image ref to the registry of dest as a real OCI
// image (CapRegistry): a layer tar for each of its layers, of the files as
// the fake keeps them, and a config with its labels, environment, command
// and working directory. Equal images give equal manifests.
func (r *Runtime) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	return call(ctx, r, OpPushImage, func() (string, error) {
		if err := cmp.Or(r.need(runtime.CapRegistry), checkRef(dest)); err != nil {
			return "", err
		}
		tag, err := name.NewTag(dest, nameOptions(dest, opts)...)
		if err != nil {
			return "", fmt.Errorf("fake: push to %q: %v: %w", dest, err, runtime.ErrInvalidArgument)
		}
		var (
			id    string
			cfg   imageConfig
			made  time.Time
			diffs []*layer
		)
		err = r.view(func(st *state) error {
			img, err := findImage(st, ref)
			if err != nil {
				return err
			}
			id, cfg, made = img.ID, img.Config, img.Created
			for top := img.Top; top != ""; {
				rec := st.Layers[top]
				if rec == nil {
					return fmt.Errorf("fake: layer %s missing: %w", top, runtime.ErrNotFound)
				}
				l, err := r.blob(rec.Diff)
				if err != nil {
					return err
				}
				diffs, top = append(diffs, l), rec.Parent
			}
			slices.Reverse(diffs) // bottom first
			return nil
		})
		if err != nil {
			return "", err
		}
		img, err := ociImage(cfg, made, diffs)
		if err != nil {
			return "", fmt.Errorf("fake: push %q: make its image: %w", ref, err)
		}
		if err := remote.Write(tag, img, remoteOptions(ctx, opts)...); err != nil {
			return "", registryError(ctx, "push "+ref+" to "+dest, tag.RegistryStr(), err)
		}
		digest, err := img.Digest()
		if err == nil {
			var config v1.Hash
			if config, err = img.ConfigName(); err == nil {
				err = r.update(func(st *state) error {
					if img := st.Images[id]; img != nil && !slices.Contains(img.Pushed, config.String()) {
						img.Pushed = append(img.Pushed, config.String())
					}
					return nil
				})
			}
		}
		if err != nil {
			return "", fmt.Errorf("fake: push %q: %w", ref, err)
		}
		return digest.String(), nil
	})
}

// PullDigest fetches src, a reference by digest, into an image that src
// names (CapRegistry). An image the fake has already, because it was
// pulled or pushed as this config, only gains the reference src.
func (r *Runtime) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	return call(ctx, r, OpPullDigest, func() (runtime.Image, error) {
		if err := r.need(runtime.CapRegistry); err != nil {
			return runtime.Image{}, err
		}
		if !strings.Contains(src, "@") {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: no digest: %w", src, runtime.ErrInvalidArgument)
		}
		ref, err := name.NewDigest(src, nameOptions(src, opts)...)
		if err != nil {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: %v: %w", src, err, runtime.ErrInvalidArgument)
		}
		what := "pull " + src
		img, err := remote.Image(ref, remoteOptions(ctx, opts)...)
		if err != nil {
			return runtime.Image{}, registryError(ctx, what, ref.RegistryStr(), err)
		}
		config, err := img.ConfigName()
		if err != nil {
			return runtime.Image{}, registryError(ctx, what, ref.RegistryStr(), err)
		}
		var out runtime.Image
		found := false
		err = r.update(func(st *state) error {
			for _, rec := range st.order {
				if rec.ID == config.String() || slices.Contains(rec.Pushed, config.String()) {
					st.setRef(src, rec.ID)
					out, found = imageOf(st, rec), true
					return nil
				}
			}
			return nil
		})
		if err != nil || found {
			return out, err
		}
		fetched, err := fetchImage(img)
		if err != nil {
			return runtime.Image{}, registryError(ctx, what, ref.RegistryStr(), err)
		}
		fetched.Refs = []string{src}
		imgs, err := r.store(ctx, []archive.Image{fetched})
		if err != nil {
			return runtime.Image{}, err
		}
		return imgs[0], nil
	})
}

// nameOptions are the options ref is parsed with: plain HTTP for a
// loopback registry and with opts.Insecure.
func nameOptions(ref string, opts runtime.RegistryOptions) []name.Option {
	if opts.Insecure || runtime.IsLoopbackRegistry(ref) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// remoteOptions are the options of a call to the registry: ctx, the
// credentials of opts (anonymous without) and, with opts.Insecure, HTTPS
// without verifying the registry's certificate.
func remoteOptions(ctx context.Context, opts runtime.RegistryOptions) []remote.Option {
	auth := authn.Anonymous
	if opts.Username != "" || opts.Password != "" {
		auth = &authn.Basic{Username: opts.Username, Password: opts.Password}
	}
	out := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	if opts.Insecure {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.InsecureSkipVerify = true
		out = append(out, remote.WithTransport(t))
	}
	return out
}

// registryError classes err, from a call to registry: ctx's error, a
// manifest or repository the registry does not have (ErrNotFound), or a
// registry that cannot be reached or refuses (ErrUnavailable).
func registryError(ctx context.Context, what, registry string, err error) error {
	if ctx.Err() != nil {
		return errCtx(ctx, what)
	}
	if errors.Is(err, runtime.ErrInvalidArgument) { // what the registry sent is malformed
		return fmt.Errorf("fake: %s: registry %s: %w", what, registry, err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		notFound := te.StatusCode == http.StatusNotFound
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				notFound = true
			}
		}
		if notFound {
			return fmt.Errorf("fake: %s: registry %s: %v: %w", what, registry, err, runtime.ErrNotFound)
		}
	}
	return fmt.Errorf("fake: %s: registry %s: %v: %w", what, registry, err, runtime.ErrUnavailable)
}

// ociImage makes an OCI image of a fake image: its layers, bottom first,
// and its config.
func ociImage(cfg imageConfig, created time.Time, diffs []*layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: created.UTC()},
		Config: v1.Config{
			Env: cfg.Env, Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, WorkingDir: cfg.WorkingDir, Labels: cfg.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	layers := make([]v1.Layer, len(diffs))
	for i, l := range diffs {
		b, err := layerTar(l)
		if err != nil {
			return nil, err
		}
		opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		if layers[i], err = tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer)); err != nil {
			return nil, err
		}
	}
	return mutate.AppendLayers(img, layers...)
}

// tarEpoch is the modification time of every entry of a layer tar, so that
// equal layers give equal tars.
var tarEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// layerTar writes l as a layer tar, entries sorted by path: opaque
// directories and whiteouts as .wh. files, then directories, files and
// symbolic links.
func layerTar(l *layer) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	marker := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: tarEpoch, Format: tar.FormatPAX})
	}
	for _, o := range slices.Sorted(slices.Values(l.Opaque)) {
		if err := marker(strings.TrimPrefix(strings.TrimSuffix(o, "/")+"/.wh..wh..opq", "/")); err != nil {
			return nil, err
		}
	}
	for _, w := range slices.Sorted(slices.Values(l.Whiteouts)) {
		dir, base := w[:strings.LastIndexByte(w, '/')+1], w[strings.LastIndexByte(w, '/')+1:]
		if err := marker(strings.TrimPrefix(dir+".wh."+base, "/")); err != nil {
			return nil, err
		}
	}
	paths := make([]string, 0, len(l.Files))
	for p := range l.Files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f := l.Files[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: int64(f.Mode.Perm()), ModTime: tarEpoch, Format: tar.FormatPAX}
		switch {
		case f.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fetchImage reads a remote image whole: its config and its layers,
// uncompressed, each checked against the config's diff IDs.
func fetchImage(img v1.Image) (archive.Image, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return archive.Image{}, err
	}
	out := archive.Image{ID: archive.Digest(raw), RawConfig: raw}
	if err := json.Unmarshal(raw, &out.Config); err != nil {
		return archive.Image{}, fmt.Errorf("image config: %v: %w", err, runtime.ErrInvalidArgument)
	}
	layers, err := img.Layers()
	if err != nil {
		return archive.Image{}, err
	}
	if len(layers) != len(out.Config.RootFS.DiffIDs) {
		return archive.Image{}, fmt.Errorf("%d layers, %d diff IDs in the config: %w", len(layers), len(out.Config.RootFS.DiffIDs), runtime.ErrInvalidArgument)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return archive.Image{}, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return archive.Image{}, err
		}
		if d := archive.Digest(b); d != out.Config.RootFS.DiffIDs[i] {
			return archive.Image{}, fmt.Errorf("layer %d is %s, the config says %s: %w", i, d, out.Config.RootFS.DiffIDs[i], runtime.ErrInvalidArgument)
		}
		out.Layers = append(out.Layers, b)
	}
	return out, nil
}
