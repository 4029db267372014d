package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
)

// registryCommands are pull, push, login and logout: the registry client
// sdocker-registry runs them, so that its HTTP, TLS and registry libraries
// are no part of this binary and cost the other commands' start nothing.
func registryCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range []struct{ use, short string }{
		{"pull [OPTIONS] NAME[:TAG|@DIGEST]", "Pull an image from a registry"},
		{"push [OPTIONS] NAME:TAG", "Push an image to a registry"},
		{"login [OPTIONS] [SERVER]", "Log in to a registry (credentials go to Docker's config.json)"},
		{"logout [SERVER]", "Remove the credentials stored for a registry"},
	} {
		cmds = append(cmds, &cobra.Command{
			Use: c.use, Short: c.short,
			// Flags, --help included, are the registry client's to parse:
			// it gets the command line as it is.
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				code, err := runRegistryClient(os.Args[1:], os.Stdout)
				if err != nil {
					return err
				}
				return exitCode(code)
			},
		})
	}
	return cmds
}

// runRegistryClient runs sdocker-registry with args, its output to stdout
// and stderr, and returns its exit status. SIGINT and SIGTERM go to it (it
// stops cleanly; a pull resumes later), and so does this process's death.
func runRegistryClient(args []string, stdout io.Writer) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("find the registry client: %w", err)
	}
	client := filepath.Join(filepath.Dir(exe), "sdocker-registry")
	cmd := exec.Command(client, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, os.Stderr
	// The death signal follows the thread that forks: it stays.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("the registry client (sdocker-registry, installed beside sdocker): %w", err)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s) // it may have ended: nothing to stop then
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}
