package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newRootfsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "rootfs [DIR]",
		Short: "Build a root file system from the host's binaries (default: ROOT/rootfs)",
		Long: `Build (or refresh) a root file system from the host's own binaries: bash, ps,
top and friends with every shared library they need, terminfo, /etc/passwd,
/root/.bashrc, and the cpu-test and memory-test workloads. Running it again
is harmless.`,
		Example: "  sdocker rootfs\n  sdocker rootfs /tmp/myrootfs",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			dir := e.DefaultRootfs()
			if len(args) == 1 {
				if dir, err = filepath.Abs(args[0]); err != nil {
					return err
				}
			}
			if err := e.BuildRootfs(dir); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "[+] rootfs ready in %s\n", dir)
			return nil
		},
	}
}
