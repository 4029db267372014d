package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/oci"
)

func addCreateFlags(c *command, o *oci.CreateOptions, noPivot *bool) {
	c.stringVar(&o.Bundle, "bundle", "b", ".", "the bundle directory (holding config.json)")
	c.fs.StringVar(&o.PidFile, "pid-file", "", "write the init's pid to this file")
	c.fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master (process.terminal)")
	c.fs.BoolVar(noPivot, "no-pivot", false, "do not use pivot_root (refused: always pivots)")
	c.fs.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	c.fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N more descriptors (3 .. 3+N-1) to the process")
}

func stdio() launch.Stdio {
	return launch.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
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

func newCreateCommand(g *globals) *command {
	var o oci.CreateOptions
	var noPivot bool
	c := newCommand(g, "create", "create [OPTIONS] ID", "Create a container from a bundle; its process waits for start", 1, 1)
	c.example = "  sdocker-runc create --bundle /path/to/bundle mycontainer"
	c.run = func(args []string) error {
		if err := checkCreate(&o, noPivot); err != nil {
			return err
		}
		o.Stdio = stdio()
		_, _, err := g.store().Create(args[0], o)
		return err
	}
	addCreateFlags(c, &o, &noPivot)
	return c
}

func newStartCommand(g *globals) *command {
	c := newCommand(g, "start", "start ID", "Run the process of a created container", 1, 1)
	c.run = func(args []string) error { return g.store().Start(args[0]) }
	return c
}

func newRunCommand(g *globals) *command {
	var o oci.CreateOptions
	var noPivot, detach bool
	c := newCommand(g, "run", "run [OPTIONS] ID", "Create and start a container; without --detach wait for it and delete it", 1, 1)
	c.example = "  sdocker-runc run --bundle /path/to/bundle mycontainer"
	c.run = func(args []string) error {
		if err := checkCreate(&o, noPivot); err != nil {
			return err
		}
		id, s := args[0], g.store()
		o.Stdio, o.KillWithParent, o.Start = stdio(), !detach, true
		var sigs chan os.Signal
		stop := func() {}
		if !detach {
			sigs = make(chan os.Signal, 64)
			stop = launch.NotifyProxied(sigs)
		}
		defer stop()
		_, p, err := s.Create(id, o)
		if err != nil {
			return err
		}
		if detach {
			return nil
		}
		go proxySignals(sigs, p, o.ConsoleSocket != "")
		st, _ := p.Wait()
		stop()
		if err := s.Delete(id, true); err != nil {
			return err
		}
		return exitCode(launch.ExitCode(st, 255))
	}
	addCreateFlags(c, &o, &noPivot)
	c.boolVar(&detach, "detach", "d", false, "return once the container runs")
	return c
}

func newStateCommand(g *globals) *command {
	c := newCommand(g, "state", "state ID", "Print the state of a container (OCI state JSON)", 1, 1)
	c.run = func(args []string) error {
		st, err := g.store().Head(args[0])
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
	}
	return c
}

func newKillCommand(g *globals) *command {
	var all bool
	c := newCommand(g, "kill", "kill [OPTIONS] ID [SIGNAL]", "Send a signal (default SIGTERM) to a container's init", 1, 2)
	c.example = "  sdocker-runc kill mycontainer KILL"
	c.run = func(args []string) error {
		sig := syscall.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = launch.ParseSignal(args[1]); err != nil {
				return err
			}
		}
		return g.store().Kill(args[0], sig, all)
	}
	c.boolVar(&all, "all", "a", false, "signal every process of the container")
	return c
}

func newDeleteCommand(g *globals) *command {
	var force bool
	c := newCommand(g, "delete", "delete [OPTIONS] ID", "Delete a stopped container (and its cgroups); --force kills a running one", 1, 1)
	c.run = func(args []string) error {
		err := g.store().Delete(args[0], force)
		if force && err != nil && strings.Contains(err.Error(), oci.ErrNotExist.Error()) {
			return nil
		}
		return err
	}
	c.boolVar(&force, "force", "f", false, "kill the container first if it runs; no error if it does not exist")
	return c
}

func newPauseCommand(g *globals) *command {
	c := newCommand(g, "pause", "pause ID", "Freeze every process of a container", 1, 1)
	c.run = func(args []string) error { return g.store().Pause(args[0]) }
	return c
}

func newResumeCommand(g *globals) *command {
	c := newCommand(g, "resume", "resume ID", "Thaw a paused container", 1, 1)
	c.run = func(args []string) error { return g.store().Resume(args[0]) }
	return c
}
