// Package wirepb holds the Go code generated from runtime.proto, the gRPC
// protocol of berth drivers. Only package wire uses it: driver authors code
// against runtime.Runtime and serve it with wire.Serve.
//
// Regenerate with: bash runtime/wire/gen.sh
package wirepb
