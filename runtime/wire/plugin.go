package wire

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// optionsEnv is the environment variable through which the host passes
// Config.Options (as a JSON object) to the driver process.
const optionsEnv = "BERTH_DRIVER_OPTIONS"

// pluginName is the name the runtime is dispensed under.
const pluginName = "runtime"

// transportVersion is the app protocol version of go-plugin's handshake. It
// names the transport (gRPC, the Handshake service, the cookie) and never
// changes: berth's protocol version, runtime.ProtocolVersion, is checked by
// the host itself over the Handshake service once connected (checkProtocol),
// so that a mismatch is an error naming both versions. Drivers built before
// that check existed used runtime.ProtocolVersion 1 here, hence 1.
const transportVersion = 1

// handshake is go-plugin's handshake config. The cookie only tells a driver
// binary that it was started by berth.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  transportVersion,
	MagicCookieKey:   "BERTH_DRIVER_COOKIE",
	MagicCookieValue: "5f0c9a4e-berth-driver",
}

// grpcPlugin connects the shims to go-plugin. impl is set in the driver
// process only.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl runtime.Runtime
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	register(s, p.impl)
	return nil
}

// register serves impl and the Handshake service on s.
func register(s *grpc.Server, impl runtime.Runtime) {
	pb.RegisterHandshakeServer(s, handshakeServer{})
	pb.RegisterRuntimeServer(s, &server{impl: impl})
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(conn), nil
}

// Serve serves impl to the berth host that started this process, and returns
// when the host closes the driver. Call it from the driver's main function.
//
// Serve makes slog's default logger write to the host (which logs the
// records with its own logger); it must be the only use of stdout, which
// carries the handshake. Run as a plain command, not by berth, Serve prints
// a notice to stderr and exits with status 1.
func Serve(impl runtime.Runtime) {
	slog.SetDefault(slog.New(newPluginHandler(os.Stderr)))
	exitWithParent(time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{pluginName: &grpcPlugin{impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// DriverOptions returns the options the host passed in Config.Options, or
// nil if it passed none. Call it in the driver process, typically in main
// before Serve, to configure the driver (an engine address, ...).
func DriverOptions() map[string]string {
	raw := os.Getenv(optionsEnv)
	if raw == "" {
		return nil
	}
	var opts map[string]string
	if err := json.Unmarshal([]byte(raw), &opts); err != nil {
		slog.Error("wire: bad driver options from host", "env", optionsEnv, "error", err)
		return nil
	}
	return opts
}

// newPluginHandler returns a slog handler writing the JSON lines go-plugin's
// host parses as hclog records: @level, @message and @timestamp.
func newPluginHandler(w *os.File) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				level := a.Value.Any().(slog.Level)
				name := "trace"
				if level >= slog.LevelDebug {
					name = strings.ToLower(level.Level().String())
					name, _, _ = strings.Cut(name, "+")
					name, _, _ = strings.Cut(name, "-")
				}
				return slog.String("@level", name)
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}
