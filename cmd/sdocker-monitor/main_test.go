package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/jsonlog"
)

// TestWatch runs a shell as the "init": its output is logged as the engine
// logs it (lines, 16 KiB chunks, the last partial line) and its wait status
// comes back.
func TestWatch(t *testing.T) {
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	long := strings.Repeat("x", 2*chunk+100)
	cmd := exec.Command("sh", "-c", `printf 'one\n<two>\n'; echo err >&2; printf '%s\n' "$LONG"; printf 'last'; exit 3`)
	cmd.Env = []string{"LONG=" + long, "PATH=/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Skip("no sh: ", err)
	}
	outW.Close()
	errW.Close()
	// The monitor owns these descriptors: dup them, as os.File closes its own.
	dup := func(f *os.File) int {
		fd, err := unix.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return fd
	}
	m := &monitor{pid: cmd.Process.Pid, log: jsonlog.NewWriter(int(logf.Fd()))}
	m.add(dup(outR), "stdout")
	m.add(dup(errR), "stderr")
	ws := unix.WaitStatus(m.watch())
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %#x, want exit 3", int(ws))
	}
	b, err := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e struct{ Log, Stream, Time string }
		if err := json.Unmarshal(l, &e); err != nil || e.Time == "" {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, e.Stream+":"+e.Log)
	}
	want := []string{"stdout:one\n", "stdout:<two>\n", "stdout:" + long[:chunk], "stdout:" + long[:chunk],
		"stdout:" + long[:100] + "\n", "stdout:last"}
	var stdout []string
	stderr := 0
	for _, g := range got {
		if g == "stderr:err\n" {
			stderr++
		} else {
			stdout = append(stdout, g)
		}
	}
	if stderr != 1 || strings.Join(stdout, "|") != strings.Join(want, "|") {
		t.Errorf("log entries %q", got)
	}
}

func TestRunBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"sdocker-monitor"},
		{"sdocker-monitor", "x", "3", "4", "5", "/bin/true", "a"},
		{"sdocker-monitor", "1", "3", "4", "-5", "/bin/true", "a"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}

func TestParseRotate(t *testing.T) {
	size, files, path, err := parseRotate("10485760,3,/var/lib/a,b/container-json.log")
	if err != nil || size != 10485760 || files != 3 || path != "/var/lib/a,b/container-json.log" {
		t.Errorf("parseRotate: %d %d %q %v", size, files, path, err)
	}
	for _, bad := range []string{"", "1", "1,2", "1,2,", "x,2,/p", "1,x,/p", "0,2,/p", "1,0,/p", "-1,2,/p"} {
		if _, _, _, err := parseRotate(bad); err == nil {
			t.Errorf("parseRotate(%q) accepted", bad)
		}
	}
	if err := run([]string{"sdocker-monitor", "--log-rotate=abc"}); err == nil || !strings.Contains(err.Error(), "--log-rotate=abc") {
		t.Errorf("run with a bad --log-rotate: %v", err)
	}
}

func TestParseHealth(t *testing.T) {
	c, err := parseHealth("250,abc123,/var/lib/a,b")
	if err != nil || c.every != 250*time.Millisecond {
		t.Fatalf("parseHealth: %+v %v", c, err)
	}
	if want := []string{"sdocker", "--root", "/var/lib/a,b", "healthcheck", "run", "abc123"}; !slices.Equal(c.argv, want) {
		t.Errorf("argv %q, want %q", c.argv, want)
	}
	for _, bad := range []string{"", "1", "1,id", "1,id,", "x,id,/r", "0,id,/r", "-5,id,/r", "1,,/r"} {
		if _, err := parseHealth(bad); err == nil {
			t.Errorf("parseHealth(%q) accepted", bad)
		}
	}
	if err := run([]string{"sdocker-monitor", "--health=abc"}); err == nil || !strings.Contains(err.Error(), "--health=abc") {
		t.Errorf("run with a bad --health: %v", err)
	}
}

// TestWatchHealth: while the "init" runs, the checks start one at a time,
// an interval apart, are reaped (and so is a child left from before), and
// get none of the descriptors the monitor inherited (the container's
// lock); those go on to the next execve again. The init's status comes
// back whoever reaps it.
func TestWatchHealth(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	inherited, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer inherited.Close()
	// A number no shell or ls of a check uses by itself, inheritable.
	const lockFD = 100
	if err := unix.Dup3(int(inherited.Fd()), lockFD, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lockFD)
	// A check left by the monitor before the container was restarted: a
	// child that ends while the new init runs.
	stray := exec.Command("sleep", "0.3")
	if err := stray.Start(); err != nil {
		t.Skip("no sleep: ", err)
	}
	cmd := exec.Command("sh", "-c", "sleep 1.2; exit 3")
	if err := cmd.Start(); err != nil {
		t.Skip("no sh: ", err)
	}
	// Each check notes whether it runs alone and which descriptors it has.
	script := `exec 9>>"$0.lock"; flock -n 9 || echo overlap >> "$0"; ls /proc/self/fd | tr '\n' ' ' >> "$0"; echo >> "$0"; sleep 0.05`
	c := &checker{every: 100 * time.Millisecond, next: time.Now().Add(100 * time.Millisecond),
		exe: "/bin/sh", argv: []string{"sh", "-c", script, runs}, env: os.Environ()}
	c.hold()
	m := &monitor{pid: cmd.Process.Pid, log: jsonlog.NewWriter(int(os.Stderr.Fd())), check: c}
	if ws := unix.WaitStatus(m.watch()); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %#x, want exit 3", int(ws))
	}
	c.release()
	if pid, err := unix.Wait4(stray.Process.Pid, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("the stray child was not reaped: wait4 %d, %v", pid, err)
	}
	b, _ := os.ReadFile(runs)
	got := lines(string(b))
	// 1.2 s, a check every 100 ms plus its 50 ms: about 8.
	if len(got) < 3 {
		t.Fatalf("%d checks ran in 1.2 s with an interval of 100 ms:\n%s", len(got), b)
	}
	for _, l := range got {
		if strings.Contains(l, "overlap") {
			t.Errorf("checks overlapped:\n%s", b)
		}
		for _, fd := range strings.Fields(l) {
			if fd == strconv.Itoa(lockFD) {
				t.Errorf("a check inherited descriptor %d: %s", lockFD, l)
			}
		}
	}
	if flags, err := unix.FcntlInt(uintptr(lockFD), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("descriptor %d after release: flags %d, %v; want inheritable", lockFD, flags, err)
	}
	if c.pid != 0 {
		t.Errorf("a check still runs after release")
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); err != unix.ECHILD && pid != 0 {
		t.Errorf("a check was left unreaped: %d %v", pid, err)
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestParseAttach(t *testing.T) {
	for v, want := range map[string][3]int{"6,16,-": {6, 16, 0}, "6,-1,once": {6, -1, 1}} {
		lfd, in, once, err := parseAttach(v)
		if err != nil || lfd != want[0] || in != want[1] || once != (want[2] == 1) {
			t.Errorf("parseAttach(%q): %d %d %v %v", v, lfd, in, once, err)
		}
	}
	for _, bad := range []string{"", "6", "6,7", "6,7,", "6,7,x", "x,7,-", "6,x,-", "-1,7,-", "6,-2,-", "6,7,-,8"} {
		if _, _, _, err := parseAttach(bad); err == nil {
			t.Errorf("parseAttach(%q) accepted", bad)
		}
	}
	if err := run([]string{"sdocker-monitor", "--log-rotate=1,1,/p", "--attach=abc"}); err == nil || !strings.Contains(err.Error(), "--attach=abc") {
		t.Errorf("run with a bad --attach: %v", err)
	}
}

// TestPausedWait: the checks of a paused container wait twice as long each
// time, up to the bound (never less than the interval), and an interval
// again once one is not paused: as the engine's own checks do, on the
// status it gives.
func TestPausedWait(t *testing.T) {
	if pausedStatus != engine.HealthcheckPausedStatus || maxPausedWait != engine.MaxPausedHealthWait {
		t.Fatalf("paused status %d and bound %s, the engine's %d and %s", pausedStatus, maxPausedWait, engine.HealthcheckPausedStatus, engine.MaxPausedHealthWait)
	}
	for _, every := range []time.Duration{200 * time.Millisecond, 3 * time.Second, time.Minute} {
		c := &checker{every: every, wait: every}
		var got []time.Duration
		for _, paused := range []bool{true, true, true, true, true, true, true, false, true} {
			want := engine.NextHealthWait(every, c.wait, paused)
			c.wait = c.nextWait(paused)
			if c.wait != want {
				t.Errorf("interval %s: wait %s, the engine's %s", every, c.wait, want)
			}
			got = append(got, c.wait)
		}
		if got[0] != max(every, min(2*every, maxPausedWait)) || slices.Max(got) != max(every, maxPausedWait) || got[7] != every {
			t.Errorf("interval %s: waits %v", every, got)
		}
	}
}
