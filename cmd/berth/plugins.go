package main

import "github.com/spf13/cobra"

func (a *app) pluginsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "Inspect runtime drivers",
	}
	cmd.AddCommand(a.pluginsLsCommand())
	return cmd
}
