package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newCpCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var o engine.CopyOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  sdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files between a container and the host",
		Long: `Copy files or directories between a container (running or stopped) and the host,
as docker cp does. A directory is copied with all below it; SRC_PATH ending in
/. copies a directory's content. "-" is a tar stream: written to stdout, or read
from stdin and extracted into the directory DEST_PATH. Paths in the container
are resolved inside its root: a symlink there never leads outside it.`,
		Example: `  sdocker cp web:/etc/nginx/nginx.conf .
  sdocker cp ./site/. web:/usr/share/nginx/html
  sdocker cp -a web:/var/lib/data - | tar -tvf -`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			src, dst := args[0], args[1]
			sref, spath, sIn := splitContainerPath(src)
			dref, dpath, dIn := splitContainerPath(dst)
			if sIn == dIn {
				return fmt.Errorf("cp: exactly one of SRC_PATH and DEST_PATH must be CONTAINER:PATH")
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Stdin, o.Stdout = os.Stdin, os.Stdout
			if sIn {
				return e.CopyFrom(sref, spath, dst, o)
			}
			return e.CopyTo(src, dref, dpath, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Archive, "archive", "a", false, "archive mode: keep the owners (uid/gid) of what is copied")
	f.BoolVarP(&o.Follow, "follow-link", "L", false, "follow a symlink that SRC_PATH names")
	return cmd
}

// splitContainerPath reads CONTAINER:PATH; a path with a "/" before the
// first ":" (or starting with "."), or "-", is a local one, as Docker reads it.
func splitContainerPath(arg string) (ref, p string, ok bool) {
	if arg == "-" || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg, false
	}
	ref, p, ok = strings.Cut(arg, ":")
	if !ok || ref == "" || strings.Contains(ref, "/") {
		return "", arg, false
	}
	return ref, p, true
}
