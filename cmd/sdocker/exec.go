package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/trace"
)

func newExecCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.ExecOptions
	var traced bool
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER [COMMAND [ARG...]]",
		Short: "Run a command in a running container (default: bash)",
		Long: `Run a command in a running container: it joins every namespace and cgroup of
the container. CONTAINER is an id, a unique id prefix or a name.`,
		Example: `  sdocker exec 3f2a9c01d4e7
  sdocker exec -e DEBUG=1 -w /tmp 3f2a ps -ef`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if traced {
				o.Trace = trace.New()
			}
			o.Args = args[1:]
			if !o.Detach && !c.Flags().Changed("tty") && !c.Flags().Changed("interactive") &&
				engine.IsTerminal(os.Stdin) && engine.IsTerminal(os.Stdout) {
				o.Tty, o.Interactive = true, true
			}
			o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Trace.Mark("engine open")
			code, err := e.Exec(args[0], o)
			if err != nil {
				return &exitError{code: code, err: err}
			}
			return exitCode(code)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable KEY=VALUE")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory inside the container")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin attached")
	f.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-terminal (default when stdin and stdout are terminals)")
	f.BoolVarP(&o.Detach, "detach", "d", false, "run the command in the background")
	f.BoolVar(&traced, "trace", false, "print each step of the start with its duration to stderr")
	f.StringVarP(&o.User, "user", "u", "", "user to run as: UID[:GID] or NAME[:GROUP]")
	return cmd
}
