package main

import "github.com/spf13/cobra"

func (a *app) imagesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Manage base images",
	}
	cmd.AddCommand(a.imagesImportCommand())
	return cmd
}
