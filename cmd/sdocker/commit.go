package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

func newCommitCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o image.CommitOptions
	var pause bool
	c := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [NAME[:TAG]]",
		Short: "Make an image of a container's changes",
		Long: `Make a new image of a container: its image with one more layer, the
container's changes (deletions as whiteouts). A running container is frozen
while its changes are read (--pause=false reads them live). The new image's
config is the container's: its command, entrypoint, environment, working
directory, user, exposed and published ports, anonymous volumes, labels, stop
signal and healthcheck (--health-* over its image's). --change applies
Dockerfile instructions to it: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE,
LABEL.`,
		Example: "  sdocker commit web web:snapshot\n  sdocker commit -c 'CMD [\"/app\", \"--serve\"]' -c 'EXPOSE 8080' -m 'configured' web app:2",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			s, err := e.Images()
			if err != nil {
				return err
			}
			var img *image.Image
			err = e.WithSnapshot(args[0], pause, func(snap engine.Snapshot) error {
				if snap.ImageID == "" {
					return fmt.Errorf("commit %s: %w", args[0], engine.ErrNoImage)
				}
				o.MountPoints, o.Container, o.Owners = snap.MountPoints, snap.Config, snap.Owners
				img, err = s.Commit(snap.ImageID, snap.Upper, name, o)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL)")
	f.StringVarP(&o.Comment, "message", "m", "", "the commit message (in history)")
	f.StringVarP(&o.Author, "author", "a", "", "the author")
	f.BoolVarP(&pause, "pause", "p", true, "freeze a running container while its changes are read")
	return c
}

func newExportCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "export [OPTIONS] CONTAINER",
		Short:   "Write a container's file system as a tar archive",
		Example: "  sdocker export -o web.tar web\n  sdocker export web | tar -t",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			return writeArchive("export", output, func(w io.Writer) error {
				return e.WithSnapshot(args[0], false, func(snap engine.Snapshot) error {
					return image.WriteDirTarOwned(w, snap.Rootfs, snap.Owners)
				})
			})
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "the archive to write (default: stdout)")
	return c
}
