package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

func (a *app) snapshotsForkCommand() *cobra.Command {
	var from, to core.WorkItem
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fork --project ID --work-item ID [--to-project ID] --to-work-item ID",
		Short: "Start a work item from another's newest snapshot",
		Long: `Give work item --to-work-item (of --to-project, default --project) the newest
snapshot of work item --work-item of --project, so that its next job starts
from it. The snapshot's image is copied as the new work item's own (its
snapshot until then is replaced); the first work item keeps its snapshot.
berth prints the new snapshot as snapshots ls does, or with --json as one
JSON object. A runtime that cannot copy images (capability "copy") refuses
the fork: berth exits 125 with one line saying so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("to-project") {
				to.Project = from.Project
			}
			if from == to {
				return fmt.Errorf("snapshots fork: --to-project and --to-work-item name the work item to fork from")
			}
			sn, err := a.fork(cmd, from, to)
			if errors.Is(err, runtime.ErrNotFound) {
				return fmt.Errorf("no snapshot of project %q work item %q", from.Project, from.WorkItem)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sn)
			}
			return printSnapshots(a, []core.Snapshot{sn})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from.Project, "project", "", "project ID of the work item to fork from (required)")
	fl.StringVar(&from.WorkItem, "work-item", "", "work item ID to fork from (required)")
	fl.StringVar(&to.Project, "to-project", "", "project ID of the new work item (default: --project)")
	fl.StringVar(&to.WorkItem, "to-work-item", "", "work item ID that gets the snapshot (required)")
	fl.BoolVar(&asJSON, "json", false, "print the new snapshot as a JSON object")
	for _, name := range []string{"project", "work-item", "to-work-item"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// fork gives work item to the newest snapshot of from, through the daemon
// if one is named.
func (a *app) fork(cmd *cobra.Command, from, to core.WorkItem) (core.Snapshot, error) {
	r, err := a.remote()
	if err != nil {
		return core.Snapshot{}, err
	}
	if r != nil {
		sn, err := r.c.Fork(cmd.Context(), from, to)
		return sn, r.err(err)
	}
	c, err := a.openCore(cmd.Context(), a.runtimeName(cmd))
	if err != nil {
		return core.Snapshot{}, err
	}
	return c.Fork(cmd.Context(), from, to)
}
