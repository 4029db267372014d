package main

import (
	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newRmCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER...",
		Short:   "Remove stopped containers (running ones too with -f)",
		Example: "  sdocker rm 3f2a9c01d4e7\n  sdocker rm -f clever_turing",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return eachContainer(openEngine, args, func(e *engine.Engine, ref string) error { return e.Remove(ref, force, volumes) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove the container's anonymous volumes (-v /path); host directories are kept")
	return cmd
}
