package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/specgen"
)

// InitBinaryName is the init of --init, looked up beside the running
// executable.
const InitBinaryName = "sdocker-tini"

// DefaultStopTimeout is how long stop waits before SIGKILL unless the
// container was given its own (--stop-timeout) or stop one (-t).
const DefaultStopTimeout = 10 * time.Second

// ContainerStopTimeout asks Stop and Restart for the container's own
// timeout: its --stop-timeout, or DefaultStopTimeout.
const ContainerStopTimeout time.Duration = -2

// ProcessOptions are run's options of the container's process beyond
// its command: its init, limits, groups, and how it is stopped.
type ProcessOptions struct {
	Init        bool     // --init: sdocker-tini as PID 1, in front of the command
	Ulimits     []string // --ulimit NAME=SOFT[:HARD]
	StopSignal  string   // --stop-signal: what stop sends first ("" is SIGTERM)
	StopTimeout *int     // --stop-timeout: seconds before SIGKILL, -1 for none
	GroupAdd    []string // --group-add: supplementary groups, gids or names
	OOMScoreAdj *int     // --oom-score-adj
	CIDFile     string   // --cidfile: the container's id is written there
}

// processSpec checks o and is the spec option of the process it asks for.
func processSpec(o ProcessOptions) (specgen.Opt, error) {
	if o.StopSignal != "" {
		if _, err := launch.ParseSignal(o.StopSignal); err != nil {
			return nil, fmt.Errorf("%w: --stop-signal: %w", ErrInvalidInput, err)
		}
	}
	if o.StopTimeout != nil && *o.StopTimeout < -1 {
		return nil, fmt.Errorf("%w: --stop-timeout %d: use seconds, or -1 to wait for ever", ErrInvalidInput, *o.StopTimeout)
	}
	var limits []specs.POSIXRlimit
	for _, u := range o.Ulimits {
		l, err := specgen.ParseUlimit(u)
		if err == nil {
			err = rlimitAllowed(u, l)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		limits = append(limits, l)
	}
	if err := oomScoreAdjAllowed(o.OOMScoreAdj); err != nil {
		return nil, err
	}
	if o.CIDFile != "" {
		if _, err := os.Lstat(o.CIDFile); err == nil {
			return nil, fmt.Errorf("%w: --cidfile %s: the file exists: another container may use it; delete it first", ErrInvalidInput, o.CIDFile)
		}
	}
	var init string
	if o.Init {
		var err error
		if init, err = initBinary(); err != nil {
			return nil, err
		}
	}
	return func(s *specs.Spec) error {
		return specgen.Apply(s, specgen.WithRlimits(limits...), specgen.WithOOMScoreAdj(o.OOMScoreAdj), specgen.WithInit(init))
	}, nil
}

// initBinary is the path of the --init binary beside this executable.
func initBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("--init: find %s: %w", InitBinaryName, err)
	}
	p := filepath.Join(filepath.Dir(exe), InitBinaryName)
	if err := unix.Access(p, unix.X_OK); err != nil {
		return "", fmt.Errorf("--init: %s: %w (it is installed beside sdocker)", p, err)
	}
	return p, nil
}

// hasSysResource tells whether this process has CAP_SYS_RESOURCE, which
// raising a hard rlimit and lowering an OOM score adjustment need (the
// container's init starts with this process's credentials).
func hasSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}

// rlimitAllowed refuses a hard limit above this process's own when it
// cannot raise it: the container would fail to start.
func rlimitAllowed(u string, l specs.POSIXRlimit) error {
	res, _ := launch.RlimitResource(l.Type)
	var own unix.Rlimit
	if err := unix.Getrlimit(res, &own); err != nil {
		return fmt.Errorf("--ulimit %q: read this process's %s: %w", u, l.Type, err)
	}
	if l.Hard > own.Max && !hasSysResource() {
		return fmt.Errorf("--ulimit %q: the hard limit is above the host's (%s), which cannot be raised without CAP_SYS_RESOURCE", u, rlimitString(own.Max))
	}
	return nil
}

func rlimitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// oomScoreAdjAllowed refuses an adjustment below this process's own when
// it cannot lower it.
func oomScoreAdjAllowed(adj *int) error {
	if adj == nil || hasSysResource() {
		return nil
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return fmt.Errorf("read /proc/self/oom_score_adj: %w", err)
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("read /proc/self/oom_score_adj: %w", err)
	}
	if *adj < own {
		return fmt.Errorf("%w: --oom-score-adj %d: below the host's %d, which cannot be lowered without CAP_SYS_RESOURCE", ErrInvalidInput, *adj, own)
	}
	return nil
}

// stopSignal is the signal stop sends r first.
func stopSignal(r *Record) unix.Signal {
	if r.Host.StopSignal != "" {
		if sig, err := launch.ParseSignal(r.Host.StopSignal); err == nil {
			return sig
		}
	}
	return unix.SIGTERM
}

// stopTimeout is timeout, or r's own for ContainerStopTimeout (negative:
// no SIGKILL).
func stopTimeout(r *Record, timeout time.Duration) time.Duration {
	if timeout != ContainerStopTimeout {
		return timeout
	}
	if r.Host.StopTimeout != nil {
		if *r.Host.StopTimeout < 0 {
			return -1
		}
		return time.Duration(*r.Host.StopTimeout) * time.Second
	}
	return DefaultStopTimeout
}

// writeCIDFile writes r's id to path ("" is none), a new file.
func writeCIDFile(path, id string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("--cidfile: %w", err)
	}
	_, err = f.WriteString(id)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(path))
	}
	return nil
}

// removeCIDFile removes the --cidfile of a container that could not start
// (and is gone).
func removeCIDFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// userCommand is the command of r's process args as the user gave it:
// without the --init in front (as Docker shows it).
func userCommand(r *Record, args []string) []string {
	if r.Host.Init && len(args) >= 2 && args[0] == specgen.InitPath && args[1] == "--" {
		return args[2:]
	}
	return args
}

// UserCommand is the command of r as the user gave it (see userCommand).
func (r *Record) UserCommand() []string {
	if r.Spec == nil || r.Spec.Process == nil {
		return r.Command
	}
	return userCommand(r, r.Spec.Process.Args)
}
