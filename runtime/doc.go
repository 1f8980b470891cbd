// Package runtime is the contract between berth and a container engine.
//
// It is the driver-facing half of berth, in the spirit of database/sql/driver:
// small, standard library only, and free of policy. A driver carries out
// operations (run a container, commit it, remove an image); everything about
// when to do them (snapshot selection, commit rules, eviction, recovery) lives
// in berth's core, which drivers never see.
//
// Every method takes a context.Context first. Unless a method says otherwise,
// cancelling the context abandons the call: the method must return promptly
// with an error wrapping ctx.Err(), and it must not leave the engine in a state
// the caller cannot clean up with the other methods (a container created by an
// abandoned Run is either removed by the driver or findable by its labels).
//
// Errors are classified with the sentinel errors of this package (ErrNotFound,
// ErrConflict, ...). Drivers wrap them with %w; callers test them with
// errors.Is. The classes survive the plugin wire in both directions.
//
// Optional operations are declared in Info.Capabilities. A driver that does not
// declare a capability must return an error wrapping ErrNotImplemented from the
// corresponding method; callers should check the capability first and use the
// documented fallback.
//
// A driver is proven with the conformance suite in package
// github.com/berth-dev/berth/runtime/runtimetest and served to berth as an
// out-of-process plugin with github.com/berth-dev/berth/runtime/wire.Serve.
package runtime
