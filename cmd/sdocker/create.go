package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
)

func newCreateCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	cmd := newRunLikeCommand(openEngine, true)
	cmd.Use = "create [OPTIONS] [IMAGE|ROOTFS] [COMMAND [ARG...]]"
	cmd.Short = "Create a container without starting it ('start' starts it)"
	cmd.Long = `Create a container as 'run -d' does, with the same options, and print its id
without starting it: 'ps -a' shows it as Created until 'start' starts it
(detached, watched by its monitor). With --rm it is removed when it exits.
With -i its stdin stays open for 'start -a -i' or 'attach', and closes when
the stdin of such an attach ends (Docker's StdinOnce; with -t it stays open).`
	cmd.Example = `  sdocker create --name web -p 8080:80 app:1
  sdocker start web
  sdocker create --name job alpine sh -c 'echo done' && sdocker start job && sdocker wait job
  sdocker create --rm -i --name sort alpine sort && printf 'b\na\n' | sdocker start -a -i sort`
	_ = cmd.Flags().MarkHidden("detach") // always
	return cmd
}

// createContainer creates the container of o and prints its id.
func createContainer(e *engine.Engine, o engine.RunOptions) error {
	id, err := e.Create(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Stdout, id)
	return nil
}
