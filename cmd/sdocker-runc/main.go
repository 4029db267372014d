// Command sdocker-runc is an OCI runtime with runc's command line, for
// podman, containerd and Kubernetes to drive.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	_ "github.com/sdocker/sdocker/internal/hugeheap" // first: see the package
	"io"
	"os"
	goruntime "runtime"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/oci"
	"github.com/sdocker/sdocker/internal/runtime"
)

// version is the release of sdocker-runc.
const version = "0.1.0"

func init() {
	if runtime.IsChild() {
		goruntime.LockOSThread()
	}
}

// exitCode ends a command with a status and no message.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

type globals struct {
	root          string
	log           string
	logFormat     string
	systemdCgroup bool
	debug         bool
	rootless      string
}

func (g *globals) store() *oci.Store { return &oci.Store{Root: g.root} }

func main() {
	if runtime.IsChild() {
		runtime.Main()
	}
	var g globals
	cmd := newRootCommand(&g)
	err := cmd.Execute()
	var code exitCode
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		logError(&g, err)
		os.Exit(1)
	}
}

// logError reports err on stderr and, with --log, in the log file in the
// chosen format (containerd and podman read it back from there).
func logError(g *globals, err error) {
	fmt.Fprintf(os.Stderr, "sdocker-runc: %v\n", err)
	if g.log == "" {
		return
	}
	f, ferr := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if ferr != nil {
		return
	}
	defer f.Close()
	writeLog(f, g.logFormat, "error", err.Error())
}

func writeLog(w io.Writer, format, level, msg string) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if format == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "time=%q level=%s msg=%q\n", now, level, msg)
}

func newRootCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sdocker-runc",
		Short: "An OCI runtime (runc's command line) on the sdocker core",
		Long: `sdocker-runc creates and runs containers from OCI bundles, with runc's
command line: podman (--runtime), containerd (runc shim BinaryName) and
Kubernetes (RuntimeClass) drive it as they drive runc.`,
		Version:       fmt.Sprintf("%s\nspec: %s", version, specs.Version),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			switch g.logFormat {
			case "text", "json":
			default:
				return fmt.Errorf("--log-format %q: use text or json", g.logFormat)
			}
			if g.systemdCgroup {
				return fmt.Errorf("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs")
			}
			switch g.rootless {
			case "", "false", "auto":
			default:
				return fmt.Errorf("--rootless %q: rootless containers are not supported", g.rootless)
			}
			if g.debug && g.log != "" {
				if f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
					writeLog(f, g.logFormat, "debug", fmt.Sprintf("%s %v", c.Name(), args))
					f.Close()
				}
			}
			return nil
		},
	}
	cmd.SetVersionTemplate("sdocker-runc version {{.Version}}\n")
	f := cmd.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/sdocker-runc", "directory for the containers' state")
	f.StringVar(&g.log, "log", "", "write errors (and debug lines) to this file")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (refused: not supported)")
	f.BoolVar(&g.debug, "debug", false, "log each command to --log")
	f.StringVar(&g.rootless, "rootless", "", "rootless mode: false or auto (true is refused)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%v (see '%s --help')", err, c.CommandPath())
	})
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.AddCommand(
		newCreateCommand(g), newStartCommand(g), newRunCommand(g), newStateCommand(g),
		newKillCommand(g), newDeleteCommand(g), newExecCommand(g), newPsCommand(g),
		newListCommand(g), newPauseCommand(g), newResumeCommand(g), newUpdateCommand(g),
		newEventsCommand(g), newFeaturesCommand(), newSpecCommand(),
	)
	return cmd
}
