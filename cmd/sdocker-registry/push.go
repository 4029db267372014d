package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/registry"
)

func newPushCommand(openImages func() (*image.Store, error)) *cobra.Command {
	var jobs int
	c := &cobra.Command{
		Use:   "push [OPTIONS] NAME:TAG",
		Short: "Push an image to a registry",
		Long: `Push an image to its registry (the one its name says, else the default
registry): the layers the registry lacks, then the manifest under TAG. The image
in the registry has the same ID as here.`,
		Example: "  sdocker tag app:1 registry.example.com:5000/team/app:1\n  sdocker push registry.example.com:5000/team/app:1",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if c.Flags().Changed("jobs") && jobs < 1 {
				return fmt.Errorf("--jobs %d: must be 1 or more", jobs)
			}
			s, err := openImages()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := registry.Push(ctx, s, args[0], registry.Options{
				Jobs: jobs, Progress: os.Stderr, Terminal: engine.IsTerminal(os.Stderr),
			})
			if err != nil {
				return err
			}
			fmt.Printf("%s: digest: %s size: %d\n", res.Ref.Remote.Identifier(), res.Digest, res.Size)
			return nil
		},
	}
	c.Flags().IntVar(&jobs, "jobs", 0, "layers to upload at once (default: max-concurrent-downloads of the registry config, or 3)")
	return c
}
