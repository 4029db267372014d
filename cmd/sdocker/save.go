package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

func newSaveCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var output, format string
	c := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE...",
		Short: "Write images to an archive that load (and docker, podman, skopeo) read",
		Long: `Write images to a tar archive: a docker save archive (the default) or an OCI
image layout (--format oci). Layers are written as the very tars they came as,
so an image saved and loaded again keeps its ID.`,
		Example: "  sdocker save -o busybox.tar busybox\n  sdocker save --format oci -o apps.tar app:1 app:2",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f, err := archiveFormat(format)
			if err != nil {
				return err
			}
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			return writeArchive("save", output, func(w io.Writer) error { return s.Save(w, args, f) })
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "the archive to write (default: stdout)")
	c.Flags().StringVar(&format, "format", "docker-archive", "docker-archive (docker) or oci-archive (oci)")
	return c
}

func archiveFormat(f string) (string, error) {
	switch f {
	case "docker-archive", "docker":
		return image.FormatDocker, nil
	case "oci-archive", "oci":
		return image.FormatOCI, nil
	}
	return "", fmt.Errorf("--format %q: use docker-archive or oci-archive", f)
}
