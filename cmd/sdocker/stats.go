package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

// sparkWidth is how many refreshes the live view's sparklines show: the
// last minute at one a second.
const sparkWidth = 60

func newStatsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.StatsOptions
	var noStream, noTrunc bool
	var record, plot string
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
is what the cgroup read and wrote.

On a terminal, each refresh also draws a sparkline per container over the
last minute: CPU %, memory usage, pids and, on cgroup v2, the CPU and memory
pressure (PSI "some": the share of the time a task of the container waited
for a CPU, for memory), each scaled from 0 to its top in that minute (at
least one CPU for CPU %, 10% for pressure).

--record DURATION --plot FILE.svg samples for DURATION (up to 30 times, at
most one second apart), then writes an SVG chart with a panel per metric
and a line per container; an interrupt ends the recording early.`,
		Example: `  sdocker stats
  sdocker stats --no-stream web db
  sdocker stats --record 60s --plot usage.svg web db`,
		RunE: func(c *cobra.Command, args []string) error {
			rec, err := checkRecord(c, record, plot, noStream)
			if err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Refs, o.Stream = args, !noStream
			stop := make(chan struct{})
			var once sync.Once
			end := func() { once.Do(func() { close(stop) }) }
			o.Stop = stop
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE)
			defer signal.Stop(sigs)
			go func() {
				if _, ok := <-sigs; ok {
					end()
				}
			}()
			if rec != nil {
				return rec.run(e, o, end)
			}
			o.Show = statsTable(os.Stdout, o.Stream && engine.IsTerminal(os.Stdout), !noTrunc, func() int { return terminalColumns(os.Stdout) })
			return e.Stats(o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noStream, "no-stream", false, "print one table and exit")
	f.BoolVarP(&o.All, "all", "a", false, "show every container, not only running ones")
	f.BoolVar(&noTrunc, "no-trunc", false, "show full container ids")
	f.StringVar(&record, "record", "", "sample for DURATION (e.g. 60s, 2m), then write the chart of --plot")
	f.StringVar(&plot, "plot", "", "with --record: write an SVG chart of the samples to FILE")
	return cmd
}

// statsTable writes each refresh of `stats` as a table, on a cleared screen
// with clearScreen (otherwise each table follows the previous one); on a
// cleared screen the sparklines of the last minute follow it, as wide as
// the terminal's columns allow.
func statsTable(w io.Writer, clearScreen, trunc bool, columns func() int) func([]*engine.StatsSample, map[string]*engine.StatsSample) error {
	h := &dockerfmt.StatsHistory{Limit: sparkWidth}
	return func(cur []*engine.StatsSample, prev map[string]*engine.StatsSample) error {
		rows := dockerfmt.StatsRows(cur, prev)
		if clearScreen {
			if _, err := io.WriteString(w, "\033[2J\033[H"); err != nil {
				return err
			}
		}
		if err := dockerfmt.WriteStatsTable(w, rows, trunc); err != nil || !clearScreen {
			return err
		}
		h.Add(rows)
		// The rest of a sparkline's line: its name, last value and top.
		width := min(sparkWidth, columns()-sparkMargin)
		if width < 10 {
			return nil
		}
		return h.WriteSparklines(w, rows, width, trunc)
	}
}

// sparkMargin is what a line of sparklines takes beside the sparkline.
const sparkMargin = 40

// terminalColumns is the width of the terminal f, or a wide one's when
// unknown.
func terminalColumns(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return sparkWidth + sparkMargin
	}
	return int(ws.Col)
}

// statsRecord is a `stats --record D --plot FILE` in progress: the chart
// is written to a hidden temporary file beside FILE, made before the
// recording (so that an unwritable place fails at once) and renamed to
// FILE once written.
type statsRecord struct {
	d    time.Duration
	path string
	tmp  *os.File
}

// checkRecord checks the flags of a recording; nil without --record.
func checkRecord(c *cobra.Command, record, plot string, noStream bool) (*statsRecord, error) {
	recording, plotting := c.Flags().Changed("record"), c.Flags().Changed("plot")
	switch {
	case !recording && !plotting:
		return nil, nil
	case !recording:
		return nil, fmt.Errorf("--plot needs --record DURATION")
	case !plotting || plot == "":
		return nil, fmt.Errorf("--record needs --plot FILE.svg")
	case noStream:
		return nil, fmt.Errorf("--record cannot be combined with --no-stream")
	}
	d, err := time.ParseDuration(record)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("--record %q: give a positive duration, e.g. 60s or 2m", record)
	}
	if st, err := os.Stat(plot); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--plot %s: is a directory", plot)
	}
	tmp, err := os.CreateTemp(filepath.Dir(plot), "."+filepath.Base(plot)+".*")
	if err != nil {
		return nil, fmt.Errorf("--plot %s: %w", plot, err)
	}
	return &statsRecord{d: d, path: plot, tmp: tmp}, nil
}

// run records, ending after r.d or when end is called (an interrupt), and
// writes the chart; on failure it leaves no file.
func (r *statsRecord) run(e *engine.Engine, o engine.StatsOptions, end func()) (err error) {
	defer func() {
		if err != nil {
			r.tmp.Close()
			if rerr := os.Remove(r.tmp.Name()); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove %s: %w", r.tmp.Name(), rerr))
			}
		}
	}()
	o.Interval = min(max(r.d/30, 200*time.Millisecond), time.Second)
	o.FirstInterval = o.Interval
	h := &dockerfmt.StatsHistory{}
	start := time.Now()
	o.Show = func(cur []*engine.StatsSample, prev map[string]*engine.StatsSample) error {
		h.Add(dockerfmt.StatsRows(cur, prev))
		if time.Since(start) >= r.d {
			end()
		}
		return nil
	}
	if err := e.Stats(o); err != nil {
		return err
	}
	if len(h.Series) == 0 {
		return errors.New("stats --record: no running container to record")
	}
	if err := dockerfmt.WriteStatsSVG(r.tmp, h, start, r.d); err != nil {
		return fmt.Errorf("write %s: %w", r.tmp.Name(), err)
	}
	if err := r.tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", r.tmp.Name(), err)
	}
	if err := r.tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", r.tmp.Name(), err)
	}
	if err := os.Rename(r.tmp.Name(), r.path); err != nil {
		return fmt.Errorf("write %s: %w", r.path, err)
	}
	return nil
}
