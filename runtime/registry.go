package runtime

import (
	"context"
	"net"
	"strings"
)

// RegistryClient is implemented by drivers whose engine can push an image
// to an OCI registry and pull one back by digest (CapRegistry), so that
// hosts with engines of their own share snapshots through one registry.
// Like ImageCopier it is separate from Runtime; a host probes it with a
// type assertion and the capability.
//
// A registry is named by "host[:port]"; repositories under it as in any
// image reference ("127.0.0.1:5000/berth/snapshots"). A registry on a
// loopback address (localhost, 127.0.0.0/8, ::1) is reached over plain
// HTTP when it does not speak TLS, with no further setting, as Docker does
// (see IsLoopbackRegistry); any other needs RegistryOptions.Insecure for
// plain HTTP or an unverified certificate.
type RegistryClient interface {
	// PushImage pushes the local image ref (a reference or an image ID)
	// to dest, a reference with a tag ("host[:port]/repository:tag"), and
	// returns the digest of the manifest the registry stored
	// ("sha256:<64 hex>"): dest's repository followed by "@" and that
	// digest names the image from any host. The local image is left as it
	// was (its references and labels): a reference the driver makes for
	// the push is removed before PushImage returns, however it ends. It
	// returns ErrNotFound if ref names no image, ErrInvalidArgument for a
	// malformed dest, and ErrUnavailable (naming the registry) if the
	// registry cannot be reached or refuses the push. Cancelling ctx
	// abandons the push.
	PushImage(ctx context.Context, ref, dest string, opts RegistryOptions) (digest string, err error)

	// PullDigest fetches src, a reference by digest
	// ("host[:port]/repository@sha256:<64 hex>"), and returns the local
	// image, which src names from then on (InspectImage, Run and
	// RemoveImage accept it; removing src removes the image when it is its
	// last reference). An image the engine already has is not fetched
	// again. It returns ErrInvalidArgument for a src without a digest,
	// ErrNotFound if the registry has no such manifest, and ErrUnavailable
	// (naming the registry) if it cannot be reached. Cancelling ctx
	// abandons the pull; an abandoned or failed pull leaves no reference
	// src behind.
	PullDigest(ctx context.Context, src string, opts RegistryOptions) (Image, error)
}

// RegistryOptions say how to reach a registry.
type RegistryOptions struct {
	// Username and Password authenticate to the registry (basic auth, or
	// the token service the registry names); empty: anonymous.
	Username string
	Password string
	// Insecure allows plain HTTP, and HTTPS without verifying the
	// registry's certificate. Loopback registries need no setting (see
	// RegistryClient). An engine whose daemon alone decides (Docker's
	// "insecure-registries") follows its own configuration.
	Insecure bool
}

// IsLoopbackRegistry reports whether the registry of ref (its first
// path element, "host[:port]") is on a loopback address: "localhost",
// 127.0.0.0/8 or ::1.
func IsLoopbackRegistry(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
