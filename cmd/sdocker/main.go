// Command sdocker is a small daemonless container engine: `sdocker run`
// starts a process in new namespaces and cgroups on a root file system.
package main

import (
	// First: the heap of this short-lived process on one huge page.
	_ "github.com/sdocker/sdocker/internal/hugeheap/atinit"

	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/launch"
)

func init() {
	// A container's init and exec helper set up namespaces and credentials
	// for the thread that will execve: keep the main goroutine on it.
	if launch.IsChild() {
		runtime.LockOSThread()
	}
}

// version is the release of sdocker.
const version = "0.1.0"

// exitError carries a status other than 125 out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// exitCode is how a command without an error ends, e.g. with the
// container's own status.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func main() {
	if launch.IsChild() {
		launch.Main()
	}
	if engine.IsMonitor() {
		engine.MonitorMain()
	}
	launch.QuietQuit()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) (status int) {
	defer func() {
		// A bug of ours is one line too, never a Go stack.
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "sdocker: internal error: %v\n", r)
			status = 125
		}
	}()
	cmd := newRootCommand()
	cmd.SetArgs(args)
	err := cmd.Execute()
	var code exitCode
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(os.Stderr, "sdocker: %v\n", ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(os.Stderr, "sdocker: %v\n", err)
		return 125
	}
}

func defaultRoot() string {
	if r := os.Getenv("SDOCKER_ROOT"); r != "" {
		return r
	}
	return "/var/lib/sdocker"
}

func newRootCommand() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "sdocker",
		Short: "A small, fast, daemonless container engine",
		Long: `sdocker runs processes in containers: new UTS, PID, mount, IPC, network and
cgroup namespaces, cgroup limits, on a root file system directory.`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("must be run as root (sdocker creates namespaces, cgroups and mounts)")
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&root, "root", defaultRoot(), "where sdocker keeps containers and the default rootfs (env SDOCKER_ROOT)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	openEngine := func() (*engine.Engine, error) { return engine.New(root) }
	cmd.AddCommand(
		newRunCommand(openEngine),
		newCreateCommand(openEngine),
		newAttachCommand(openEngine),
		newExecCommand(openEngine),
		newPsCommand(openEngine),
		newLogsCommand(openEngine),
		newInspectCommand(openEngine),
		newStatsCommand(openEngine),
		newTopCommand(openEngine),
		newPortCommand(openEngine),
		newRmCommand(openEngine),
		newCpCommand(openEngine),
		newEventsCommand(openEngine),
		newRootfsCommand(openEngine),
		newStartCommand(openEngine),
		newStopCommand(openEngine),
		newRestartCommand(openEngine),
		newKillCommand(openEngine),
		newWaitCommand(openEngine),
		newPauseCommand(openEngine),
		newUnpauseCommand(openEngine),
		newUpdateCommand(openEngine),
		newImportCommand(openEngine),
		newLoadCommand(openEngine),
		newImagesCommand(openEngine),
		newRmiCommand(openEngine),
		newTagCommand(openEngine),
		newImageCommand(openEngine),
		newHistoryCommand(openEngine),
		newCommitCommand(openEngine),
		newExportCommand(openEngine),
		newSaveCommand(openEngine),
		newVolumeCommand(openEngine),
		newNetworkCommand(openEngine, nil, newNetworkConnectCommand(openEngine), newNetworkDisconnectCommand(openEngine)),
	)
	cmd.AddCommand(registryCommands()...)
	cmd.CompletionOptions.DisableDefaultCmd = true
	return cmd
}
