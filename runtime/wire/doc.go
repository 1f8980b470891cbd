// Package wire carries the driver contract (package runtime) between berth
// and a driver running as a separate process: a gRPC protocol served with
// hashicorp/go-plugin. Driver authors never see gRPC or protobuf: they
// implement runtime.Runtime and call Serve; berth calls Open and gets a
// runtime.Runtime back.
//
// # Writing a driver
//
// A driver is a binary named berth-driver-<name> whose main function builds
// its runtime.Runtime, reading any options the host passed with
// DriverOptions, and hands it to Serve:
//
//	func main() {
//		opts := wire.DriverOptions()
//		wire.Serve(mydriver.New(opts["address"]))
//	}
//
// A driver must not write to stdout: go-plugin uses it for the handshake
// with the host, and a stray line before it makes the host refuse the driver.
// Log with log/slog instead: Serve points slog's default logger at the host,
// which logs each record (with its level and attributes) in its own logger.
// What the driver still writes to os.Stdout or os.Stderr once Serve runs is
// logged by the host as "driver output" records, best effort.
//
// # Using a driver
//
// Open finds a driver binary (Config.Path; else berth-driver-<Name> in
// Config.PluginDirs, then on $PATH: see Find), checks its SHA-256 if one is configured
// (before running it), starts it and checks its protocol version
// (runtime.ProtocolVersion). The *Driver it returns implements
// runtime.Runtime; Close stops the process. If the process dies, the next
// call starts a new one; calls that only read or wait (Info, Ping, Inspect*,
// List*, Wait, Stop) are retried once on the new process, the others fail
// with runtime.ErrUnavailable. Discover lists the driver binaries installed,
// in the same places and order. A Set holds a host's drivers by name:
// each launched once on first use and shared, a launch cancelled when all
// its callers give up, and everything stopped by Close, which cancels the
// launches under way rather than wait for them.
//
// Contexts cross the wire: cancelling the host's context cancels the
// driver's, and a deadline travels with the call. Errors keep their class
// and message: an error wrapping runtime.ErrNotFound in the driver is one
// for which errors.Is(err, runtime.ErrNotFound) holds in the host, and the
// same goes for every class of runtime.Classes and for context.Canceled and
// context.DeadlineExceeded. A failure of the connection itself is
// runtime.ErrUnavailable.
//
// # Testing a driver
//
// Pair serves a runtime.Runtime over a real gRPC connection inside the test
// process, so a driver's tests (for example the conformance suite of
// package runtimetest) exercise the same code as a plugin process.
//
// # The protocol
//
// The protocol is wirepb/runtime.proto; its Go code, in package wirepb, is
// generated and checked in. go-plugin's handshake only sets up the transport
// and its version never changes; berth's protocol version is checked by the
// host once connected, over the proto's Handshake service, and a driver that
// reports another one is stopped and refused with a *VersionError (which
// wraps ErrProtocol) naming both versions. Regenerate it with `bash runtime/wire/gen.sh`
// (or `go generate ./runtime/wire`), which needs protoc, protoc-gen-go and
// protoc-gen-go-grpc.
package wire

//go:generate bash gen.sh
