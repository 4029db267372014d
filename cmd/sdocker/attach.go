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
		Short: "Attach to a running detached container: its output, and its stdin if open",
		Long: `Follow what a running detached container writes from now on: its stdout on
stdout, its stderr on stderr (with -t, its terminal on stdout). attach ends
with the container, with its exit status, or when the detach keys are typed
(ctrl-p ctrl-q unless --detach-keys says otherwise; the container keeps
running, the status is 0).

A container run with -d -i, or created with -i, keeps its stdin open: what
attach reads from its own stdin goes there, but the detach keys. When it
ends, the container's stdin is closed if the container was created with
create -i (without -t), else it stays open for the next attach. With -t,
attach puts its terminal in raw mode and passes its size on. Without -i
the container has no stdin, and attach's stdin is only looked at for the
detach keys. --no-stdin reads none.

The container's monitor serves a socket in its directory for this; each
attach gets the output from when it connected. One that does not read its
output as fast as the container writes it is let go (the log has it all).

With --sig-proxy (the default) the signals attach gets (ctrl-c's SIGINT,
SIGTERM, ...) are sent to the container; with --sig-proxy=false they end
attach only.`,
		Example: `  sdocker attach web
  sdocker attach --detach-keys ctrl-x web
  sdocker attach --sig-proxy=false web
  sdocker run -d -i --name cat alpine cat && echo hi | sdocker attach cat`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !noStdin {
				o.Keys = os.Stdin
			}
			return attachWith(openEngine, detachKeys, o, func(e *engine.Engine, o engine.AttachOptions) (int, error) {
				return e.Attach(args[0], o)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "the keys that end attach, the container still running (e.g. ctrl-x or ctrl-a,d)")
	f.BoolVar(&o.SigProxy, "sig-proxy", true, "send the signals attach gets to the container")
	f.BoolVar(&noStdin, "no-stdin", false, "do not read stdin (no input, no detach keys)")
	return cmd
}

// attachWith runs attach (or start -a) with o and the detach keys given,
// and exits as it says.
func attachWith(openEngine func() (*engine.Engine, error), detachKeys string, o engine.AttachOptions, fn func(*engine.Engine, engine.AttachOptions) (int, error)) error {
	var err error
	if o.DetachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
		return err
	}
	e, err := openEngine()
	if err != nil {
		return err
	}
	code, err := fn(e, o)
	if err != nil {
		return &exitError{code: code, err: err}
	}
	return exitCode(code)
}
