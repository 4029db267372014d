package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

func newPsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var all, quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers (running ones unless -a)",
		Long: `List containers: running, paused and restarting ones, every one with -a.

--format takes a Go template applied to each container, with the fields
.ID .Names .Image .Command .CreatedAt .RunningFor .Status .State .Labels
.Mounts .Networks .Ports .Pid and .Label "KEY"; "table TEMPLATE" prints a
header and aligns the columns ("\t" separates them); "json" prints one JSON
object per container and line.`,
		Example: `  sdocker ps
  sdocker ps -a -q
  sdocker ps --format '{{.ID}} {{.Names}} {{.Status}}'
  sdocker ps -a --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}'
  sdocker ps --format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var pf *dockerfmt.PsFormat
			if format != "" && !quiet {
				var err error
				if pf, err = dockerfmt.ParsePsFormat(format); err != nil {
					return err
				}
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			if err := e.Collect(); err != nil {
				fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", err)
			}
			list, err := e.List()
			if err != nil {
				return err
			}
			now := time.Now()
			var entries []dockerfmt.PsEntry
			for _, r := range list {
				switch r.Status {
				case engine.StateRunning, engine.StatePaused, engine.StateRestarting:
				default:
					if !all {
						continue
					}
				}
				entries = append(entries, dockerfmt.NewPsEntry(r, now, !noTrunc))
			}
			out := bufio.NewWriter(os.Stdout)
			switch {
			case quiet:
				for _, p := range entries {
					fmt.Fprintln(out, p.ID)
				}
			case pf == nil:
				err = dockerfmt.WritePsTable(out, entries)
			default:
				err = dockerfmt.WritePsFormat(out, pf, entries)
			}
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print ids only")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not shorten ids and commands")
	cmd.Flags().StringVar(&format, "format", "", `a Go template, "table TEMPLATE", or "json"`)
	return cmd
}
