package main

import "github.com/spf13/cobra"

func (a *app) snapshotsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List and remove the snapshots of work items",
	}
	cmd.AddCommand(a.snapshotsLsCommand(), a.snapshotsRmCommand())
	return cmd
}
