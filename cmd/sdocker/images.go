package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

func imageOptions() image.Options {
	return image.Options{Progress: os.Stderr, Terminal: engine.IsTerminal(os.Stderr)}
}

func newImportCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "import FILE|DIR [NAME[:TAG]]",
		Short:   "Make an image from a rootfs tarball (plain or gzip) or directory",
		Example: "  sdocker import rootfs.tar.gz mybox:1.0\n  sdocker import /var/lib/sdocker/rootfs hostbox",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			img, err := s.Import(args[0], name, imageOptions())
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func newLoadCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var input string
	c := &cobra.Command{
		Use:     "load -i FILE",
		Short:   "Load images from a docker save archive or an OCI image-layout archive",
		Example: "  sdocker load -i busybox.tar",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if input == "" {
				return fmt.Errorf("give the archive with -i FILE")
			}
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			imgs, err := s.Load(input, imageOptions())
			if err != nil {
				return err
			}
			for _, img := range imgs {
				if len(img.Names) == 0 {
					fmt.Printf("Loaded image ID: %s\n", img.ID)
				}
				for _, n := range img.Names {
					fmt.Printf("Loaded image: %s\n", n)
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "the archive to read")
	return c
}

func newImagesCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var quiet, digests bool
	var filters []string
	var format string
	c := &cobra.Command{
		Use:     "images [OPTIONS]",
		Short:   "List images",
		Example: "  sdocker images\n  sdocker images -q\n  sdocker images --digests --filter reference='team/*'\n  sdocker images --format '{{.Repository}}:{{.Tag}} {{.Size}}'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var f *dockerfmt.Format
			if format != "" && !quiet {
				var err error
				if f, err = dockerfmt.ParseImagesFormat(format); err != nil {
					return err
				}
			}
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			// What cannot be read is flagged; the rest is listed.
			list, err := s.List()
			if err != nil && !errors.Is(err, image.ErrDamaged) {
				return err
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", err)
			}
			if list, err = filterImages(s, list, filters); err != nil {
				return err
			}
			for _, img := range list {
				if img.Damage != nil {
					fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", img.Damage)
				}
			}
			if f != nil {
				return dockerfmt.WriteFormat(os.Stdout, f, dockerfmt.ImagesHeader, dockerfmt.ImageEntries(list, time.Now()))
			}
			return dockerfmt.WriteImagesTable(os.Stdout, list, time.Now(), quiet, digests)
		},
	}
	c.Flags().StringVar(&format, "format", "", `"table", "table TEMPLATE", a Go template (.Repository, .Tag, .ID, .Digest, .CreatedSince, .CreatedAt, .Size), or "json"`)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print image ids only")
	c.Flags().BoolVar(&digests, "digests", false, "show the registry digests images were pulled by")
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE")
	return c
}

func newRmiCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rmi [OPTIONS] IMAGE...",
		Short:   "Remove images (refused while a container uses one, unless -f)",
		Example: "  sdocker rmi mybox:1.0",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, inUse, err := openImagesInUse(openEngine)
			if err != nil {
				return err
			}
			var errs []string
			for _, ref := range args {
				res, err := s.Remove(ref, force, inUse)
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, u := range res.Untagged {
					fmt.Printf("Untagged: %s\n", u)
				}
				for _, d := range res.Deleted {
					fmt.Printf("Deleted: %s\n", d)
				}
				if res.Warning != nil {
					fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", res.Warning)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove the names even while containers use the image (its layers stay until they are gone)")
	return c
}

func newTagCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "tag SOURCE TARGET",
		Short:   "Give an image another name",
		Example: "  sdocker tag mybox:1.0 mybox:latest",
		Args:    cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			return s.Tag(args[0], args[1])
		},
	}
}

func openImages(openEngine func() (*engine.Engine, error)) (*image.Store, error) {
	e, err := openEngine()
	if err != nil {
		return nil, err
	}
	return e.Images()
}

func newImageCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   "image",
		Short: "Manage images (see also images, import, load, rmi, tag)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newImageInspectCommand(openEngine))
	c.AddCommand(&cobra.Command{
		Use:     "prune",
		Short:   "Remove unnamed images that no container uses, and layers no image uses",
		Example: "  sdocker image prune",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			s, inUse, err := openImagesInUse(openEngine)
			if err != nil {
				return err
			}
			deleted, err := s.Prune(inUse)
			for _, d := range deleted {
				fmt.Printf("Deleted: %s\n", d)
			}
			return err
		},
	})
	return c
}

// openImagesInUse opens the image store and tells which images containers use.
func openImagesInUse(openEngine func() (*engine.Engine, error)) (*image.Store, func(string) bool, error) {
	e, err := openEngine()
	if err != nil {
		return nil, nil, err
	}
	s, err := e.Images()
	if err != nil {
		return nil, nil, err
	}
	used, err := e.ImageUsers()
	if err != nil {
		return nil, nil, err
	}
	return s, func(id string) bool { return used[id] }, nil
}
