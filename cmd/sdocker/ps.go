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
	var all, quiet, noTrunc, latest, size bool
	var format string
	var filters []string
	last := -1
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers (running ones unless -a)",
		Long: `List containers: running, paused and restarting ones, every one with -a.

--format takes a Go template applied to each container, with the fields
.ID .Names .Image .Command .CreatedAt .RunningFor .Status .State .Labels
.Mounts .Networks .Ports .Pid .Size and .Label "KEY"; "table TEMPLATE"
prints a header and aligns the columns ("\t" separates them); "json" prints
one JSON object per container and line.

--filter KEY=VALUE keeps the containers that match: status (created,
restarting, running, removing, paused, exited, dead; shows stopped ones
too), name (a regular expression), label (KEY or KEY=VALUE), ancestor (an
image name, name:tag or id), exited (an exit code, with -a), health
(starting, healthy, unhealthy, or none: no healthcheck) and id (an id
prefix). Several values of one key are alternatives; different keys must
all match.

--last N (-n) shows the N containers created last, in any state; --latest
(-l) is --last 1. --size (-s) adds SIZE: what the container wrote over its
image, and with the image's size ("2B (virtual 1.2MB)").`,
		Example: `  sdocker ps
  sdocker ps -a -q
  sdocker ps --format '{{.ID}} {{.Names}} {{.Status}}'
  sdocker ps -a --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}'
  sdocker ps --format json
  sdocker ps -a --filter status=exited --filter status=created
  sdocker ps --filter label=tier=web --filter ancestor=alpine
  sdocker ps -a --filter exited=137
  sdocker ps --filter health=unhealthy
  sdocker ps -l
  sdocker ps -n 3 --size`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var pf *dockerfmt.PsFormat
			if format != "" && !quiet {
				var err error
				if pf, err = dockerfmt.ParsePsFormat(format); err != nil {
					return err
				}
			}
			flt, err := engine.ParsePsFilters(filters)
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			if err := e.Collect(); err != nil {
				fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", err)
			}
			flt.ImageID = e.ImageID
			list, err := e.List()
			if err != nil {
				return err
			}
			for _, r := range list {
				e.LoadHealth(r)
			}
			// As in Docker: a status filter or --last shows every state.
			list = selectContainers(list, flt, all || last >= 0 || flt.Has("status"), last)
			now := time.Now()
			entries := make([]dockerfmt.PsEntry, 0, len(list))
			for _, r := range list {
				p := dockerfmt.NewPsEntry(r, now, !noTrunc)
				if size && !quiet {
					if p.Size, err = containerSize(e, r); err != nil {
						return err
					}
				}
				entries = append(entries, p)
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
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "keep containers that match KEY=VALUE (status, name, label, ancestor, exited, health, id)")
	cmd.Flags().IntVarP(&last, "last", "n", -1, "show the N containers created last (any state)")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "show the container created last (any state)")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "show the size each container wrote, and with its image")
	return cmd
}

// selectContainers keeps, of list (newest first), the running, paused and
// restarting containers (every one with all) that match f, at most last of
// them when last >= 0.
func selectContainers(list []*engine.Record, f *engine.PsFilter, all bool, last int) []*engine.Record {
	var out []*engine.Record
	for _, r := range list {
		if last >= 0 && len(out) == last {
			break
		}
		switch r.Status {
		case engine.StateRunning, engine.StatePaused, engine.StateRestarting:
		default:
			if !all {
				continue
			}
		}
		if f.Match(r) {
			out = append(out, r)
		}
	}
	return out
}

// containerSize is the SIZE column of ps --size for r.
func containerSize(e *engine.Engine, r *engine.Record) (string, error) {
	rw, err := e.SizeRw(r)
	if err != nil {
		return "", err
	}
	return dockerfmt.SizeString(rw, e.ImageSize(r)), nil
}
