package main

import (
	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newNetworkConnectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.ConnectOptions
	c := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a running container to a network (one more interface)",
		Example: `  sdocker network connect app web
  sdocker network connect --alias db --ip 172.18.0.50 app web`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			return e.Connect(args[0], args[1], o)
		},
	}
	c.Flags().StringArrayVar(&o.Aliases, "alias", nil, "another name of the container on the network")
	c.Flags().StringVar(&o.IP, "ip", "", "the container's IPv4 address on the network")
	return c
}

func newNetworkDisconnectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "disconnect [OPTIONS] NETWORK CONTAINER",
		Short:   "Disconnect a running container from a network",
		Example: "  sdocker network disconnect app web",
		Args:    cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			return e.Disconnect(args[0], args[1])
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "accepted for Docker's command line; a disconnect is never refused for a running container")
	return c
}
