package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newRmCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short:   "Remove stopped containers (running ones too with -f)",
		Example: "  sdocker rm 3f2a9c01d4e7\n  sdocker rm -f clever_turing",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if err := e.Remove(ref, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(ref)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}
