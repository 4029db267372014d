package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/engine"
)

// healthFlags are run's healthcheck options (engine.HealthOptions).
type healthFlags struct {
	cmd, interval, timeout, startPeriod string
	retries                             int
	o                                   engine.HealthOptions
}

func (h *healthFlags) add(f *pflag.FlagSet) {
	f.StringVar(&h.cmd, "health-cmd", "", "a command that tells whether the container is healthy (exit 0), run with /bin/sh -c in it (over the image's HEALTHCHECK)")
	f.StringVar(&h.interval, "health-interval", "", "time between two checks (default: the image's, else 30s)")
	f.StringVar(&h.timeout, "health-timeout", "", "time a check may take, else it fails (default: the image's, else 30s)")
	f.StringVar(&h.startPeriod, "health-start-period", "", "time after the start during which failures do not count (default: the image's, else 0s)")
	f.IntVar(&h.retries, "health-retries", 0, "failures in a row that make the container unhealthy (default: the image's, else 3)")
	f.BoolVar(&h.o.None, "no-healthcheck", false, "run without the image's HEALTHCHECK")
	f.StringVar(&h.o.OnFailure, "health-on-failure", "none", "what is done once the container is unhealthy: none, kill, restart or stop")
}

// options are the healthcheck options as given.
func (h *healthFlags) options(c *cobra.Command) engine.HealthOptions {
	o := h.o
	set := func(name string, v *string) *string {
		if !c.Flags().Changed(name) {
			return nil
		}
		s := *v
		return &s
	}
	o.Cmd = set("health-cmd", &h.cmd)
	o.Interval = set("health-interval", &h.interval)
	o.Timeout = set("health-timeout", &h.timeout)
	o.StartPeriod = set("health-start-period", &h.startPeriod)
	if c.Flags().Changed("health-retries") {
		v := h.retries
		o.Retries = &v
	}
	return o
}

func newHealthcheckCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Run a container's healthcheck",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return fmt.Errorf("give a subcommand: run (see '%s --help')", c.CommandPath())
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run CONTAINER",
		Short: "Run a container's healthcheck now (exit 0: it passed, 1: it failed)",
		Long: `Run the healthcheck of a running container once, as its monitor does every
interval: the result is recorded (inspect's State.Health), a change of
status is an event, and an unhealthy container meets its --health-on-failure.
Exit status 0 when the check passed; 1 when it failed, and the container's
health status is printed (starting, healthy or unhealthy); 2 when the
container is paused (it is not checked); 125 when it could not run (no such
container, not running, no healthcheck).`,
		Example: `  sdocker healthcheck run web && echo healthy`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			res, err := e.Healthcheck(args[0])
			if errors.Is(err, engine.ErrPaused) {
				return &exitError{code: engine.HealthcheckPausedStatus, err: err}
			}
			if err != nil {
				return err
			}
			if !res.Passed {
				fmt.Fprintln(os.Stdout, res.Status)
				return exitCode(1)
			}
			return nil
		},
	})
	return cmd
}
