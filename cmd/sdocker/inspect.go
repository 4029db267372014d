package main

import (
	"bufio"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
)

func newInspectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Show low-level information on containers (JSON)",
		Long: `Show containers as a JSON array in the shape of 'docker inspect': Id, Name,
State, Config, HostConfig, Mounts, GraphDriver, ... With --format, a Go
template is applied to each container instead, e.g. '{{.State.Status}}' or
'{{json .Config}}' (functions: json, join, split, lower, upper, title, pad,
truncate, println).

As with Docker, the exit status is 1 when a container is not found (the
ones found are still shown) or the template fails, not 125.`,
		Example: `  sdocker inspect web
  sdocker inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
  sdocker inspect -f '{{json .HostConfig}}' web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			fail := func(err error) error { return &exitError{code: 1, err: err} }
			e, err := openEngine()
			if err != nil {
				return err
			}
			var write func(*dockerfmt.ContainerJSON) error
			w := bufio.NewWriter(os.Stdout)
			if format != "" {
				tmpl, err := dockerfmt.ParseTemplate(format)
				if err != nil {
					return fail(err)
				}
				write = func(cj *dockerfmt.ContainerJSON) error {
					return dockerfmt.WriteInspectTemplate(w, tmpl, cj)
				}
			}
			records, findErr := e.FindAll(args)
			list := make([]*dockerfmt.ContainerJSON, 0, len(records))
			for _, r := range records {
				list = append(list, dockerfmt.Inspect(e, r))
			}
			if write == nil {
				if err := dockerfmt.WriteInspectJSON(w, list); err != nil {
					return fail(err)
				}
			} else {
				for _, cj := range list {
					if err := write(cj); err != nil {
						_ = w.Flush() // what was written before err; err is what is reported
						return fail(err)
					}
				}
			}
			if err := w.Flush(); err != nil {
				return fail(err)
			}
			if findErr != nil {
				return fail(findErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format each container with a Go template")
	return cmd
}
