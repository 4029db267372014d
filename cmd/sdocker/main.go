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
	"strings"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/rootless"
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
	if rootless.IsPause() {
		rootless.PauseMain()
	}
	if os.Geteuid() != 0 && needsNamespace(os.Args[1:]) {
		// An unprivileged user's command runs in the user's namespaces.
		err := rootless.Enter(os.Args[1:])
		fmt.Fprintf(os.Stderr, "sdocker: %v\n", err)
		os.Exit(125)
	}
	if rootless.Active() {
		rootless.Inside()
		network.RunDir = rootless.RunDir()
		if os.Getenv("SDOCKER_ROOT") == "" {
			// For the registry client and the monitor too.
			_ = os.Setenv("SDOCKER_ROOT", rootless.DataDir())
		}
	}
	if engine.IsMonitor() {
		engine.MonitorMain()
	}
	launch.QuietQuit()
	os.Exit(run(os.Args[1:]))
}

// needsNamespace reports whether the command line args does anything but
// print help or the version: only those need the user's namespaces. Help
// is asked for before the command's first argument that is not a flag.
func needsNamespace(args []string) bool {
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		switch args[i] {
		case "--help", "-h", "--version", "-v":
			return false
		case "--root":
			i++ // its value
		}
	}
	if i >= len(args) || args[i] == "help" || args[i] == "completion" {
		return false
	}
	for _, a := range args[i+1:] {
		if !strings.HasPrefix(a, "-") || a == "--" {
			break
		}
		if a == "--help" || a == "-h" {
			return false
		}
	}
	return true
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
	openEngine := func() (*engine.Engine, error) {
		e, err := engine.New(root)
		if err == nil {
			e.SubIDUser, e.SubUIDFile, e.SubGIDFile = os.Getenv("SDOCKER_USERNS_USER"), os.Getenv("SDOCKER_SUBUID"), os.Getenv("SDOCKER_SUBGID")
		}
		return e, err
	}
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
		newHealthcheckCommand(openEngine),
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
		newRenameCommand(openEngine),
		newDiffCommand(openEngine),
		newContainerCommand(openEngine),
		newSystemCommand(openEngine),
		newInfoCommand(openEngine),
		newVersionCommand(),
	)
	cmd.AddCommand(registryCommands()...)
	cmd.CompletionOptions.DisableDefaultCmd = true
	return cmd
}
