package runtime

import "errors"

// The error classes of the contract. Drivers wrap one of them (with %w) in
// every error they return for a condition of that class; callers test with
// errors.Is. The plugin wire maps each class to a gRPC status code and back,
// so identity survives the process boundary.
var (
	// ErrNotFound: the image or container named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a container name or image reference is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the request is malformed (empty image, bad env
	// entry, negative limit, unparsable reference, ...).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: the object is in the wrong state for the
	// operation (commit of a container that is still running, ...).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrNotImplemented: the driver does not support the operation. A driver
	// returns it exactly for the capabilities it does not declare.
	ErrNotImplemented = errors.New("not implemented")
	// ErrUnavailable: the engine (or the driver process) cannot be reached.
	// The call may succeed if retried later.
	ErrUnavailable = errors.New("unavailable")
	// ErrConflict: the object is in use (an image that a container still
	// uses, a container being removed concurrently, ...).
	ErrConflict = errors.New("conflict")
)

// Classes lists every error class, for tables and mapping code.
var Classes = []error{
	ErrNotFound, ErrAlreadyExists, ErrInvalidArgument, ErrFailedPrecondition,
	ErrNotImplemented, ErrUnavailable, ErrConflict,
}

// ClassOf returns the class err belongs to, or nil if it belongs to none.
func ClassOf(err error) error {
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}
