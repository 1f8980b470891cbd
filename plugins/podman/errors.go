package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/errorhandling"
)

// wrap turns an error of the bindings into one of the contract's classes,
// prefixed with op, with runtime.WrapEngine: the class and the bindings'
// error (an *errorhandling.ErrorModel for an answer of the service) are
// both in the chain. The class comes from the HTTP status the service
// answered with, or from the transport for a service that cannot be
// reached; an error of no class (a 500 of the service) keeps its message.
// A call whose ctx ended gives ctx's error, of no class.
func (d *Driver) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return runtime.WrapEngine(Name, op, nil, ctx.Err())
	}
	if class := statusClass(err); class != nil {
		return runtime.WrapEngine(Name, op, class, err)
	}
	if unreachable(err) {
		return runtime.WrapEngine(Name, op+": service at "+d.address, runtime.ErrUnavailable, err)
	}
	return runtime.WrapEngine(Name, op, nil, err)
}

// statusClass maps the HTTP status of a service error to a class.
func statusClass(err error) error {
	var model *errorhandling.ErrorModel
	if !errors.As(err, &model) {
		return nil
	}
	switch model.Code() {
	case http.StatusNotFound:
		return runtime.ErrNotFound
	case http.StatusConflict:
		return runtime.ErrConflict
	case http.StatusBadRequest:
		return runtime.ErrInvalidArgument
	case http.StatusNotImplemented:
		return runtime.ErrNotImplemented
	case http.StatusServiceUnavailable:
		return runtime.ErrUnavailable
	}
	return nil
}

// isStatus reports whether err is a service error with HTTP status code.
func isStatus(err error, code int) bool {
	var model *errorhandling.ErrorModel
	return errors.As(err, &model) && model.Code() == code
}

// unreachable reports whether err means the service could not be reached
// (no socket, connection refused or reset, dial failure).
func unreachable(err error) bool {
	var connect bindings.ConnectError
	var op *net.OpError
	return errors.As(err, &connect) || errors.As(err, &op) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// registryWrap turns an error of a push or pull through the service, to
// or from the registry reg, into one of the contract's classes. The
// service tells a registry's failures only as text: a 400 whose cause and
// message are containers/image's (push), or an error in the progress
// stream (pull). So the class comes from that text (registryClass), then
// from the HTTP status; ErrUnavailable names the registry. An error of the
// transport to the service is wrap's.
func (d *Driver) registryWrap(ctx context.Context, op, reg string, err error) error {
	if err == nil || ctx.Err() != nil {
		return d.wrap(ctx, op, err)
	}
	var model *errorhandling.ErrorModel
	text := err.Error()
	if errors.As(err, &model) {
		text = model.Because + ": " + model.Message
	} else if unreachable(err) {
		return d.wrap(ctx, op, err)
	}
	class := registryClass(text)
	if class == nil && model != nil {
		class = statusClass(err)
	}
	if class == runtime.ErrUnavailable {
		op += ": registry " + reg
	}
	return runtime.WrapEngine(Name, op, class, err)
}

// registryDirectWrap turns an error of the driver's own request to the
// registry reg into one of the contract's classes: registryClass's, else
// ErrUnavailable (naming reg) for a transport error.
func registryDirectWrap(ctx context.Context, op, reg string, err error) error {
	if ctx.Err() != nil {
		return runtime.WrapEngine(Name, op, nil, ctx.Err())
	}
	class := registryClass(err.Error())
	if class == nil && unreachable(err) {
		class = runtime.ErrUnavailable
	}
	if class == runtime.ErrUnavailable {
		op += ": registry " + reg
	}
	return runtime.WrapEngine(Name, op, class, err)
}

// registryClass maps containers/image's message for a registry's failure
// to a class: an unknown manifest, repository or local image is
// ErrNotFound; a registry that cannot be reached, speaks no TLS where TLS
// is asked, or refuses the credentials or the access is ErrUnavailable.
func registryClass(text string) error {
	for _, s := range []string{"manifest unknown", "name unknown", "image not known"} {
		if strings.Contains(text, s) {
			return runtime.ErrNotFound
		}
	}
	for _, s := range []string{
		"connection refused", "connection reset", "no such host", "i/o timeout", "network is unreachable",
		"no route to host", "pinging container registry", "server gave HTTP response to HTTPS client",
		"x509: ", "tls: ", "unauthorized", "authentication required", "denied: ",
	} {
		if strings.Contains(text, s) {
			return runtime.ErrUnavailable
		}
	}
	return nil
}

// invalid returns an ErrInvalidArgument error for op.
func invalid(op, format string, args ...any) error {
	return fmt.Errorf("podman: %s: %w: %s", op, runtime.ErrInvalidArgument, fmt.Sprintf(format, args...))
}
