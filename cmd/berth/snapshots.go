package main

import "github.com/spf13/cobra"

func (a *app) snapshotsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List, remove and fork the snapshots of work items",
	}
	cmd.AddCommand(a.snapshotsLsCommand(), a.snapshotsRmCommand(), a.snapshotsForkCommand())
	return cmd
}
