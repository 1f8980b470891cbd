// Command driver serves memdriver as a berth driver plugin, for the tests of
// package wire. Options:
//   - "version" is reported by Info;
//   - "pidfile", if set, is a file the process writes its pid to first;
//   - "protocol", if set, makes it serve no runtime, only a Handshake that
//     reports that protocol version ("none": no Handshake service at all, as
//     a driver built before it existed; "hang": a Handshake that never
//     answers), to test the host's refusal;
//   - "block", if set, makes it write no handshake line and wait to be
//     killed, as a driver that hangs at its start.
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

func main() {
	opts := wire.DriverOptions()
	if f := opts["pidfile"]; f != "" {
		if err := os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			panic(err)
		}
	}
	if opts["block"] != "" {
		time.Sleep(24 * time.Hour) // until the host kills it
		return
	}
	if v := opts["protocol"]; v != "" {
		serveProtocol(v)
		return
	}
	rt := memdriver.New(opts["version"])
	rt.Log = slog.Info
	wire.Serve(rt)
}

// serveProtocol serves, over wire's transport (its go-plugin handshake,
// copied here: wire does not export it), a Handshake service reporting
// protocol version v, or none if v is "none".
func serveProtocol(v string) {
	p := versionPlugin{}
	switch v {
	case "none":
	case "hang":
		p.hs = hang{}
	default:
		n, err := strconv.Atoi(v)
		if err != nil {
			panic(err)
		}
		p.hs = handshake{version: int64(n)}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "BERTH_DRIVER_COOKIE",
			MagicCookieValue: "5f0c9a4e-berth-driver",
		},
		Plugins:    plugin.PluginSet{"runtime": p},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}

// versionPlugin serves hs, if set, and nothing else.
type versionPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	hs pb.HandshakeServer
}

func (p versionPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.hs != nil {
		pb.RegisterHandshakeServer(s, p.hs)
	}
	return nil
}

func (versionPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// handshake reports version.
type handshake struct {
	pb.UnimplementedHandshakeServer
	version int64
}

// hang never answers.
type hang struct {
	pb.UnimplementedHandshakeServer
}

func (hang) Handshake(ctx context.Context, _ *pb.HandshakeRequest) (*pb.HandshakeResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (h handshake) Handshake(context.Context, *pb.HandshakeRequest) (*pb.HandshakeResponse, error) {
	return &pb.HandshakeResponse{ProtocolVersion: h.version}, nil
}
