package main

import (
	"bufio"
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

func newHistoryCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var noTrunc, quiet bool
	c := &cobra.Command{
		Use:     "history [OPTIONS] IMAGE",
		Short:   "Show the history of an image (newest step first)",
		Example: "  sdocker history busybox\n  sdocker history --no-trunc app:1",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			img, hist, err := s.History(args[0])
			if err != nil {
				return err
			}
			return dockerfmt.WriteHistoryTable(os.Stdout, img, hist, time.Now(), noTrunc, quiet)
		},
	}
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not shorten the output")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the image ID only")
	return c
}

func newImageInspectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE...",
		Short: "Show images as JSON (docker image inspect's shape), or through a template",
		Long: `Show images as a JSON array in the shape of 'docker image inspect': Id,
RepoTags, RepoDigests, Created, Architecture, Os, Size, Config, RootFS. With
--format, a Go template is applied to each image, e.g. '{{.Id}}' or
'{{json .Config.Cmd}}'. The exit status is 1 when an image is not found (the
others are still shown).`,
		Example: "  sdocker image inspect busybox\n  sdocker image inspect -f '{{.Id}} {{.Os}}/{{.Architecture}}' busybox",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			fail := func(err error) error { return &exitError{code: 1, err: err} }
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			list := make([]*dockerfmt.ImageJSON, 0, len(args))
			var missing []error
			for _, ref := range args {
				img, err := s.Get(ref)
				if errors.Is(err, image.ErrNotFound) || errors.Is(err, image.ErrInvalid) {
					missing = append(missing, err)
					continue
				}
				if err != nil {
					return err
				}
				list = append(list, dockerfmt.InspectImage(img))
			}
			w := bufio.NewWriter(os.Stdout)
			if err := writeImagesInspect(w, list, format); err != nil {
				_ = w.Flush() // what was written before err; err is what is reported
				return fail(err)
			}
			if err := w.Flush(); err != nil {
				return fail(err)
			}
			if len(missing) > 0 {
				return fail(errors.Join(missing...))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format each image with a Go template")
	return c
}

func writeImagesInspect(w *bufio.Writer, list []*dockerfmt.ImageJSON, format string) error {
	if format == "" {
		return dockerfmt.WriteInspectJSON(w, list)
	}
	tmpl, err := dockerfmt.ParseTemplate(format)
	if err != nil {
		return err
	}
	for _, img := range list {
		if err := dockerfmt.WriteInspectTemplate(w, tmpl, img); err != nil {
			return err
		}
	}
	return nil
}
