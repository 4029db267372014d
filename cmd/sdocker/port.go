package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

func newPortCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List the published ports of a container",
		Long: `List the ports a running container publishes, as PRIVATE/PROTO -> HOSTIP:HOSTPORT,
or the host side of one of them.`,
		Example: `  sdocker port web
  sdocker port web 80/tcp`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			r, err := e.Find(args[0])
			if err != nil {
				return err
			}
			private := ""
			if len(args) == 2 {
				private = args[1]
			}
			lines, err := dockerfmt.PortLines(r, private)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if len(args) == 2 {
					// Docker prints only the host side for one port.
					_, l, _ = strings.Cut(l, " -> ")
				}
				fmt.Println(l)
			}
			return nil
		},
	}
}
