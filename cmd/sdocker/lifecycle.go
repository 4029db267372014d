package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/specgen"
)

// eachContainer runs fn for every reference (of a container, or of a
// volume) and prints the ones that worked.
func eachContainer(openEngine func() (*engine.Engine, error), refs []string, fn func(*engine.Engine, string) error) error {
	e, err := openEngine()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		if err := fn(e, ref); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(ref)
	}
	return errors.Join(errs...)
}

func newStartCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	o := engine.AttachOptions{Stdout: os.Stdout, Stderr: os.Stderr, SigProxy: true}
	c := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER...",
		Short: "Start stopped containers (detached, or attached with -a)",
		Long: `Start stopped containers, detached (watched by their monitors), and print
their names. With -a, start one container and attach to it as 'attach' does,
from its first output on, ending with its exit status; with -i, pass it
stdin too (if it was created with -i: see 'create' and 'attach').`,
		Example: `  sdocker start web
  sdocker start -a job
  echo hi | sdocker start -a -i cat`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !attach && !interactive {
				return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Start(ref) })
			}
			if len(args) > 1 {
				return fmt.Errorf("start -a or -i attaches to one container: give one")
			}
			if interactive {
				o.Keys = os.Stdin
			}
			return attachWith(openEngine, detachKeys, o, func(e *engine.Engine, o engine.AttachOptions) (int, error) {
				return e.StartAttach(args[0], o)
			})
		},
	}
	f := c.Flags()
	f.BoolVarP(&attach, "attach", "a", false, "attach to the container's output (and stdin with -i)")
	f.BoolVarP(&interactive, "interactive", "i", false, "attach stdin (implies -a)")
	f.StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "the keys that end the attach, the container still running (with -i)")
	return c
}

func newStopCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var seconds int
	c := &cobra.Command{
		Use:     "stop [OPTIONS] CONTAINER...",
		Short:   "Stop containers: their stop signal (SIGTERM), then SIGKILL after a timeout",
		Example: "  sdocker stop -t 2 web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if seconds < 0 {
				return fmt.Errorf("--time %d: must not be negative", seconds)
			}
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error {
				return e.Stop(ref, stopTimeout(c, seconds))
			})
		},
	}
	c.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)")
	return c
}

func newRestartCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var seconds int
	c := &cobra.Command{
		Use:     "restart [OPTIONS] CONTAINER...",
		Short:   "Stop containers (if running) and start them again",
		Example: "  sdocker restart web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if seconds < 0 {
				return fmt.Errorf("--time %d: must not be negative", seconds)
			}
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error {
				return e.Restart(ref, stopTimeout(c, seconds))
			})
		},
	}
	c.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)")
	return c
}

func newKillCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var signal string
	c := &cobra.Command{
		Use:     "kill [OPTIONS] CONTAINER...",
		Short:   "Send a signal (default SIGKILL) to containers",
		Example: "  sdocker kill web\n  sdocker kill -s HUP web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sig, err := launch.ParseSignal(signal)
			if err != nil {
				return err
			}
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Kill(ref, sig) })
		},
	}
	c.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send")
	return c
}

func newWaitCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "wait CONTAINER...",
		Short:   "Wait until containers stop, then print their exit codes",
		Example: "  sdocker wait web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				code, err := e.Wait(ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(code)
			}
			return errors.Join(errs...)
		},
	}
}

func newPauseCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER...",
		Short: "Freeze every process of containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Pause(ref) })
		},
	}
}

func newUnpauseCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER...",
		Short: "Thaw paused containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Unpause(ref) })
		},
	}
}

func newUpdateCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var memory, memorySwap string
	var cpus float64
	var cpuQuota, cpuPeriod, cpuShares, pids int64
	var cpuset string
	var rf resourceFlags
	c := &cobra.Command{
		Use:     "update [OPTIONS] CONTAINER...",
		Short:   "Change the memory, CPU and pids limits of containers",
		Example: "  sdocker update --memory 256m --cpus 1.5 --pids-limit 200 web",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f := c.Flags()
			if f.NFlag() == 0 {
				return fmt.Errorf("give at least one limit to change")
			}
			change := func(l *specgen.Limits) error {
				if f.Changed("memory") {
					v, err := specgen.ParseBytes(memory)
					if err != nil {
						return fmt.Errorf("--memory: %w", err)
					}
					l.Memory = v
				}
				if f.Changed("memory-swap") {
					v, err := specgen.ParseBytes(memorySwap)
					if err != nil {
						return fmt.Errorf("--memory-swap: %w", err)
					}
					l.MemorySwap = v
				}
				if f.Changed("cpus") {
					l.CPUs, l.CPUQuota, l.CPUPeriod = cpus, 0, 0
				}
				if f.Changed("cpu-quota") {
					l.CPUQuota, l.CPUs = cpuQuota, 0
				}
				if f.Changed("cpu-period") {
					l.CPUPeriod, l.CPUs = cpuPeriod, 0
				}
				if f.Changed("cpu-shares") {
					l.CPUShares = cpuShares
				}
				if f.Changed("pids-limit") {
					l.PidsLimit = pids
				}
				if f.Changed("cpuset-cpus") {
					l.CpusetCpus = cpuset
				}
				return rf.apply(c, &l.MoreLimits)
			}
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Update(ref, change) })
		},
	}
	f := c.Flags()
	f.StringVarP(&memory, "memory", "m", "", "memory limit, e.g. 256m")
	f.StringVar(&memorySwap, "memory-swap", "", "memory plus swap, -1 unlimited")
	f.Float64Var(&cpus, "cpus", 0, "number of CPUs")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "CPU CFS quota in microseconds")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "CPU CFS period in microseconds")
	f.Int64Var(&cpuShares, "cpu-shares", 0, "CPU shares")
	f.Int64Var(&pids, "pids-limit", 0, "maximum number of processes, -1 unlimited")
	f.StringVar(&cpuset, "cpuset-cpus", "", "CPUs to use")
	rf.addUpdate(f)
	return c
}
