package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/oci"
	"github.com/sdocker/sdocker/internal/proc"
	"github.com/sdocker/sdocker/internal/runtime"
)

func addCreateFlags(c *cobra.Command, o *oci.CreateOptions, noPivot *bool) {
	f := c.Flags()
	f.StringVarP(&o.Bundle, "bundle", "b", ".", "the bundle directory (holding config.json)")
	f.StringVar(&o.PidFile, "pid-file", "", "write the init's pid to this file")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master (process.terminal)")
	f.BoolVar(noPivot, "no-pivot", false, "do not use pivot_root (refused: always pivots)")
	f.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N more descriptors (3 .. 3+N-1) to the process")
}

func stdio() runtime.Stdio {
	return runtime.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

func checkCreate(o *oci.CreateOptions, noPivot bool) error {
	if noPivot {
		return fmt.Errorf("--no-pivot: not supported (the rootfs is always entered with pivot_root)")
	}
	if o.PreserveFDs < 0 {
		return fmt.Errorf("--preserve-fds %d: must not be negative", o.PreserveFDs)
	}
	return nil
}

func newCreateCommand(g *globals) *cobra.Command {
	var o oci.CreateOptions
	var noPivot bool
	c := &cobra.Command{
		Use:     "create [OPTIONS] ID",
		Short:   "Create a container from a bundle; its process waits for start",
		Example: "  sdocker-runc create --bundle /path/to/bundle mycontainer",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkCreate(&o, noPivot); err != nil {
				return err
			}
			o.Stdio = stdio()
			_, _, err := g.store().Create(args[0], o)
			return err
		},
	}
	addCreateFlags(c, &o, &noPivot)
	return c
}

func newStartCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "Run the process of a created container",
		Args:  cobra.ExactArgs(1),
		RunE:  func(c *cobra.Command, args []string) error { return g.store().Start(args[0]) },
	}
}

func newRunCommand(g *globals) *cobra.Command {
	var o oci.CreateOptions
	var noPivot, detach bool
	c := &cobra.Command{
		Use:     "run [OPTIONS] ID",
		Short:   "Create and start a container; without --detach wait for it and delete it",
		Example: "  sdocker-runc run --bundle /path/to/bundle mycontainer",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkCreate(&o, noPivot); err != nil {
				return err
			}
			id, s := args[0], g.store()
			o.Stdio, o.KillWithParent, o.Start = stdio(), !detach, true
			var sigs chan os.Signal
			if !detach {
				sigs = make(chan os.Signal, 8)
				signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
			}
			_, p, err := s.Create(id, o)
			if err != nil {
				return err
			}
			if detach {
				return nil
			}
			go func() {
				for sig := range sigs {
					p.Signal(sig.(syscall.Signal))
				}
			}()
			st, _ := p.Wait()
			signal.Stop(sigs)
			if err := s.Delete(id, true); err != nil {
				return err
			}
			return exitCode(exitStatus(st))
		},
	}
	addCreateFlags(c, &o, &noPivot)
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return once the container runs")
	return c
}

func exitStatus(ws *unix.WaitStatus) int {
	if ws == nil {
		return 255
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func newStateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "Print the state of a container (OCI state JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			st, err := g.store().Load(args[0])
			if err != nil {
				return err
			}
			out := struct {
				OCIVersion  string            `json:"ociVersion"`
				ID          string            `json:"id"`
				Status      string            `json:"status"`
				Pid         int               `json:"pid"`
				Bundle      string            `json:"bundle"`
				Rootfs      string            `json:"rootfs"`
				Created     string            `json:"created"`
				Owner       string            `json:"owner"`
				Annotations map[string]string `json:"annotations,omitempty"`
			}{st.Version, st.ID, string(st.Status), st.Pid, st.Bundle, st.Rootfs,
				st.Created.Format("2006-01-02T15:04:05.999999999Z"), "root", st.Annotations}
			if st.Status == "stopped" {
				out.Pid = 0
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				return err
			}
			fmt.Println(string(b))
			return nil
		},
	}
}

func newKillCommand(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:     "kill [OPTIONS] ID [SIGNAL]",
		Short:   "Send a signal (default SIGTERM) to a container's init",
		Example: "  sdocker-runc kill mycontainer KILL",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			sig := syscall.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = proc.ParseSignal(args[1]); err != nil {
					return err
				}
			}
			return g.store().Kill(args[0], sig, all)
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "signal every process of the container")
	return c
}

func newDeleteCommand(g *globals) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "delete [OPTIONS] ID",
		Short: "Delete a stopped container (and its cgroups); --force kills a running one",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			err := g.store().Delete(args[0], force)
			if force && err != nil && strings.Contains(err.Error(), oci.ErrNotExist.Error()) {
				return nil
			}
			return err
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it runs; no error if it does not exist")
	return c
}

func newPauseCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause ID",
		Short: "Freeze every process of a container",
		Args:  cobra.ExactArgs(1),
		RunE:  func(c *cobra.Command, args []string) error { return g.store().Pause(args[0]) },
	}
}

func newResumeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ID",
		Short: "Thaw a paused container",
		Args:  cobra.ExactArgs(1),
		RunE:  func(c *cobra.Command, args []string) error { return g.store().Resume(args[0]) },
	}
}
