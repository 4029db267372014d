package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newAttachCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	o := engine.AttachOptions{Stdout: os.Stdout, Stderr: os.Stderr}
	var detachKeys string
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Follow a running detached container's output (its stdout and stderr)",
		Long: `Follow what a running detached container writes from now on: its stdout on
stdout, its stderr on stderr. attach ends with the container, with its exit
status, or when the detach keys are typed (ctrl-p ctrl-q unless
--detach-keys says otherwise; the container keeps running, the status is 0).

A detached container has no stdin: its monitor copies its output to the log
and gives it none (run -d -i is refused). What attach reads from its own
stdin is only looked at for the detach keys, never passed on.

With --sig-proxy (the default) the signals attach gets (ctrl-c's SIGINT,
SIGTERM, ...) are sent to the container; with --sig-proxy=false they end
attach only.`,
		Example: `  sdocker attach web
  sdocker attach --detach-keys ctrl-x web
  sdocker attach --sig-proxy=false web`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.DetachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
				return err
			}
			if !noStdin {
				o.Keys = os.Stdin
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			code, err := e.Attach(args[0], o)
			if err != nil {
				return &exitError{code: code, err: err}
			}
			return exitCode(code)
		},
	}
	f := cmd.Flags()
	f.StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "the keys that end attach, the container still running (e.g. ctrl-x or ctrl-a,d)")
	f.BoolVar(&o.SigProxy, "sig-proxy", true, "send the signals attach gets to the container")
	f.BoolVar(&noStdin, "no-stdin", false, "do not read stdin (no detach keys)")
	return cmd
}
