package wire

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// VersionError is the error of Open (or of a call that relaunched the
// driver) when the driver speaks another protocol version than the host. It
// wraps ErrProtocol.
type VersionError struct {
	// Path is the driver binary.
	Path string
	// Driver is the protocol version the driver reported.
	Driver int
	// Host is the version the host speaks: runtime.ProtocolVersion.
	Host int
}

// Error names the driver and both versions.
func (e *VersionError) Error() string {
	return fmt.Sprintf("%v: driver %s speaks protocol %d, berth speaks %d", ErrProtocol, e.Path, e.Driver, e.Host)
}

// Unwrap returns ErrProtocol.
func (e *VersionError) Unwrap() error { return ErrProtocol }

// handshakeServer answers the host's Handshake with the protocol version
// this package implements.
type handshakeServer struct {
	pb.UnimplementedHandshakeServer
}

func (handshakeServer) Handshake(ctx context.Context, req *pb.HandshakeRequest) (*pb.HandshakeResponse, error) {
	if v := req.GetProtocolVersion(); v != runtime.ProtocolVersion {
		slog.WarnContext(ctx, "wire: the host speaks another protocol version; it will refuse this driver",
			"host", v, "driver", runtime.ProtocolVersion)
	}
	return &pb.HandshakeResponse{ProtocolVersion: runtime.ProtocolVersion}, nil
}

// checkProtocol asks the driver at path, reached through conn, which
// protocol version it speaks. The error wraps ErrProtocol if the driver does
// not serve the Handshake service (it is older than that service, or not a
// berth driver), is a *VersionError if it speaks another version than
// runtime.ProtocolVersion, and wraps runtime.ErrUnavailable (and ctx's
// error, if ctx is done) if the call fails.
func checkProtocol(ctx context.Context, conn grpc.ClientConnInterface, path string) error {
	resp, err := pb.NewHandshakeClient(conn).Handshake(ctx, &pb.HandshakeRequest{ProtocolVersion: runtime.ProtocolVersion})
	switch {
	case err == nil:
	case status.Code(err) == codes.Unimplemented && ctx.Err() == nil:
		return fmt.Errorf("%w: driver %s does not serve berth's version handshake (built for an older berth, or not a berth driver)",
			ErrProtocol, path)
	default:
		// fromStatus keeps ctx's error, if any, in the chain.
		return fmt.Errorf("start driver %s: %w: handshake: %w", path, runtime.ErrUnavailable, fromStatus(ctx, err))
	}
	if v := resp.GetProtocolVersion(); v != runtime.ProtocolVersion {
		return &VersionError{Path: path, Driver: int(v), Host: runtime.ProtocolVersion}
	}
	return nil
}
