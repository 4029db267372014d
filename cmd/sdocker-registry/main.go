// Command sdocker-registry is sdocker's registry client: `sdocker pull`,
// `push`, `login` and `logout` run it (found beside sdocker), and so does
// `sdocker run --pull`. Kept apart, its HTTP, TLS and registry libraries
// cost the start of every other sdocker command nothing.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

// Pull policies of run, and the hidden flag by which `sdocker run` asks for
// a pull (cmd/sdocker/runpull.go has the same).
const (
	pullMissing    = "missing"
	pullForRunFlag = "for-run"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "sdocker: internal error: %v\n", r)
			status = 125
		}
	}()
	var root string
	cmd := &cobra.Command{
		Use:           "sdocker",
		Short:         "sdocker's registry client (pull, push, login, logout)",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	def := "/var/lib/sdocker"
	if r := os.Getenv("SDOCKER_ROOT"); r != "" {
		def = r
	}
	cmd.PersistentFlags().StringVar(&root, "root", def, "where sdocker keeps containers and images (env SDOCKER_ROOT)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	openImages := func() (*image.Store, error) {
		e, err := engine.New(root)
		if err != nil {
			return nil, err
		}
		return e.Images()
	}
	cmd.AddCommand(newPullCommand(openImages), newPushCommand(openImages), newLoginCommand(), newLogoutCommand())
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "sdocker: %v\n", err)
		return 125
	}
	return 0
}
