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
// classes and prefixes it with what was being done. Context errors stay
// context errors (errors.Is(err, context.Canceled) holds).
func (d *Driver) wrap(ctx context.Context, err error, what string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(what, args...)
	if runtime.ClassOf(err) != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	class := classOf(err)
	if class == nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	if class == runtime.ErrUnavailable {
		return fmt.Errorf("%s: containerd at %s: %w: %w", msg, d.address, class, err)
	}
	return fmt.Errorf("%s: %w: %w", msg, class, err)
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
