package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

func (a *app) snapshotsRmCommand() *cobra.Command {
	var project, workItem string
	cmd := &cobra.Command{
		Use:   "rm --project ID --work-item ID",
		Short: "Remove a work item's snapshots (its next job starts from the base image)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := a.invalidate(cmd, project, workItem)
			if errors.Is(err, runtime.ErrNotFound) {
				return fmt.Errorf("no snapshot of project %q work item %q", project, workItem)
			}
			if err != nil {
				return err
			}
			for _, s := range removed {
				fmt.Fprintf(a.stdout, "removed %s (generation %d, %s)\n", s.Image, s.Generation, humanBytes(s.Size))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "project ID (required)")
	cmd.Flags().StringVar(&workItem, "work-item", "", "work item ID (required)")
	_ = cmd.MarkFlagRequired("project")
	_ = cmd.MarkFlagRequired("work-item")
	return cmd
}

// invalidate removes the snapshots of a work item, through the daemon if
// one is named.
func (a *app) invalidate(cmd *cobra.Command, project, workItem string) ([]core.Snapshot, error) {
	r, err := a.remote()
	if err != nil {
		return nil, err
	}
	if r != nil {
		if workItem == "" {
			// The API's DELETE without a work item is the whole
			// project's; the core has no snapshot of an empty work item.
			return nil, runtime.ErrNotFound
		}
		removed, err := r.c.DeleteSnapshots(cmd.Context(), project, workItem)
		return removed, r.err(err)
	}
	c, err := a.openCore(cmd.Context(), a.runtimeName(cmd))
	if err != nil {
		return nil, err
	}
	return c.Invalidate(cmd.Context(), project, workItem)
}
