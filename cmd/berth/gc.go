package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/core"
)

func (a *app) gcCommand() *cobra.Command {
	var dryRun, asJSON bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Evict expired snapshots and remove orphaned containers and dangling images",
		Long: `Sweep berth's state and the runtime: evict snapshots past their TTL or over
the count and size caps, drop entries whose image is gone, and remove managed
containers left by jobs that died (older than the orphan grace) and managed
images no snapshot refers to.

Through a daemon (--host, BERTH_HOST or the config's host) the daemon
sweeps its own runtimes, with its config (and --orphan-grace if given).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := core.SweepOptions{DryRun: dryRun}
			if cmd.Flags().Changed("orphan-grace") {
				if grace < 0 {
					return fmt.Errorf("--orphan-grace %s: must not be negative", grace)
				}
				// The core reads 0 as "the configured grace": the smallest
				// positive grace stands for none.
				opts.OrphanGrace = max(grace, time.Nanosecond)
			}
			rep, err := a.sweep(cmd, opts)
			if err != nil {
				return err
			}
			if asJSON {
				nonNil(&rep)
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printSweep(a, rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed, remove nothing")
	cmd.Flags().DurationVar(&grace, "orphan-grace", 0, "remove orphaned containers older than this (default: gc.orphan_grace of the config, else 1m)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// sweep sweeps as opts says, through the daemon if one is named.
func (a *app) sweep(cmd *cobra.Command, opts core.SweepOptions) (core.SweepReport, error) {
	r, err := a.remote()
	if err != nil {
		return core.SweepReport{}, err
	}
	if r != nil {
		rep, err := r.c.GC(cmd.Context(), opts)
		return rep, r.err(err)
	}
	name, err := a.resolveRuntime(cmd)
	if err != nil {
		return core.SweepReport{}, err
	}
	c, err := a.openCore(cmd.Context(), name)
	if err != nil {
		return core.SweepReport{}, err
	}
	return c.Sweep(cmd.Context(), opts)
}

func printSweep(a *app, r core.SweepReport) {
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	for _, s := range r.Evicted {
		fmt.Fprintf(a.stdout, "%s snapshot %s (project %s, work item %s, generation %d)\n", verb, s.Image, s.Project, s.WorkItem, s.Generation)
	}
	for _, s := range r.DroppedEntries {
		fmt.Fprintf(a.stdout, "%s entry of %s (image gone)\n", verb, s.Image)
	}
	for _, img := range r.AdoptedImages {
		fmt.Fprintf(a.stdout, "adopted image %s\n", img)
	}
	for _, img := range r.RemovedImages {
		fmt.Fprintf(a.stdout, "%s image %s\n", verb, img)
	}
	for _, id := range r.RemovedContainers {
		fmt.Fprintf(a.stdout, "%s container %s\n", verb, id)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(a.stdout, "skipped %s (in use)\n", s)
	}
	fmt.Fprintf(a.stderr, "berth: gc: %s %d snapshots, %d images, %d containers; %s reclaimed\n", verb,
		len(r.Evicted), len(r.RemovedImages), len(r.RemovedContainers), humanBytes(r.BytesReclaimed))
}

// nonNil makes the report's empty lists print as [] rather than null.
func nonNil(r *core.SweepReport) {
	for _, l := range []*[]core.Snapshot{&r.Evicted, &r.DroppedEntries} {
		if *l == nil {
			*l = []core.Snapshot{}
		}
	}
	for _, l := range []*[]string{&r.AdoptedImages, &r.RemovedImages, &r.RemovedContainers, &r.Skipped} {
		if *l == nil {
			*l = []string{}
		}
	}
}
