package main

import (
	"time"

	"github.com/berth-dev/berth/core"
)

// coreConfig maps the config file onto the core's configuration.
func (a *app) coreConfig(def string) core.Config {
	f := a.cfg
	enabled := true
	if f.Snapshots.Enabled != nil {
		enabled = *f.Snapshots.Enabled
	}
	projects := make(map[string]core.ProjectPolicy, len(f.Projects))
	for id, p := range f.Projects {
		pp := core.ProjectPolicy{Enabled: p.Enabled}
		if p.TTL != nil {
			ttl := time.Duration(*p.TTL)
			pp.TTL = &ttl
		}
		projects[id] = pp
	}
	return core.Config{
		StateDir:             a.stateDir,
		Store:                a.store,
		Registry:             a.registry,
		RegistryOptions:      a.registryOpts,
		ClusterMaxConcurrent: f.Concurrency.ClusterMax,
		Runtimes:             a.set,
		DefaultRuntime:       def,
		Policy: core.Policy{
			Enabled:        enabled,
			TTL:            time.Duration(f.Snapshots.TTL),
			MaxCount:       f.Snapshots.MaxCount,
			MaxBytes:       int64(f.Snapshots.MaxTotalSize),
			LayerLimit:     f.Snapshots.LayerLimit,
			NeverCommitEnv: f.Snapshots.NeverCommitEnv,
		},
		Projects:      projects,
		MaxConcurrent: f.Concurrency.Max,
		QueueTimeout:  time.Duration(f.Concurrency.WaitTimeout),
		StopGrace:     time.Duration(f.Job.StopGrace),
		OrphanGrace:   time.Duration(f.GC.OrphanGrace),
		GCInterval:    time.Duration(f.GC.Interval),
		Logger:        a.log,
	}
}
