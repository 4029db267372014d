// Command sdocker-runc is an OCI runtime with runc's command line, for
// podman, containerd and Kubernetes to drive.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/hugeheap"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/oci"
)

// version is the release of sdocker-runc.
const version = "0.1.0"

func init() {
	if launch.IsChild() {
		runtime.LockOSThread()
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
	if launch.IsChild() {
		// The container's init (where no sdocker-init is installed beside
		// this binary) puts its heap on a huge page, as sdocker-init does.
		// The commands do not: the huge page costs more than the page
		// faults it saves them (see hugeheap).
		hugeheap.Enable()
		launch.Main()
	}
	// Off the critical path: its signal.Notify starts a thread (the
	// runtime's signal mask thread) and waits for it, ~0.1 ms of a
	// command that takes about 1.5.
	go launch.QuietQuit()
	g := globals{root: "/run/sdocker-runc", logFormat: "text"}
	defer func() {
		// A bug of ours is one line too, never a Go stack.
		if r := recover(); r != nil {
			logError(&g, fmt.Errorf("internal error: %v", r))
			os.Exit(1)
		}
	}()
	err := execute(&g, os.Args[1:])
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

// register adds to fs the global options it does not have itself (a
// command's own option of the same name wins, as with cobra), their
// values so far as defaults.
func (g *globals) register(fs *flag.FlagSet) {
	str := func(p *string, name, usage string) {
		if fs.Lookup(name) == nil {
			fs.StringVar(p, name, *p, usage)
		}
	}
	boolean := func(p *bool, name, usage string) {
		if fs.Lookup(name) == nil {
			fs.BoolVar(p, name, *p, usage)
		}
	}
	str(&g.root, "root", "directory for the containers' state")
	str(&g.log, "log", "write errors (and debug lines) to this file")
	str(&g.logFormat, "log-format", "log format: text or json")
	boolean(&g.systemdCgroup, "systemd-cgroup", "use the systemd cgroup driver (refused: not supported)")
	boolean(&g.debug, "debug", "log each command to --log")
	str(&g.rootless, "rootless", "rootless mode: false or auto (true is refused)")
}

func globalNames(name string) bool {
	switch name {
	case "root", "log", "log-format", "systemd-cgroup", "debug", "rootless":
		return true
	}
	return false
}

// commandTable lists the commands in help's order. Only the command that
// runs is built (its options' flag set), not all of them: the runtime is
// started several times per container.
var commandTable = []struct {
	name string
	make func(*globals) *command
}{
	{"create", newCreateCommand}, {"start", newStartCommand}, {"run", newRunCommand},
	{"state", newStateCommand}, {"kill", newKillCommand}, {"delete", newDeleteCommand},
	{"exec", newExecCommand}, {"ps", newPsCommand}, {"list", newListCommand},
	{"pause", newPauseCommand}, {"resume", newResumeCommand}, {"update", newUpdateCommand},
	{"events", newEventsCommand}, {"features", newFeaturesCommand}, {"spec", newSpecCommand},
}

func commands(g *globals) []*command {
	cmds := make([]*command, len(commandTable))
	for i, c := range commandTable {
		cmds[i] = c.make(g)
	}
	return cmds
}

// execute parses the global options, then runs the command named next.
func execute(g *globals, args []string) error {
	fs := flag.NewFlagSet("sdocker-runc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	var showVersion bool
	fs.BoolVar(&showVersion, "version", false, "print the version")
	fs.BoolVar(&showVersion, "v", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			rootHelp(os.Stdout, g, fs)
			return nil
		}
		return fmt.Errorf("%w (see 'sdocker-runc --help')", err)
	}
	if showVersion {
		fmt.Printf("sdocker-runc version %s\nspec: %s\n", version, specs.Version)
		return nil
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" && len(rest) == 1 {
		rootHelp(os.Stdout, g, fs)
		return nil
	}
	name := rest[0]
	if name == "help" {
		name = rest[1]
		rest = []string{name, "--help"}
	}
	for _, t := range commandTable {
		if t.name == name {
			c := t.make(g)
			// The global options are taken after the command's name
			// too, as cobra took them.
			g.register(c.fs)
			return c.execute(rest[1:])
		}
	}
	return fmt.Errorf("unknown command %q for sdocker-runc (see 'sdocker-runc --help')", name)
}

// check refuses what the global options ask and cannot be done; with
// --debug it logs the command line.
func (g *globals) check(name string, args []string) error {
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
			writeLog(f, g.logFormat, "debug", fmt.Sprintf("%s %v", name, args))
			f.Close()
		}
	}
	return nil
}

func rootHelp(w io.Writer, g *globals, fs *flag.FlagSet) {
	fmt.Fprintf(w, `An OCI runtime (runc's command line) on the sdocker core

sdocker-runc creates and runs containers from OCI bundles, with runc's
command line: podman (--runtime), containerd (runc shim BinaryName) and
Kubernetes (RuntimeClass) drive it as they drive runc.

Usage:
  sdocker-runc [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]

Commands:
`)
	for _, c := range commands(g) {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nGlobal options:\n")
	printFlags(w, fs, map[string]string{"version": "v"}, func(string) bool { return false })
	fmt.Fprintf(w, "\nRun 'sdocker-runc COMMAND --help' for a command's options.\n")
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
