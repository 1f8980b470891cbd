package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/core"
)

func (a *app) snapshotsLsCommand() *cobra.Command {
	var project string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snaps, err := a.snapshots(cmd, project)
			if err != nil {
				return err
			}
			if snaps == nil {
				snaps = []core.Snapshot{}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(snaps)
			}
			return printSnapshots(a, snaps)
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "only this project's snapshots")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// snapshots lists the snapshots of project ("" for all), from the daemon
// if one is named.
func (a *app) snapshots(cmd *cobra.Command, project string) ([]core.Snapshot, error) {
	r, err := a.remote()
	if err != nil {
		return nil, err
	}
	if r != nil {
		snaps, err := r.c.Snapshots(cmd.Context(), project)
		return snaps, r.err(err)
	}
	c, err := a.openCore(cmd.Context(), a.runtimeName(cmd))
	if err != nil {
		return nil, err
	}
	return c.Snapshots(cmd.Context(), project)
}

func printSnapshots(a *app, snaps []core.Snapshot) error {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECT\tWORK ITEM\tGEN\tIMAGE\tSIZE\tLAYERS\tCREATED\tLAST USED\tRUNTIME")
	for _, s := range snaps {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Project, s.WorkItem, s.Generation,
			s.Image, humanBytes(s.Size), s.Layers, s.Created.Local().Format(time.DateTime),
			s.LastUsed.Local().Format(time.DateTime), s.Runtime)
	}
	return w.Flush()
}
