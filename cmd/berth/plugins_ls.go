package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/api"
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
		Long: `List every driver found in the plugin directories and on PATH, with its
version, engine version, capabilities and health (each driver is launched and
asked).

Through a daemon (--host, BERTH_HOST or the config's host) it lists the
daemon's runtimes instead (GET /v1/runtimes: those jobs may name there, the
default first), as the daemon sees them; PATH is then the runtime's driver as
the daemon's config names it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos, err := a.plugins(cmd.Context())
			if err != nil {
				return err
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

// plugins probes the drivers found, or asks the daemon for its runtimes
// if one is named.
func (a *app) plugins(ctx context.Context) ([]pluginInfo, error) {
	r, err := a.remote()
	if err != nil {
		return nil, err
	}
	if r != nil {
		rts, err := r.c.Runtimes(ctx)
		if err != nil {
			return nil, r.err(err)
		}
		infos := make([]pluginInfo, len(rts))
		for i, rt := range rts {
			infos[i] = pluginOfRuntime(rt)
		}
		return infos, nil
	}
	paths, err := wire.Discover(a.pluginDirs)
	if err != nil {
		return nil, err
	}
	infos := make([]pluginInfo, 0, len(paths))
	for _, p := range paths {
		infos = append(infos, a.probePlugin(ctx, p))
	}
	return infos, nil
}

// pluginOfRuntime is what plugins ls shows of a daemon's runtime.
func pluginOfRuntime(rt api.Runtime) pluginInfo {
	info := pluginInfo{Name: rt.Name, Path: deref(rt.Driver), Version: deref(rt.Version),
		EngineVersion: deref(rt.EngineVersion), ProtocolVersion: deref(rt.ProtocolVersion),
		Healthy: rt.Healthy, Health: rt.Health}
	for _, c := range rt.Capabilities {
		info.Capabilities = append(info.Capabilities, runtime.Capability(c))
	}
	return info
}

// deref is *p, or the zero value if p is nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
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
