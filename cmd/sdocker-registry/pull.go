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

func newPullCommand(openImages func() (*image.Store, error)) *cobra.Command {
	var platform string
	var jobs int
	var forRun string
	c := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry",
		Long: `Pull an image from a registry into the image store. A name without a registry
is on the default registry (docker.io unless configured: busybox is
docker.io/library/busybox:latest). Layers already in the store are not fetched
again; an interrupted pull resumes with the layers it had not finished.`,
		Example: "  sdocker pull busybox\n  sdocker pull --platform linux/arm64 registry.example.com:5000/team/app:1.2\n" +
			"  sdocker pull alpine@sha256:1e42bbe2508154c9126d48c2b8a75420c3544343bf86fd041fb7527e017a4b4a",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := registry.ParsePlatform(platform)
			if err != nil {
				return err
			}
			if c.Flags().Changed("jobs") && jobs < 1 {
				return fmt.Errorf("--jobs %d: must be 1 or more", jobs)
			}
			s, err := openImages()
			if err != nil {
				return err
			}
			res, err := pullImage(s, args[0], registry.Options{Platform: p, Jobs: jobs})
			if err != nil && forRun == pullMissing {
				return fmt.Errorf("%w %q here, and pulling it failed: %w", image.ErrNotFound, args[0], err)
			}
			if err != nil {
				return err
			}
			if forRun != "" { // the reference run is to use
				fmt.Println(localRef(s, args[0], res))
				return nil
			}
			fmt.Println(res.Ref.Name())
			return nil
		},
	}
	c.Flags().StringVar(&platform, "platform", "", "OS/ARCH[/VARIANT] to pull from a multi-platform image (default linux/"+registry.DefaultPlatform().Architecture+")")
	c.Flags().IntVar(&jobs, "jobs", 0, "layers to download at once (default: max-concurrent-downloads of the registry config, or 3)")
	c.Flags().StringVar(&forRun, pullForRunFlag, "", "for run with --pull POLICY: print the local reference to use")
	_ = c.Flags().MarkHidden(pullForRunFlag) // it is defined just above
	return c
}

// localRef is the reference by which run finds an image just pulled as ref.
func localRef(s *image.Store, ref string, res *registry.Result) string {
	if _, err := s.Get(ref); err == nil {
		return ref
	}
	if res.Ref.Local != "" {
		return res.Ref.Local
	}
	return res.Image.ID
}

// pullImage pulls ref into the store, with progress on stderr; SIGINT or
// SIGTERM stop it cleanly (the next pull resumes).
func pullImage(s *image.Store, ref string, o registry.Options) (*registry.Result, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Progress, o.Terminal = os.Stderr, engine.IsTerminal(os.Stderr)
	res, err := registry.Pull(ctx, s, ref, o)
	if err != nil {
		return nil, err
	}
	status := "Image is up to date for "
	if res.Downloaded > 0 {
		status = "Downloaded newer image for "
	}
	fmt.Fprintf(os.Stderr, "Digest: %s\nStatus: %s%s\n", res.Digest, status, res.Ref.Name())
	return res, nil
}
