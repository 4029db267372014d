package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/oci"
)

func newExecCommand(g *globals) *command {
	var o oci.ExecOptions
	var processFile, cwd, user string
	var env, caps stringList
	var gids uintList
	var tty, noNewPrivs bool
	c := newCommand(g, "exec", "exec [OPTIONS] ID [COMMAND [ARG...]]", "Run a process in a running container", 1, -1)
	c.example = `  sdocker-runc exec mycontainer ps -ef
  sdocker-runc exec --process process.json --detach --pid-file p.pid mycontainer`
	c.run = func(args []string) error {
		id, s := args[0], g.store()
		st, err := s.Load(id)
		if err != nil {
			return err
		}
		var p specs.Process
		if processFile != "" {
			if len(args) > 1 {
				return fmt.Errorf("--process and a COMMAND cannot both be given")
			}
			b, err := os.ReadFile(processFile)
			if err != nil {
				return fmt.Errorf("read --process %s: %w", processFile, err)
			}
			if err := json.Unmarshal(b, &p); err != nil {
				return fmt.Errorf("parse --process %s: %w", processFile, err)
			}
		} else {
			if len(args) < 2 {
				return fmt.Errorf("no COMMAND given (or use --process)")
			}
			if st.Config.Process != nil {
				p = *st.Config.Process
				if p.Capabilities != nil {
					capsCopy := *p.Capabilities
					p.Capabilities = &capsCopy
				}
			}
			p.Args, p.Terminal = args[1:], tty
		}
		if cwd != "" {
			p.Cwd = cwd
		}
		if p.Cwd == "" {
			p.Cwd = "/"
		}
		p.Env = append(p.Env, env...)
		if user != "" {
			uid, gid, err := parseUser(user)
			if err != nil {
				return err
			}
			p.User.UID, p.User.GID = uid, gid
		}
		for _, gid := range gids {
			if err := ids.Check("--additional-gids", uint64(gid)); err != nil {
				return err
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
		}
		if noNewPrivs {
			p.NoNewPrivileges = true
		}
		if len(caps) > 0 {
			if p.Capabilities == nil {
				p.Capabilities = &specs.LinuxCapabilities{}
			}
			for _, name := range caps {
				if !launch.ValidCapability(name) {
					return fmt.Errorf("--cap %q: unknown capability", name)
				}
				// Never the inheritable set: what --cap grants stops at this process.
				p.Capabilities.Bounding = appendNew(p.Capabilities.Bounding, name)
				p.Capabilities.Effective = appendNew(p.Capabilities.Effective, name)
				p.Capabilities.Permitted = appendNew(p.Capabilities.Permitted, name)
			}
		}
		if o.PreserveFDs < 0 {
			return fmt.Errorf("--preserve-fds %d: must not be negative", o.PreserveFDs)
		}
		o.Stdio = stdio()
		var sigs chan os.Signal
		if !o.Detach {
			sigs = make(chan os.Signal, 64)
			defer launch.NotifyProxied(sigs)()
		}
		rp, err := s.ExecIn(st, &p, o)
		if err != nil {
			var se *launch.StartError
			if errors.As(err, &se) {
				logError(g, err)
				return exitCode(se.Code)
			}
			return err
		}
		if o.Detach {
			return nil
		}
		go proxySignals(sigs, rp, o.ConsoleSocket != "")
		state, _ := rp.Wait()
		return exitCode(launch.ExitCode(state, 255))
	}
	c.stringVar(&processFile, "process", "p", "", "a JSON file with the process (OCI process object)")
	c.boolVar(&o.Detach, "detach", "d", false, "do not wait for the process")
	c.fs.StringVar(&o.PidFile, "pid-file", "", "write the process's pid to this file")
	c.fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master")
	c.boolVar(&tty, "tty", "t", false, "allocate a pseudo-terminal")
	c.fs.StringVar(&cwd, "cwd", "", "working directory in the container")
	c.varFlag(&env, "env", "e", "set an environment variable KEY=VALUE")
	c.stringVar(&user, "user", "u", "", "UID[:GID] to run as")
	c.varFlag(&gids, "additional-gids", "g", "additional group ids")
	c.varFlag(&caps, "cap", "c", "add a capability (e.g. CAP_NET_ADMIN)")
	c.fs.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	c.fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N more descriptors (3 .. 3+N-1) to the process")
	return c
}

func appendNew(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// parseUser reads --user UID[:GID], both numbers in 0-2147483647 (the gid
// 0 when not given).
func parseUser(s string) (uid, gid uint32, err error) {
	us, gs, hasGid := strings.Cut(s, ":")
	if uid, err = ids.Parse(us); err != nil {
		return 0, 0, fmt.Errorf("--user %q: uid: %w (use UID[:GID] with numbers)", s, err)
	}
	if hasGid {
		if gid, err = ids.Parse(gs); err != nil {
			return 0, 0, fmt.Errorf("--user %q: gid: %w (use UID[:GID] with numbers)", s, err)
		}
	}
	return uid, gid, nil
}

// proxySignals passes the signals caught on sigs to p, but SIGWINCH when p
// has a terminal: its size is the business of whoever holds the pty master.
func proxySignals(sigs <-chan os.Signal, p *launch.Process, terminal bool) {
	for sig := range sigs {
		if sig == unix.SIGWINCH && terminal {
			continue
		}
		_ = p.Signal(sig.(syscall.Signal)) // a process that has just ended takes none
	}
}
