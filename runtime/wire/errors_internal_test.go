package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		assert.Contains(t, want, class, "class %v has no expected code in this test", class)
	}
	for class, code := range want {
		err := toStatus(fmt.Errorf("op: %w", class))
		assert.Equal(t, code, status.Code(err), "%v: code", class)
		back := fromStatus(context.Background(), err)
		if runtime.ClassOf(class) != nil {
			assert.ErrorIs(t, back, class, "%v: back", class)
		}
	}
}

// TestTransportStatus: a status without the driver's mark, as gRPC makes
// when the connection fails, is ErrUnavailable and a transport error.
func TestTransportStatus(t *testing.T) {
	err := fromStatus(context.Background(), status.Error(codes.Unavailable, "connection refused"))
	var te *transportError
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	require.ErrorAs(t, err, &te, "a transport error")
	// The driver's own ErrUnavailable is not a transport failure.
	err = fromStatus(context.Background(), toStatus(fmt.Errorf("engine: %w", runtime.ErrUnavailable)))
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	require.NotErrorAs(t, err, &te, "the driver's ErrUnavailable is no transport error")
}
