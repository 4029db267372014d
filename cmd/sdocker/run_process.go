package main

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/engine"
)

// processFlags are run's flags of the container's process beyond its
// command (engine.ProcessOptions).
type processFlags struct {
	o           engine.ProcessOptions
	stopTimeout int
	oomScoreAdj int
	labelFiles  []string
}

func (p *processFlags) add(f *pflag.FlagSet) {
	f.BoolVar(&p.o.Init, "init", false, "run an init as PID 1 that forwards signals and reaps orphans")
	f.StringArrayVar(&p.o.Ulimits, "ulimit", nil, "an rlimit NAME=SOFT[:HARD], e.g. nofile=1024:2048")
	f.StringVar(&p.o.StopSignal, "stop-signal", "", "the signal stop sends first (default SIGTERM)")
	f.IntVar(&p.stopTimeout, "stop-timeout", 10, "seconds stop waits before SIGKILL, -1 for ever")
	f.StringArrayVar(&p.o.GroupAdd, "group-add", nil, "a supplementary group: a gid or a name of the container's /etc/group")
	f.IntVar(&p.oomScoreAdj, "oom-score-adj", 0, "the process's OOM score adjustment, -1000..1000")
	f.StringArrayVar(&p.labelFiles, "label-file", nil, "read KEY=VALUE labels from a file")
	f.StringVar(&p.o.CIDFile, "cidfile", "", "write the container's id to a new file")
}

// options are the process options as given, and the labels of the
// --label-file's (before those of --label, which go over them).
func (p *processFlags) options(c *cobra.Command) (engine.ProcessOptions, []string, error) {
	o := p.o
	if c.Flags().Changed("stop-timeout") {
		v := p.stopTimeout
		o.StopTimeout = &v
	}
	if c.Flags().Changed("oom-score-adj") {
		v := p.oomScoreAdj
		o.OOMScoreAdj = &v
	}
	var labels []string
	for _, f := range p.labelFiles {
		l, err := readKeyValueFile("--label-file", f)
		if err != nil {
			return o, nil, err
		}
		labels = append(labels, l...)
	}
	return o, labels, nil
}

// stopTimeout is stop's and restart's -t, or the container's own when it
// is not given.
func stopTimeout(c *cobra.Command, seconds int) time.Duration {
	if !c.Flags().Changed("time") {
		return engine.ContainerStopTimeout
	}
	return time.Duration(seconds) * time.Second
}
