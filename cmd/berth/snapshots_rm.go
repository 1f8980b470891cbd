package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/runtime"
)

func (a *app) snapshotsRmCommand() *cobra.Command {
	var project, workItem string
	cmd := &cobra.Command{
		Use:   "rm --project ID --work-item ID",
		Short: "Remove a work item's snapshots (its next job starts from the base image)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.openCore(cmd.Context(), a.runtimeName(cmd))
			if err != nil {
				return err
			}
			removed, err := c.Invalidate(cmd.Context(), project, workItem)
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
