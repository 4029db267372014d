package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/registry"
)

func newPullCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var platform string
	var jobs int
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
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			res, err := pullImage(s, args[0], registry.Options{Platform: p, Jobs: jobs})
			if err != nil {
				return err
			}
			fmt.Println(res.Ref.Name())
			return nil
		},
	}
	c.Flags().StringVar(&platform, "platform", "", "OS/ARCH[/VARIANT] to pull from a multi-platform image (default linux/"+registry.DefaultPlatform().Architecture+")")
	c.Flags().IntVar(&jobs, "jobs", 0, "layers to download at once (default: max-concurrent-downloads of the registry config, or 3)")
	return c
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

// Pull policies of run.
const (
	pullMissing = "missing"
	pullAlways  = "always"
	pullNever   = "never"
)

// ensureImage pulls the image run is given, as policy says, and returns the
// reference run should use. A rootfs directory is never pulled.
func ensureImage(openEngine func() (*engine.Engine, error), ref, policy string) (string, error) {
	switch policy {
	case pullMissing, pullAlways, pullNever:
	default:
		return "", fmt.Errorf("--pull %q: use missing, always or never", policy)
	}
	if ref == "" || policy == pullNever || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return ref, nil
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return ref, nil // a relative rootfs directory (run tells which)
	}
	s, err := openImages(openEngine)
	if err != nil {
		return "", err
	}
	if policy == pullMissing {
		if _, err := s.Get(ref); !errors.Is(err, image.ErrNotFound) {
			return ref, nil // there, or a reference run refuses itself
		}
	}
	res, err := pullImage(s, ref, registry.Options{})
	if err != nil && policy == pullMissing {
		return "", fmt.Errorf("%w %q here, and pulling it failed: %w", image.ErrNotFound, ref, err)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.Get(ref); err == nil {
		return ref, nil
	}
	if res.Ref.Local != "" {
		return res.Ref.Local, nil
	}
	return res.Image.ID, nil
}
