package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newTopCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "List the processes of a running container",
		Long: `List the processes of a running container (those in its cgroups) as the
host's ps(1) shows them: 'ps -ef' by default, or with the ps options given
after the container (they must include a PID column). Pids are the host's.`,
		Example: `  sdocker top web
  sdocker top web -o pid,ppid,rss,args`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			return e.Top(args[0], args[1:], os.Stdout)
		},
	}
	// Everything after the container is for ps.
	cmd.Flags().SetInterspersed(false)
	return cmd
}
