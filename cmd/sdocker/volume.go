package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

// failed is err with Docker's exit status 1 of the volume commands.
func failed(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: 1, err: err}
}

func newVolumeCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   "volume COMMAND",
		Short: "Manage volumes",
		Long: `Manage volumes: directories under ROOT/volumes/NAME/_data that containers mount
with -v NAME:/PATH or --mount type=volume,src=NAME,dst=/PATH. A new volume is
filled from the image's content at /PATH the first time a container mounts it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return c.Help() },
	}
	c.AddCommand(
		newVolumeCreateCommand(openEngine),
		newVolumeLsCommand(openEngine),
		newVolumeInspectCommand(openEngine),
		newVolumeRmCommand(openEngine),
		newVolumePruneCommand(openEngine),
	)
	return c
}

func newVolumeCreateCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var labels []string
	var driver string
	c := &cobra.Command{
		Use:     "create [OPTIONS] [NAME]",
		Short:   "Create a volume (a random name without NAME) and print its name",
		Example: "  sdocker volume create data\n  sdocker volume create --label env=test",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if driver != "local" {
				return fmt.Errorf("--driver %q: only local is supported", driver)
			}
			l, err := parseLabels(labels)
			if err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := e.CreateVolume(name, l)
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
	c.Flags().StringArrayVar(&labels, "label", nil, "set a label, KEY=VALUE or KEY (repeatable)")
	c.Flags().StringVarP(&driver, "driver", "d", "local", "the volume driver (local only)")
	return c
}

func newVolumeLsCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var quiet bool
	var filters []string
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Long: `List volumes. --filter KEY=VALUE keeps those that match: name (part of the
name), label (KEY or KEY=VALUE), dangling (true: no container uses it), driver
(local); several values of one key are alternatives, different keys must all
match.`,
		Example: "  sdocker volume ls\n  sdocker volume ls -q --filter dangling=true",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			match, err := engine.ParseVolumeFilters(filters)
			if err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			vols, err := e.Volumes()
			if err != nil {
				return err
			}
			users, err := e.VolumeUsers()
			if err != nil {
				return err
			}
			var keep []*engine.Volume
			for _, v := range vols {
				if match(v, len(users[v.Name]) > 0) {
					keep = append(keep, v)
				}
			}
			out := bufio.NewWriter(os.Stdout)
			err = dockerfmt.WriteVolumesTable(out, keep, quiet)
			return errors.Join(err, out.Flush())
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print volume names only")
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "keep the volumes that match KEY=VALUE (name, label, dangling, driver)")
	return c
}

func newVolumeInspectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Show volumes (JSON)",
		Long: `Show volumes as a JSON array in the shape of 'docker volume inspect': Name,
Driver, Mountpoint, CreatedAt, Labels, Scope, Options. With --format, a Go
template over those fields is applied to each volume instead. The exit status
is 1 when a volume is not found (the ones found are still shown) or the
template fails.`,
		Example: "  sdocker volume inspect data\n  sdocker volume inspect -f '{{.Mountpoint}}' data",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			list := []*dockerfmt.VolumeJSON{}
			var errs []error
			for _, name := range args {
				v, err := e.Volume(name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				list = append(list, dockerfmt.InspectVolume(v))
			}
			err = writeInspected(list, format)
			return failed(errors.Join(append([]error{err}, errs...)...))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format each volume with a Go template")
	return c
}

// writeInspected writes list as a JSON array, or each of its elements
// through the Go template format.
func writeInspected[T any](list []T, format string) error {
	w := bufio.NewWriter(os.Stdout)
	if format == "" {
		return errors.Join(dockerfmt.WriteInspectJSON(w, list), w.Flush())
	}
	tmpl, err := dockerfmt.ParseTemplate(format)
	if err != nil {
		return err
	}
	for _, v := range list {
		if err := dockerfmt.WriteInspectTemplate(w, tmpl, v); err != nil {
			return errors.Join(err, w.Flush())
		}
	}
	return w.Flush()
}

func newVolumeRmCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove volumes (refused while a container, running or not, uses one)",
		Example: "  sdocker volume rm data",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(eachContainer(openEngine, args, func(e *engine.Engine, name string) error { return e.RemoveVolume(name, force) }))
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "no error for a volume that does not exist")
	return c
}

func newVolumePruneCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force, all bool
	c := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove the anonymous volumes no container uses (with -a, every unused volume)",
		Example: "  sdocker volume prune -f\n  sdocker volume prune -af",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container."
			if all {
				warning = "WARNING! This will remove all local volumes not used by at least one container."
			}
			if !force && !confirm(os.Stdin, os.Stdout, warning) {
				return nil
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			removed, err := e.PruneVolumes(all)
			if len(removed) > 0 {
				fmt.Println("Deleted Volumes:")
				for _, n := range removed {
					fmt.Println(n)
				}
			}
			return failed(err)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove named volumes too, not only anonymous ones")
	return c
}
