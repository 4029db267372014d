package engine

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// traceStep is one line of a --trace: its offset and duration in ms;
// beside for a step that ran beside the others ("| NAME").
type traceStep struct {
	at, dur float64
	name    string
	beside  bool
}

var (
	traceLine  = regexp.MustCompile(`^trace: +(\d+\.\d{3})ms  (.+?) +(\d+\.\d{3})ms$`)
	traceTotal = regexp.MustCompile(`^trace: +total +(\d+\.\d{3})ms$`)
)

// parseTrace reads the trace lines of stderr: the steps and the total. The
// steps that follow each other must tile the time line (each starts where
// the one before ended) and add up to the total; a step beside them lies
// within it.
func parseTrace(t *testing.T, stderr string) (steps []traceStep, total float64) {
	t.Helper()
	seenHeader := false
	for _, l := range lines(stderr) {
		if !strings.HasPrefix(l, "trace:") {
			continue
		}
		if !seenHeader {
			if strings.Join(strings.Fields(l), " ") != "trace: AT STEP DURATION" {
				t.Fatalf("trace without its header: %q\n%s", l, stderr)
			}
			seenHeader = true
			continue
		}
		if m := traceTotal.FindStringSubmatch(l); m != nil {
			total, _ = strconv.ParseFloat(m[1], 64)
			continue
		}
		m := traceLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("cannot parse trace line %q\n%s", l, stderr)
		}
		s := traceStep{name: m[2]}
		s.at, _ = strconv.ParseFloat(m[1], 64)
		s.dur, _ = strconv.ParseFloat(m[3], 64)
		if n, ok := strings.CutPrefix(s.name, "| "); ok {
			s.name, s.beside = n, true
		}
		steps = append(steps, s)
	}
	if len(steps) == 0 || total <= 0 {
		t.Fatalf("no trace steps or total in:\n%s", stderr)
	}
	sum, end := 0.0, 0.0
	for _, s := range steps {
		if s.beside {
			if s.at < 0 || s.at+s.dur > total+0.01 {
				t.Errorf("step %q (at %.3f, %.3f ms) outside the total %.3f ms", s.name, s.at, s.dur, total)
			}
			continue
		}
		// Each figure is rounded to a microsecond.
		if math.Abs(s.at-end) > 0.002 {
			t.Errorf("step %q starts at %.3f ms, the one before ended at %.3f ms\n%s", s.name, s.at, end, stderr)
		}
		sum += s.dur
		end = s.at + s.dur
	}
	if math.Abs(sum-total) > 0.001*float64(len(steps))+0.001 {
		t.Errorf("steps add up to %.3f ms, total %.3f ms\n%s", sum, total, stderr)
	}
	return steps, total
}

// wantSteps fails unless every name has a step (of the main line), in
// this order.
func wantSteps(t *testing.T, steps []traceStep, stderr string, names ...string) {
	t.Helper()
	i := 0
	for _, s := range steps {
		if i < len(names) && !s.beside && s.name == names[i] {
			i++
		}
	}
	if i < len(names) {
		t.Errorf("trace lacks step %q (or has it out of order), want %q in order:\n%s", names[i], names, stderr)
	}
}

// TestRunTrace: run --trace lists the engine's steps, the clone, each of
// the init's mounts, pivot_root, the cgroup writes and the execve, with
// durations that add up to the total; the seccomp filter shows where it
// goes in (and still holds); without --trace there is no trace.
func TestRunTrace(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun(0, "run", "--rm", "--network", "none", "--trace", "--pids-limit", "50", rootfsDir, "true")
	steps, total := parseTrace(t, r.stderr)
	wantSteps(t, steps, r.stderr, "options, image lookup", "image resolve, volumes, record", "spec build", "rootfs prepare", "network",
		"clone", "init start (exec, Go runtime)", "read config", "wait for placed", "namespaces, keyring",
		"mount proc /proc", "mount tmpfs /dev", "mount sysfs /sys", "devices", "pivot_root", "masked paths",
		"look up true", "user, groups, capabilities", "cgroup write: pids.max", "seal descriptors", "execve", "record: running")
	besides := map[string]bool{}
	for _, s := range steps {
		besides[s.name] = s.beside
	}
	if !besides["config: seccomp compile, encode, send"] {
		t.Errorf("no step of the parent beside the init's:\n%s", r.stderr)
	}
	if total > 10000 {
		t.Errorf("total %.3f ms: not a start's", total)
	}

	// A seccomp profile: the filter goes in before execve, with
	// no-new-privileges right before it, else (it needs CAP_SYS_ADMIN then)
	// before the user and capabilities.
	profile := filepath.Join(t.TempDir(), "profile.json")
	err := os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(0, "run", "--rm", "--network", "none", "--trace", "--security-opt", "seccomp="+profile,
		"--security-opt", "no-new-privileges", rootfsDir, "sh", "-c", "mkdir /tmp/d 2>/dev/null; echo mkdir $?")
	steps, _ = parseTrace(t, r.stderr)
	wantSteps(t, steps, r.stderr, "user, groups, capabilities", "no_new_privs", "seal descriptors", "seccomp filter, execve")
	if strings.TrimSpace(r.stdout) != "mkdir 1" {
		t.Errorf("traced start with a seccomp profile: mkdir was not refused: %q", r.stdout)
	}
	r = e.mustRun(0, "run", "--rm", "--network", "none", "--trace", "--security-opt", "seccomp="+profile, rootfsDir, "true")
	steps, _ = parseTrace(t, r.stderr)
	wantSteps(t, steps, r.stderr, "seal descriptors", "seccomp filter, user, groups, capabilities, execve")

	// A start that fails shows its steps up to the failure.
	r = e.mustRun(127, "run", "--rm", "--network", "none", "--trace", rootfsDir, "no-such-program")
	if !strings.Contains(r.stderr, "trace:") || !strings.Contains(r.stderr, "clone") || strings.Contains(r.stderr, "execve") {
		t.Errorf("failed traced start:\n%s", r)
	}

	r = e.mustRun(0, "run", "--rm", "--network", "none", rootfsDir, "true")
	if strings.Contains(r.stderr, "trace:") {
		t.Errorf("untraced run printed a trace:\n%s", r.stderr)
	}
	if r := e.run("create", "--trace", rootfsDir, "true"); r.code != 125 || !strings.Contains(r.stderr, "unknown flag: --trace") {
		t.Errorf("create --trace:\n%s", r)
	}
}

// TestExecTrace: exec --trace lists the steps of entering the container,
// for a foreground exec (ending with its execve) and a detached one (whose
// helper forks the program and exits).
func TestExecTrace(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--network", "none", "--pids-limit", "50", rootfsDir, "sleep", "100")
	r := e.mustRun(0, "exec", "--trace", id, "true")
	steps, _ := parseTrace(t, r.stderr)
	wantSteps(t, steps, r.stderr, "engine open", "find container, process spec", "clone", "init start (exec, Go runtime)",
		"read config", "join namespaces", "look up true", "cgroup write: join pids cgroup", "user, groups, capabilities",
		"seal descriptors", "execve")
	r = e.mustRun(0, "exec", "--trace", "-d", id, "true")
	steps, _ = parseTrace(t, r.stderr)
	wantSteps(t, steps, r.stderr, "clone", "join namespaces", "seal descriptors", "fork program, exit")
	r = e.mustRun(7, "exec", id, "sh", "-c", "exit 7")
	if strings.Contains(r.stderr, "trace:") {
		t.Errorf("untraced exec printed a trace:\n%s", r.stderr)
	}
}
