package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newInspectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Show low-level information on containers, images, networks or volumes (JSON)",
		Long: `Show objects as a JSON array in the shape of 'docker inspect'. Each name is
looked up as Docker does: a container first (Id, Name, State, Config,
HostConfig, Mounts, GraphDriver, ...), then an image, a network, a volume
(the shapes of 'image inspect', 'network inspect' and 'volume inspect');
--type container|image|network|volume looks for that kind only. With
--format, a Go template is applied to each object instead, e.g.
'{{.State.Status}}' or '{{json .Config}}' (functions: json, join, split,
lower, upper, title, pad, truncate, println).

As with Docker, the exit status is 1 when a name is not found (the objects
found are still shown) or the template fails, not 125.`,
		Example: `  sdocker inspect web
  sdocker inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
  sdocker inspect -f '{{json .HostConfig}}' web
  sdocker inspect alpine
  sdocker inspect --type network bridge
  sdocker inspect --type volume -f '{{.Mountpoint}}' data`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkInspectType(kind); err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			// A failed collection leaves states stale; the records can still be shown.
			_ = e.Collect()
			list := make([]any, 0, len(args))
			var errs []error
			for _, ref := range args {
				v, err := inspectObject(e, kind, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				list = append(list, v)
			}
			err = writeInspected(list, format)
			return failed(errors.Join(append([]error{err}, errs...)...))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format each object with a Go template")
	cmd.Flags().StringVar(&kind, "type", "", "look for a container, image, network or volume only")
	return cmd
}
