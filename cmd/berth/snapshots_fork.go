package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
)

// errForkUnsupported is the error of snapshots fork until the core can
// fork, in process and through a daemon (which answers 501).
var errForkUnsupported = fmt.Errorf("snapshots fork: not supported yet (%w)", errors.ErrUnsupported)

func (a *app) snapshotsForkCommand() *cobra.Command {
	var from, to client.WorkItem
	cmd := &cobra.Command{
		Use:   "fork --project ID --work-item ID [--to-project ID] --to-work-item ID",
		Short: "Start a work item from another's newest snapshot (not supported yet)",
		Long: `Give work item --to-work-item (of --to-project, default --project) the newest
snapshot of work item --work-item of --project, so that its next job starts
from it.

Not supported yet: the core cannot fork a snapshot. berth exits 125 with one
line saying so, in process and through a daemon alike.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("to-project") {
				to.Project = from.Project
			}
			if from == to {
				return fmt.Errorf("snapshots fork: --to-project and --to-work-item name the work item to fork from")
			}
			sn, err := a.fork(cmd, from, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "forked %s (generation %d, %s) to project %s work item %s\n",
				sn.Image, sn.Generation, humanBytes(sn.Size), sn.Project, sn.WorkItem)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from.Project, "project", "", "project ID of the work item to fork from (required)")
	fl.StringVar(&from.WorkItem, "work-item", "", "work item ID to fork from (required)")
	fl.StringVar(&to.Project, "to-project", "", "project ID of the new work item (default: --project)")
	fl.StringVar(&to.WorkItem, "to-work-item", "", "work item ID that gets the snapshot (required)")
	for _, name := range []string{"project", "work-item", "to-work-item"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// fork gives work item to the newest snapshot of from, through the daemon
// if one is named.
func (a *app) fork(cmd *cobra.Command, from, to client.WorkItem) (core.Snapshot, error) {
	r, err := a.remote()
	if err != nil {
		return core.Snapshot{}, err
	}
	if r != nil {
		sn, err := r.c.Fork(cmd.Context(), from, to)
		if errors.Is(err, errors.ErrUnsupported) {
			return sn, errForkUnsupported
		}
		return sn, r.err(err)
	}
	// In process: the core has no Fork yet. Once it has, open the core
	// (a.openCore) and call it here.
	return core.Snapshot{}, errForkUnsupported
}
