package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newLogsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.LogsOptions
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Show the output of a detached container",
		Long: `Show what a detached container wrote: its stdout on stdout, its stderr on
stderr (a container with a terminal has one stream, stdout). A container run
in the foreground keeps no log: nothing is shown.

--since and --until take an RFC 3339 timestamp (2024-05-01T10:00:00Z, or
without a zone for local time), Unix seconds (1714557600 or 1714557600.5),
or a duration counted back from now (10m, 1h30m).`,
		Example: `  sdocker logs web
  sdocker logs -f --tail 20 web
  sdocker logs -t --since 10m web`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.Tail, err = engine.ParseTail(tail); err != nil {
				return err
			}
			now := time.Now()
			if o.Since, err = engine.ParseSince(since, now); err != nil {
				return err
			}
			if o.Until, err = engine.ParseSince(until, now); err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Stdout, o.Stderr = os.Stdout, os.Stderr
			return e.Logs(args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new output until the container stops")
	f.StringVarP(&tail, "tail", "n", "all", "show only the last N lines (or all)")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "prefix each line with its time (RFC 3339, nanoseconds)")
	f.StringVar(&since, "since", "", "show lines since a time (timestamp, Unix seconds, or duration such as 10m)")
	f.StringVar(&until, "until", "", "show lines before a time (timestamp, Unix seconds, or duration such as 10m)")
	return cmd
}
