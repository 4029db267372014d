package engine

import (
	"fmt"
	"os"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/specgen"
	"github.com/sdocker/sdocker/internal/trace"
)

// ExecOptions are the options of `sdocker exec`.
type ExecOptions struct {
	Args        []string // default: bash
	Env         []string // KEY=VALUE added to the container's environment
	Workdir     string
	User        string // uid[:gid] or name[:group]
	Tty         bool
	Interactive bool
	Detach      bool // do not wait for the process
	// Trace, if not nil, gets each step of the start, which Exec prints
	// with its duration to Stderr once the process runs.
	Trace *trace.Trace

	Stdin, Stdout, Stderr *os.File
}

// running returns the record of a running container, or an error saying
// why it cannot be entered.
func (e *Engine) running(ref string) (*Record, error) {
	r, err := e.Find(ref)
	if err != nil {
		return nil, err
	}
	if r.Status == StatePaused && live(r) {
		return nil, fmt.Errorf("%w: container %s is paused, unpause the container before exec", ErrWrongState, r.ID)
	}
	if r.Status != StateRunning || !live(r) {
		return nil, fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
	}
	return r, e.requireSpec(r)
}

// Exec runs a process in a running container and returns its exit status.
func (e *Engine) Exec(ref string, o ExecOptions) (int, error) {
	tr := o.Trace
	_ = e.Collect() // as in refresh
	r, err := e.running(ref)
	if err != nil {
		return 125, err
	}
	pr := *r.Spec.Process
	pr.Args = o.Args
	if len(pr.Args) == 0 {
		pr.Args = []string{"bash"}
	}
	pr.Terminal = o.Tty
	pr.Env = append([]string{}, pr.Env...)
	if o.Tty {
		pr.Env = append(pr.Env, "TERM=xterm")
	}
	pr.Env = append(pr.Env, o.Env...)
	if o.Workdir != "" {
		pr.Cwd = o.Workdir
	}
	if o.User != "" {
		if pr.User, err = specgen.ResolveUser(r.Rootfs, o.User); err != nil {
			return 125, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
	}
	if o.Detach && (o.Interactive || o.Tty) {
		return 125, fmt.Errorf("%w: -d cannot be combined with -i or -t", ErrInvalidInput)
	}
	cg, err := cgroups.New(r.Spec.Linux.CgroupsPath)
	if err != nil {
		return 125, err
	}
	tr.Mark("find container, process spec")
	stdio := launch.Stdio{Stdout: o.Stdout, Stderr: o.Stderr}
	if o.Interactive {
		stdio.Stdin = o.Stdin
	}
	sigs := make(chan os.Signal, 64)
	defer launch.NotifyProxied(sigs)()
	if o.Detach {
		stdio = launch.Stdio{}
	}
	p, err := launch.Exec(r.Pid, withoutCgroupLimits(r.Spec), &pr, cg, launch.Options{Stdio: stdio, KillWithParent: true, Orphan: o.Detach, Trace: tr})
	writeTrace(tr, o.Stderr)
	if err != nil {
		return launch.ExitCodeOf(err), err
	}
	if o.Detach {
		// The helper exits as soon as the program runs, the container's
		// init adopting it; reap the helper (its status is not the
		// program's).
		_, _ = p.Wait()
		return 0, nil
	}
	return attach(p, o.Interactive, o.Stdin, o.Stdout, sigs), nil
}
