package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/runtime"
)

// TestStatusCodes pins the gRPC code of each class: drivers in other
// languages rely on them.
func TestStatusCodes(t *testing.T) {
	want := map[error]codes.Code{
		runtime.ErrNotFound:           codes.NotFound,
		runtime.ErrAlreadyExists:      codes.AlreadyExists,
		runtime.ErrInvalidArgument:    codes.InvalidArgument,
		runtime.ErrFailedPrecondition: codes.FailedPrecondition,
		runtime.ErrNotImplemented:     codes.Unimplemented,
		runtime.ErrUnavailable:        codes.Unavailable,
		runtime.ErrConflict:           codes.Aborted,
		context.Canceled:              codes.Canceled,
		context.DeadlineExceeded:      codes.DeadlineExceeded,
		errors.New("no class"):        codes.Unknown,
	}
	for _, class := range runtime.Classes {
		if _, ok := want[class]; !ok {
			t.Errorf("class %v has no expected code in this test", class)
		}
	}
	for class, code := range want {
		err := toStatus(fmt.Errorf("op: %w", class))
		if got := status.Code(err); got != code {
			t.Errorf("%v: code %v, want %v", class, got, code)
		}
		back := fromStatus(context.Background(), err)
		if runtime.ClassOf(class) != nil && !errors.Is(back, class) {
			t.Errorf("%v: back as %v", class, back)
		}
	}
}

// TestTransportStatus: a status without the driver's mark, as gRPC makes
// when the connection fails, is ErrUnavailable and a transport error.
func TestTransportStatus(t *testing.T) {
	err := fromStatus(context.Background(), status.Error(codes.Unavailable, "connection refused"))
	var te *transportError
	if !errors.Is(err, runtime.ErrUnavailable) || !errors.As(err, &te) {
		t.Fatalf("got %v, want a transport error", err)
	}
	// The driver's own ErrUnavailable is not a transport failure.
	err = fromStatus(context.Background(), toStatus(fmt.Errorf("engine: %w", runtime.ErrUnavailable)))
	if !errors.Is(err, runtime.ErrUnavailable) || errors.As(err, &te) {
		t.Fatalf("got %v, want the driver's ErrUnavailable", err)
	}
}
