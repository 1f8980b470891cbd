// Command driver serves memdriver as a berth driver plugin, for the tests of
// package wire. Options: "version" is reported by Info; "protocol", if set,
// makes it speak that protocol version instead (to test the host's refusal).
package main

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
)

func main() {
	opts := wire.DriverOptions()
	if v := opts["protocol"]; v != "" {
		serveProtocol(v)
		return
	}
	rt := memdriver.New(opts["version"])
	rt.Log = slog.Info
	wire.Serve(rt)
}

// serveProtocol serves an empty plugin speaking protocol version v, with
// wire's handshake cookie (copied here: wire does not export it).
func serveProtocol(v string) {
	n, err := strconv.Atoi(v)
	if err != nil {
		panic(err)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  uint(n),
			MagicCookieKey:   "BERTH_DRIVER_COOKIE",
			MagicCookieValue: "5f0c9a4e-berth-driver",
		},
		Plugins:    plugin.PluginSet{"runtime": emptyPlugin{}},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}

type emptyPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (emptyPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (emptyPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
