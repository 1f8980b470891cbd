package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
)

// pluginInfo describes one driver binary found.
type pluginInfo struct {
	Name            string               `json:"name"`
	Path            string               `json:"path"`
	Version         string               `json:"version"`
	EngineVersion   string               `json:"engine_version"`
	ProtocolVersion int                  `json:"protocol_version"`
	Capabilities    []runtime.Capability `json:"capabilities"`
	Healthy         bool                 `json:"healthy"`
	Health          string               `json:"health"`
}

func (a *app) pluginsLsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List every driver found, with its version, engine version, capabilities and health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			paths, err := wire.Discover(a.pluginDirs)
			if err != nil {
				return err
			}
			infos := make([]pluginInfo, 0, len(paths))
			for _, p := range paths {
				infos = append(infos, a.probePlugin(cmd.Context(), p))
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tENGINE\tCAPABILITIES\tHEALTH\tPATH")
			for _, i := range infos {
				caps := make([]string, len(i.Capabilities))
				for j, c := range i.Capabilities {
					caps[j] = string(c)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, orDash(i.Version), orDash(i.EngineVersion),
					orDash(strings.Join(caps, ",")), i.Health, i.Path)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// probePlugin launches the driver at path with the settings of the runtime
// of the same name and asks for its info and health.
func (a *app) probePlugin(ctx context.Context, path string) pluginInfo {
	name := wire.DriverName(path)
	info := pluginInfo{Name: name, Path: path}
	rt, ok := a.cfg.Runtime(name)
	if !ok {
		rt = config.Runtime{Driver: name}
	}
	wc := a.set.driverConfig(path, rt)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := wire.Open(ctx, wc)
	if err != nil {
		info.Health = "cannot start: " + oneLine(err.Error())
		return info
	}
	defer d.Close()
	if i, err := d.Info(ctx); err == nil {
		info.Version, info.EngineVersion = i.Version, i.EngineVersion
		info.ProtocolVersion, info.Capabilities = i.ProtocolVersion, i.Capabilities
	}
	if err := d.Ping(ctx); err != nil {
		info.Health = "unavailable: " + oneLine(err.Error())
		return info
	}
	info.Healthy, info.Health = true, "ok"
	return info
}
