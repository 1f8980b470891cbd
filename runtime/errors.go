package runtime

import (
	"errors"
	"strings"
)

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

// EngineError is an engine's error as a driver returns it: the driver, what
// it was doing, the contract's class the error belongs to and the engine's
// own error, all kept, so that errors.Is finds the class (and the wire maps
// it to its gRPC code) and errors.As still finds the engine's error type.
// Drivers make it with WrapEngine.
type EngineError struct {
	// Driver names the driver ("docker").
	Driver string
	// Op is what the driver was doing ("remove container 3f2a").
	Op string
	// Class is one of Classes, or nil when none fits.
	Class error
	// Err is the engine's error (or the context's, for a call cancelled
	// while the engine worked).
	Err error
}

// WrapEngine returns err, an engine's error, as an *EngineError of class
// for driver's op; nil if err is nil. With a nil class the error keeps
// whatever class err itself holds.
func WrapEngine(driver, op string, class, err error) error {
	if err == nil {
		return nil
	}
	return &EngineError{Driver: driver, Op: op, Class: class, Err: err}
}

// Error reads "driver: op: class: engine's message", leaving out the parts
// that are empty.
func (e *EngineError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.Driver, e.Op} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	if e.Class != nil {
		b.WriteString(e.Class.Error())
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the class (if any) and the engine's error.
func (e *EngineError) Unwrap() []error {
	if e.Class == nil {
		return []error{e.Err}
	}
	return []error{e.Class, e.Err}
}
