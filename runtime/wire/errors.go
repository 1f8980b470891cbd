package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire/wirepb"
)

// The errors of opening a driver. Test them with errors.Is.
var (
	// ErrDriverNotFound: no driver binary was found where Open looked.
	ErrDriverNotFound = errors.New("driver not found")
	// ErrChecksum: the driver binary's SHA-256 is not the one expected.
	ErrChecksum = errors.New("driver checksum mismatch")
	// ErrProtocol: the driver speaks another protocol version than the host
	// (runtime.ProtocolVersion; the error is then a *VersionError), or is
	// not a berth driver at all.
	ErrProtocol = errors.New("driver protocol mismatch")
	// ErrClosed: the Set has been closed, and launches no more drivers.
	ErrClosed = errors.New("driver set closed")
)

// codeOf pairs each error class with its gRPC status code.
var codeOf = map[error]codes.Code{
	runtime.ErrNotFound:           codes.NotFound,
	runtime.ErrAlreadyExists:      codes.AlreadyExists,
	runtime.ErrInvalidArgument:    codes.InvalidArgument,
	runtime.ErrFailedPrecondition: codes.FailedPrecondition,
	runtime.ErrNotImplemented:     codes.Unimplemented,
	runtime.ErrUnavailable:        codes.Unavailable,
	runtime.ErrConflict:           codes.Aborted,
	context.Canceled:              codes.Canceled,
	context.DeadlineExceeded:      codes.DeadlineExceeded,
}

// classOf is codeOf reversed.
var classOf = func() map[codes.Code]error {
	m := make(map[codes.Code]error, len(codeOf))
	for class, code := range codeOf {
		m[code] = class
	}
	return m
}()

// toStatus turns a driver's error into the status the server returns. The
// context errors come first: a cancelled call is reported as such even if
// the driver wrapped the cancellation in a class.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var class error
	switch {
	case errors.Is(err, context.Canceled):
		class = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		class = context.DeadlineExceeded
	default:
		class = runtime.ClassOf(err)
	}
	code, detail := codes.Unknown, &wirepb.DriverError{}
	if class != nil {
		code, detail.Class = codeOf[class], class.Error()
	}
	// gRPC cannot marshal a status whose message is not UTF-8: it would
	// drop the details, and the host would take a driver's cancellation
	// for a transport failure.
	msg := strings.ToValidUTF8(err.Error(), "\uFFFD")
	st, derr := status.New(code, msg).WithDetails(detail)
	if derr != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// remoteError is an error that crossed the wire: it prints the driver's
// message and unwraps to its class.
type remoteError struct {
	msg   string
	class error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.class }

// transportError is a failure of the connection to the driver process (it
// died, or never answered). It unwraps to runtime.ErrUnavailable.
type transportError struct{ err error }

func (e *transportError) Error() string {
	return fmt.Sprintf("driver unreachable: %v", status.Convert(e.err).Message())
}
func (e *transportError) Unwrap() []error { return []error{runtime.ErrUnavailable, e.err} }

// fromStatus turns an error returned by a gRPC call made with ctx back into
// a Go error of the same class. If ctx is done, the error wraps ctx.Err().
// A status the transport made (no DriverError detail) with code Unavailable,
// or Canceled while ctx is not (the connection is closing), becomes a
// *transportError.
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("driver call: %w", ctx.Err())
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	fromDriver := false
	for _, d := range st.Details() {
		if _, ok := d.(*wirepb.DriverError); ok {
			fromDriver = true
		}
	}
	if !fromDriver && (st.Code() == codes.Unavailable || st.Code() == codes.Canceled) {
		return &transportError{err: err}
	}
	return &remoteError{msg: st.Message(), class: classOf[st.Code()]}
}
