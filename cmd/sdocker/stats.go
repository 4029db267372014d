package main

import (
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

func newStatsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.StatsOptions
	var noStream, noTrunc bool
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Show the resource usage of containers",
		Long: `Show CPU, memory, network, block I/O and process counts of containers,
refreshed every second until interrupted (--no-stream: once). Without
CONTAINER, every running container (every one with -a).

CPU % is Docker's: the container's CPU time over the host's total CPU time
between two samples, times the number of online CPUs, so 100% is one CPU.
MEM USAGE leaves out the inactive page cache; LIMIT is the memory limit, or
the host's memory when there is none. NET I/O counts every interface of the
container's network namespace but lo (nothing for --network host). BLOCK I/O
is what the cgroup read and wrote.`,
		Example: `  sdocker stats
  sdocker stats --no-stream web db`,
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Refs, o.Stream = args, !noStream
			o.Show = statsTable(os.Stdout, o.Stream && engine.IsTerminal(os.Stdout), !noTrunc)
			stop := make(chan struct{})
			o.Stop = stop
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE)
			defer signal.Stop(sigs)
			go func() {
				if _, ok := <-sigs; ok {
					close(stop)
				}
			}()
			return e.Stats(o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noStream, "no-stream", false, "print one table and exit")
	f.BoolVarP(&o.All, "all", "a", false, "show every container, not only running ones")
	f.BoolVar(&noTrunc, "no-trunc", false, "show full container ids")
	return cmd
}

// statsTable writes each refresh of `stats` as a table, on a cleared screen
// with clearScreen (otherwise each table follows the previous one).
func statsTable(w io.Writer, clearScreen, trunc bool) func([]*engine.StatsSample, map[string]*engine.StatsSample) error {
	return func(cur []*engine.StatsSample, prev map[string]*engine.StatsSample) error {
		if clearScreen {
			if _, err := io.WriteString(w, "\033[2J\033[H"); err != nil {
				return err
			}
		}
		return dockerfmt.WriteStatsTable(w, dockerfmt.StatsRows(cur, prev), trunc)
	}
}
