package containerd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/runtime"
)

// wrap classifies err, an error from containerd, with the contract's error
// classes and prefixes it with what was being done, with
// runtime.WrapEngine: the class and containerd's error are both in the
// chain. An error that has a class already keeps it; context errors stay
// context errors (errors.Is(err, context.Canceled) holds), of no class.
func (d *Driver) wrap(ctx context.Context, err error, what string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(what, args...)
	if runtime.ClassOf(err) != nil {
		return runtime.WrapEngine("containerd", msg, nil, err)
	}
	if ctx.Err() != nil {
		return runtime.WrapEngine("containerd", msg, nil, ctx.Err())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return runtime.WrapEngine("containerd", msg, nil, err)
	}
	class := classOf(err)
	if class == runtime.ErrUnavailable {
		msg += ": daemon at " + d.address
	}
	return runtime.WrapEngine("containerd", msg, class, err)
}

// registryWrap is wrap for a push to or a pull from the registry reg: a
// registry that cannot be reached (refused, unknown host, timed out, no
// TLS where TLS is asked or a certificate that does not verify) or that
// refuses the credentials or the access, or fails (a 5xx), is
// ErrUnavailable naming reg; the rest is wrap's (the resolver's not found
// is errdefs' own).
func (d *Driver) registryWrap(ctx context.Context, err error, reg, what string, args ...any) error {
	if err == nil || ctx.Err() != nil || !registryUnavailable(err) {
		return d.wrap(ctx, err, what, args...)
	}
	return runtime.WrapEngine("containerd", fmt.Sprintf(what, args...)+": registry "+reg, runtime.ErrUnavailable, err)
}

// registryUnavailable reports whether err, from the docker resolver or
// pusher, means the registry could not be reached or refused the request.
func registryUnavailable(err error) bool {
	var (
		ue     *url.Error
		oe     *net.OpError
		de     *net.DNSError
		rh     tls.RecordHeaderError
		ua     x509.UnknownAuthorityError
		hn     x509.HostnameError
		status remoteerrors.ErrUnexpectedStatus
	)
	if errors.As(err, &status) {
		c := status.StatusCode
		return c == http.StatusUnauthorized || c == http.StatusForbidden || c == http.StatusTooManyRequests || c >= 500
	}
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &rh) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.Is(err, docker.ErrInvalidAuthorization)
}

// classOf maps a containerd (errdefs or gRPC) error to a contract class, nil
// if none fits.
func classOf(err error) error {
	switch {
	case errdefs.IsNotFound(err):
		return runtime.ErrNotFound
	case errdefs.IsAlreadyExists(err):
		return runtime.ErrAlreadyExists
	case errdefs.IsInvalidArgument(err):
		return runtime.ErrInvalidArgument
	case errdefs.IsFailedPrecondition(err):
		return runtime.ErrFailedPrecondition
	case errdefs.IsNotImplemented(err):
		return runtime.ErrNotImplemented
	case errdefs.IsUnavailable(err):
		return runtime.ErrUnavailable
	case errdefs.IsConflict(err):
		return runtime.ErrConflict
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.NotFound:
			return runtime.ErrNotFound
		case codes.AlreadyExists:
			return runtime.ErrAlreadyExists
		case codes.InvalidArgument:
			return runtime.ErrInvalidArgument
		case codes.FailedPrecondition:
			return runtime.ErrFailedPrecondition
		case codes.Unimplemented:
			return runtime.ErrNotImplemented
		case codes.Unavailable:
			return runtime.ErrUnavailable
		}
	}
	return nil
}

// invalid returns an ErrInvalidArgument error.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), runtime.ErrInvalidArgument)
}
