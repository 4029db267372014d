package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/tests/testutil"
)

// maxMonitorRSS is the most a running container's monitor may keep
// resident (issue 4's target).
const maxMonitorRSS = 3 << 20

// procKB reads a "Name:   N kB" field of a /proc file.
func procKB(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if name, rest, ok := strings.Cut(sc.Text(), ":"); ok && name == field {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, field, err)
			}
			return v << 10, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

// checkSmallMonitor checks that container id is watched by the small
// sdocker-monitor binary, as its init's parent, holding the container's
// lock; it returns the monitor's pid. `run -d` returns once the small
// monitor watches; after a restart, the caller waits for it (watching).
func (e *env) checkSmallMonitor(id string) int {
	e.t.Helper()
	rec := e.record(id)
	mon := rec.Monitor
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", mon))
	if err != nil || exe != filepath.Join(binDir, "sdocker-monitor") {
		e.t.Fatalf("monitor %d runs %q (%v), want %s", mon, exe, err, filepath.Join(binDir, "sdocker-monitor"))
	}
	if r := e.record(id); r.Pid != rec.Pid {
		e.t.Fatalf("container %s restarted meanwhile", id[:12])
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", mon))
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	for len(args) > 1 && strings.HasPrefix(args[1], "--") { // --log-rotate, --attach
		args = append(args[:1:1], args[2:]...)
	}
	if args[0] != "sdocker-monitor" || len(args) < 2 || args[1] != strconv.Itoa(rec.Pid) || !strings.Contains(string(cmdline), id) {
		e.t.Errorf("monitor command line %q (init %d)", args, rec.Pid)
	}
	if st, ok := testutil.ReadProcStat(rec.Pid); !ok || st.PPid != mon {
		e.t.Errorf("init %d: parent %d, want the monitor %d", rec.Pid, st.PPid, mon)
	}
	fd, err := unix.Open(filepath.Join(e.root, "containers", id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		e.t.Errorf("container lock not held while the container runs: %v", err)
	}
	return mon
}

// TestMonitorSmall: a running detached container is watched by
// sdocker-monitor, which keeps at most 3 MiB resident.
func TestMonitorSmall(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sh", "-c", "echo started; echo oops >&2; sleep 100")
	e.waitLog(id, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // let it settle
	mon := e.checkSmallMonitor(id)
	rss, err := procKB(fmt.Sprintf("/proc/%d/status", mon), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	pss, _ := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", mon), "Pss")
	anon, _ := procKB(fmt.Sprintf("/proc/%d/status", mon), "RssAnon")
	t.Logf("monitor %d: VmRSS %d KiB (anon %d KiB), PSS %d KiB", mon, rss>>10, anon>>10, pss>>10)
	if rss > maxMonitorRSS {
		t.Errorf("monitor VmRSS %d KiB, want at most %d KiB", rss>>10, maxMonitorRSS>>10)
	}
	if r := e.mustRun(0, "logs", id); r.stdout != "started\n" || r.stderr != "oops\n" {
		t.Errorf("logs: %s", r)
	}
	// Stopped, the container is recorded by sdocker again (137: sleep is
	// PID 1 of its namespace and ignores SIGTERM), and the monitor ends.
	e.mustRun(0, "stop", "-t", "1", id)
	if got := e.state(id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("after stop: %s", got)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to end", func() bool { return processGone(mon) })
	if d := cgroupDirs(id); len(d) > 0 {
		t.Errorf("cgroups left after stop: %q", d)
	}
}

// logEntries reads a container's log file as written.
func (e *env) logEntries(id string) []engine.LogEntry {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "containers", id, "container-json.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []engine.LogEntry
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var ent engine.LogEntry
		if err := json.Unmarshal(l, &ent); err != nil || l[len(l)-1] != '\n' {
			e.t.Fatalf("log line %q: %v", l, err)
		}
		// Byte for byte what encoding/json writes.
		want, _ := json.Marshal(ent)
		if !bytes.Equal(append(want, '\n'), l) {
			e.t.Errorf("log line %q, encoding/json writes %q", l, want)
		}
		out = append(out, ent)
	}
	return out
}

// TestMonitorLogFormat: the log entries sdocker-monitor writes: JSON
// lines as encoding/json writes them, lines over 16 KiB cut, a last line
// without newline kept, invalid UTF-8 replaced.
func TestMonitorLogFormat(t *testing.T) {
	e := newEnv(t)
	script := `printf 'a <b> & "c"\n'; printf '\377\376bad\n' >&2; head -c 40000 /dev/zero | tr '\0' x; echo; sleep 0.5; printf 'no newline'`
	id := e.runDetached(rootfsDir, "sh", "-c", script)
	e.mustRun(0, "wait", id)
	ents := e.logEntries(id)
	var got []string
	for _, ent := range ents {
		if ent.Time.IsZero() || time.Since(ent.Time) > time.Minute {
			t.Errorf("entry time %v", ent.Time)
		}
		s := ent.Log
		if len(s) > 40 {
			s = fmt.Sprintf("x*%d", len(s))
		}
		got = append(got, ent.Stream+":"+s)
	}
	// (stdout and stderr entries may interleave either way.)
	want := map[string]bool{
		"stdout:a <b> & \"c\"\n": true, "stderr:\ufffdbad\n": true,
		"stdout:x*16384": true, "stdout:no newline": true,
	}
	if len(got) != 6 || got[5] != "stdout:no newline" {
		t.Fatalf("log entries %q", got)
	}
	long := 0
	for _, g := range got {
		switch {
		case g == "stdout:x*16384":
			long++
		case g == "stdout:x*7233":
			if long != 2 {
				t.Errorf("the rest of the long line before its start: %q", got)
			}
		case !want[g]:
			t.Errorf("unexpected entry %q in %q", g, got)
		}
	}
	if long != 2 {
		t.Errorf("want two 16 KiB entries: %q", got)
	}
}

// TestMonitorTerminal: a detached container with a terminal (-t) is
// logged through the pty until its init exits.
func TestMonitorTerminal(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("-t", rootfsDir, "sh", "-c", "echo on a tty; sleep 1; [ -t 1 ] && echo yes; exit 3")
	e.checkSmallMonitor(id)
	if r := e.mustRun(0, "wait", id); r.stdout != "3\n" {
		t.Errorf("wait: %q", r.stdout)
	}
	if r := e.mustRun(0, "logs", id); r.stdout != "on a tty\r\nyes\r\n" {
		t.Errorf("logs: %q", r.stdout)
	}
}

// TestMonitorRestart: a restarted container is handed to sdocker-monitor
// again, by the same monitor process.
func TestMonitorRestart(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--restart", "on-failure", rootfsDir, "sh", "-c", "echo run; sleep 1; exit 1")
	mon := e.checkSmallMonitor(id)
	testutil.WaitFor(t, 30*time.Second, "a restart watched by sdocker-monitor", func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", mon))
		return e.state(id, "{{.RestartCount}} {{.State.Status}}") == "1 running" && exe == filepath.Join(binDir, "sdocker-monitor")
	})
	if got := e.checkSmallMonitor(id); got != mon {
		t.Errorf("monitor %d after the restart, %d before", got, mon)
	}
	e.mustRun(0, "stop", "-t", "1", id)
	if got := e.state(id, "{{.State.Status}}"); got != "exited" {
		t.Errorf("after stop: %s", got)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to end", func() bool { return processGone(mon) })
}

// TestMonitorKilled: a container whose monitor was killed is found by the
// next command, which kills every process of it and removes its cgroups
// and rootfs mount.
func TestMonitorKilled(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("monkill:1")
	e.mustRun(0, "import", rootfsDir, "monkill:1")
	id := e.runDetached("monkill:1", "sh", "-c", "sleep 100 & sleep 100")
	rec := e.record(id)
	trackPid(rec.Pid)
	var pids []int
	testutil.WaitFor(t, 10*time.Second, "sh and two sleeps", func() bool {
		pids = containerPids(id)
		return len(pids) >= 3
	})
	if len(pids) != 3 {
		t.Fatalf("container processes %v, want sh and two sleeps", pids)
	}
	for _, p := range pids {
		trackPid(p)
	}
	if err := syscall.Kill(e.checkSmallMonitor(id), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to die", func() bool { return processGone(rec.Monitor) })
	if r := e.mustRun(0, "ps", "-a", "--format", "{{.ID}} {{.Status}}"); !strings.HasPrefix(r.stdout, id[:12]+" Exited (137)") {
		t.Errorf("ps -a after the monitor was killed: %q", r.stdout)
	}
	for _, p := range pids {
		testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("container process %d to be killed", p), func() bool { return processGone(p) })
	}
	if d := cgroupDirs(id); len(d) > 0 {
		t.Errorf("cgroups left: %q", d)
	}
	e.checkNoMountsOf(id)
	e.rmf(id)
}

// TestMonitorFallback: without sdocker-monitor beside sdocker, the whole
// sdocker process watches the container, as before.
func TestMonitorFallback(t *testing.T) {
	e := newEnv(t)
	dir := copyBinaries(t, "sdocker", "sdocker-init")
	alone := &env{t: t, root: e.root, bin: filepath.Join(dir, "sdocker")}
	id := alone.runDetached(rootfsDir, "sh", "-c", "echo fallback; sleep 100")
	alone.waitLog(id, 1, 10*time.Second)
	mon := alone.record(id).Monitor
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", mon)); exe != filepath.Join(dir, "sdocker") {
		t.Errorf("monitor runs %q, want sdocker itself", exe)
	}
	alone.mustRun(0, "stop", "-t", "1", id)
	if got := alone.state(id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("after stop: %s", got)
	}
}

// copyBinaries copies the named binaries (sdocker-init only if built) into
// a directory of the test's own.
func copyBinaries(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(binDir, name))
		if errors.Is(err, os.ErrNotExist) && name == "sdocker-init" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMonitorBinaryRemoved: sdocker-monitor goes back to the binary that
// started it through a descriptor, so removing (or upgrading) sdocker while
// a container runs still records how the container really ended.
func TestMonitorBinaryRemoved(t *testing.T) {
	e := newEnv(t)
	dir := copyBinaries(t, "sdocker", "sdocker-init", "sdocker-monitor")
	gone := &env{t: t, root: e.root, bin: filepath.Join(dir, "sdocker")}
	id := strings.TrimSpace(gone.mustRun(0, "run", "-d", rootfsDir, "sh", "-c", "sleep 1; exit 3").stdout)
	t.Cleanup(func() { e.remove(id) }) // with the sdocker that stays
	if err := os.Remove(filepath.Join(dir, "sdocker")); err != nil {
		t.Fatal(err)
	}
	c := e.waitStatus(id, "exited", 20*time.Second)
	if c.State.ExitCode != 3 {
		t.Errorf("exit code %d recorded, want 3 (the container's own)", c.State.ExitCode)
	}
}
