package containerd

import (
	"context"
	"errors"
	"fmt"

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
