package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/specgen"
)

func newPsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var all, quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Short:   "List containers (running ones unless -a)",
		Example: "  sdocker ps\n  sdocker ps -a -q",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
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
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "CONTAINER ID\tNAME\tPID\tCOMMAND\tSTATUS\tCREATED")
			}
			now := time.Now()
			for _, r := range list {
				if !all && r.Status != engine.StateRunning {
					continue
				}
				id := r.ID
				if !noTrunc {
					id = specgen.ShortID(id)
				}
				if quiet {
					fmt.Fprintln(w, id)
					continue
				}
				command := ""
				if r.Spec != nil && r.Spec.Process != nil {
					command = strings.Join(r.Spec.Process.Args, " ")
				}
				if !noTrunc && len(command) > 30 {
					command = command[:29] + "…"
				}
				pid := "-"
				if r.Status == engine.StateRunning {
					pid = fmt.Sprint(r.Pid)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%q\t%s\t%s ago\n", id, r.Name, pid, command, status(r, now), humanDuration(now.Sub(r.Created)))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print ids only")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not shorten ids and commands")
	return cmd
}

func status(r *engine.Record, now time.Time) string {
	switch r.Status {
	case engine.StateRunning:
		return "Up " + humanDuration(now.Sub(r.StartedAt))
	case engine.StateExited:
		s := fmt.Sprintf("Exited (%d) %s ago", r.ExitCode, humanDuration(now.Sub(r.FinishedAt)))
		if r.OOMKilled {
			s += " (OOM killed)"
		}
		return s
	}
	return strings.ToUpper(r.Status[:1]) + r.Status[1:]
}

// humanDuration writes d as Docker does: "Less than a second", "3 seconds", "5 minutes".
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 120:
		return "About a minute"
	case s < 3600:
		return fmt.Sprintf("%d minutes", s/60)
	case s < 7200:
		return "About an hour"
	case s < 48*3600:
		return fmt.Sprintf("%d hours", s/3600)
	default:
		return fmt.Sprintf("%d days", s/86400)
	}
}
