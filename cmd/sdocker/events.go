package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

func newEventsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Show the engine's container events as they happen",
		Long: `Show container events (create, start, die, oom, kill, stop, pause, unpause, rename,
health_status: healthy|unhealthy, destroy) as they happen, until --until or until interrupted. With --since, the
recorded events since then come first. Commands and container monitors append
the events to ROOT/events.log (rotated to events.log.1 at 1 MiB).

--since and --until take an RFC 3339 timestamp, Unix seconds, or a duration
counted back from now (10m). --filter takes container=NAME|ID, event=ACTION
(event=health_status: each health status), type=container, label=KEY or label=KEY=VALUE; repeated keys are alternatives.
--format json prints each event as Docker's JSON; any other value is a Go
template on it (e.g. '{{.Action}} {{.Actor.Attributes.name}}').`,
		Example: `  sdocker events
  sdocker events --since 10m --until 0s --filter event=die --format json
  sdocker events --filter container=web --format '{{.Action}} {{.Actor.Attributes.exitCode}}'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var o engine.EventsOptions
			var err error
			now := time.Now()
			if o.Since, err = engine.ParseSince(since, now); err != nil {
				return err
			}
			if o.Until, err = engine.ParseSince(until, now); err != nil {
				return err
			}
			if o.Filter, err = engine.ParseEventFilters(filters); err != nil {
				return err
			}
			if o.Print, err = eventPrinter(format); err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			stop := make(chan struct{})
			go func() { <-sigs; close(stop) }()
			o.Stop = stop
			return e.Events(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "show the events since a time (timestamp, Unix seconds, or duration such as 10m)")
	f.StringVar(&until, "until", "", "stop at a time (timestamp, Unix seconds, or duration such as 10m)")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter: container=, event=, type=container, label=")
	f.StringVar(&format, "format", "", "json, or a Go template on each event")
	return cmd
}

// eventPrinter prints events in format: Docker's line, JSON, or a template.
func eventPrinter(format string) (func(*engine.Event) error, error) {
	out := os.Stdout
	switch format {
	case "":
		return func(ev *engine.Event) error {
			_, err := fmt.Fprintln(out, dockerfmt.FormatEvent(ev))
			return err
		}, nil
	case "json", "{{json .}}":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return func(ev *engine.Event) error { return enc.Encode(ev) }, nil
	}
	t, err := dockerfmt.ParseTemplate(format)
	if err != nil {
		return nil, err
	}
	return func(ev *engine.Event) error {
		if err := t.Execute(out, ev); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		_, err := fmt.Fprintln(out)
		return err
	}, nil
}
