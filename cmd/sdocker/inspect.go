package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

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
			var write func(*engine.ContainerJSON) error
			w := bufio.NewWriter(os.Stdout)
			if format != "" {
				tmpl, err := engine.ParseTemplate(format)
				if err != nil {
					return fail(err)
				}
				write = func(cj *engine.ContainerJSON) error {
					// As Docker's CLI: a field the struct lacks under that
					// name (.Id) is looked up in the JSON document instead.
					var buf bytes.Buffer
					if err := tmpl.Execute(&buf, cj); err != nil {
						var doc map[string]any
						b, _ := json.Marshal(cj)
						buf.Reset()
						strict, _ := tmpl.Clone()
						if json.Unmarshal(b, &doc) != nil || strict == nil ||
							strict.Option("missingkey=error").Execute(&buf, doc) != nil {
							return fmt.Errorf("template: %w", err)
						}
					}
					w.Write(buf.Bytes())
					_, err := fmt.Fprintln(w)
					return err
				}
			}
			list, findErr := e.Inspect(args)
			if write == nil {
				if list == nil {
					list = []*engine.ContainerJSON{}
				}
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "    ")
				if err := enc.Encode(list); err != nil {
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
