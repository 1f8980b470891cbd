package wire

import (
	"context"
	"math"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/berth-dev/berth/runtime"
)

// Pair serves impl over a real gRPC connection inside this process and
// returns the client end, so tests of a driver exercise the same shims and
// error mapping as a plugin process. The returned function closes both ends;
// call it when done.
func Pair(impl runtime.Runtime) (runtime.Runtime, func()) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	register(srv, impl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///pair",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// As go-plugin's connection: no limit on message size.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	)
	if err != nil {
		// NewClient fails only for a malformed target or options, which
		// are constant here.
		panic("wire: pair: " + err.Error())
	}
	return newClient(conn), func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	}
}
