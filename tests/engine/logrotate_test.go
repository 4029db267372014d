package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/jsonlog"
	"github.com/sdocker/sdocker/tests/testutil"
)

// countScript prints the lines "line0".."line<n-1>".
func countScript(n int) string {
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo line$i; i=$((i+1)); done`, n)
}

// checkSuffix fails unless got are the last lines of line0..line<n-1>, in
// order, at least min of them.
func checkSuffix(t *testing.T, what string, got []string, n, min int) {
	t.Helper()
	if len(got) < min || len(got) > n {
		t.Fatalf("%s: %d lines, want %d to %d", what, len(got), min, n)
	}
	for i, l := range got {
		if want := "line" + strconv.Itoa(n-len(got)+i); l != want {
			t.Fatalf("%s: line %d is %q, want %q (%q)", what, i, l, want, got)
		}
	}
}

// TestLogRotation: with --log-opt max-size and max-file the monitor keeps
// the log in that many files of at most that size; logs reads them in
// order, --tail across them too.
func TestLogRotation(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--log-opt", "max-size=1k", "--log-opt", "max-file=3", rootfsDir, "sh", "-c", countScript(300))
	e.mustRun(0, "wait", id)
	if got := e.record(id).Log; got != (engine.LogConfig{MaxSize: 1024, MaxFile: 3}) {
		t.Errorf("record's log config %+v", got)
	}
	if got := e.state(id, `{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}} {{index .HostConfig.LogConfig.Config "max-file"}}`); got != "json-file 1024 3" {
		t.Errorf("inspect HostConfig.LogConfig: %q", got)
	}
	dir := filepath.Join(e.root, "containers", id)
	total := 0
	for _, name := range []string{"container-json.log", "container-json.log.1", "container-json.log.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1024 {
			t.Errorf("%s: %d bytes, want at most 1024", name, st.Size())
		}
		total += int(st.Size())
	}
	if _, err := os.Stat(filepath.Join(dir, "container-json.log.3")); err == nil {
		t.Errorf("a fourth log file with max-file=3")
	}
	got := lines(e.mustRun(0, "logs", id).stdout)
	// Each file holds whole entries of about 70 bytes: more than two files'
	// worth are kept.
	checkSuffix(t, "logs", got, 300, 2*1024/80)
	if r := e.mustRun(0, "logs", "--tail", strconv.Itoa(len(got)-1), id); strings.Join(lines(r.stdout), ",") != strings.Join(got[1:], ",") {
		t.Errorf("logs --tail %d: %q", len(got)-1, r.stdout)
	}
	if r := e.mustRun(0, "logs", "--tail", "3", id); r.stdout != "line297\nline298\nline299\n" {
		t.Errorf("logs --tail 3: %q", r.stdout)
	}
	e.mustRun(0, "rm", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("rm left %s: %v", dir, err)
	}
}

// TestLogRotationFollow: logs -f goes on into the next file each time the
// monitor rotates the log, however many rotations it is behind (as long as
// the files are kept: 20 of 2 KiB hold the whole output); with max-file=1
// the log is emptied in place and read again from its start: what was not
// read before may be lost, but lines never repeat or go out of order.
func TestLogRotationFollow(t *testing.T) {
	for _, files := range []string{"20", "1"} {
		t.Run("max-file="+files, func(t *testing.T) {
			e := newEnv(t)
			id := e.runDetached("--log-opt", "max-size=2k", "--log-opt", "max-file="+files, rootfsDir, "sh", "-c", "sleep 1; "+countScript(400)+"; sleep 1")
			got := lines(e.mustRun(0, "logs", "-f", id).stdout)
			if files != "1" {
				checkSuffix(t, "logs -f", got, 400, 400)
				return
			}
			last := -1
			for _, l := range got {
				n, err := strconv.Atoi(strings.TrimPrefix(l, "line"))
				if err != nil || n <= last {
					t.Fatalf("logs -f: %q after line%d: %q", l, last, got)
				}
				last = n
			}
			if last != 399 {
				t.Errorf("logs -f ends at line%d: %q", last, got)
			}
		})
	}
}

// TestLogRotationDefault: without --log-opt the log is rotated at 20 MiB,
// two files: a bounded default.
func TestLogRotationDefault(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "true")
	e.mustRun(0, "wait", id)
	if got := e.record(id).Log; got != (engine.LogConfig{MaxSize: 20 << 20, MaxFile: 2}) {
		t.Errorf("record's log config %+v", got)
	}
}

// TestLogOptBad: a --log-opt that cannot be read is refused before
// anything is made.
func TestLogOptBad(t *testing.T) {
	e := newEnv(t)
	for _, opt := range []string{"max-size=abc", "max-size=0", "max-file=0", "max-file=x", "compress=true", "max-size"} {
		for _, detach := range []bool{true, false} {
			args := []string{"run", "--name", "badlog", "--log-opt", opt, rootfsDir, "true"}
			if detach {
				args = append(args[:1:1], append([]string{"-d"}, args[1:]...)...)
			}
			r := e.run(args...)
			if r.code != 125 || !strings.Contains(r.stderr, "--log-opt") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
				t.Errorf("want exit 125 and one line about --log-opt:\n%s", r)
			}
		}
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("containers left: %q", r.stdout)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) > 0 {
		t.Errorf("container directories left: %d", len(ents))
	}
}

// TestLogTailHuge: logs --tail reads a 1 GiB log from its end: run in a
// memory cgroup of 64 MiB, it prints the last lines (reading the log whole
// would not fit).
func TestLogTailHuge(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "echo", "first")
	e.mustRun(0, "wait", id)
	p := filepath.Join(e.root, "containers", id, "container-json.log")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A hole of 1 GiB, then three entries: no disk space taken.
	err = f.Truncate(1 << 30)
	var b []byte
	for i := range 3 {
		b = jsonlog.Append(b, []byte(fmt.Sprintf("last%d\n", i)), "stdout", time.Now())
	}
	if err == nil {
		_, err = f.WriteAt(append([]byte("\n"), b...), 1<<30)
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cg := memoryCgroup(t, 64<<20)
	cmd := e.command("logs", "--tail", "3", id)
	cmd = exec.Command("sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg}, cmd.Args...)...)
	cmd.Env = testutil.SdockerEnv(e.root)
	timer := time.AfterFunc(timeout(60*time.Second), func() { cmd.Process.Kill() })
	out, err := cmd.Output()
	timer.Stop()
	if err != nil || string(out) != "last0\nlast1\nlast2\n" {
		t.Errorf("logs --tail 3 of a 1 GiB log: %q, %v", out, err)
	}
}

// memoryCgroup makes a cgroup whose memory is limited to limit bytes, on
// v1 or v2, removed when the test ends; it returns its directory.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	dir, file := filepath.Join("/sys/fs/cgroup/memory", fmt.Sprintf("sdocker-test-mem%d", os.Getpid())), "memory.limit_in_bytes"
	if testutil.CgroupV2() {
		dir, file = filepath.Join("/sys/fs/cgroup", fmt.Sprintf("sdocker-test-mem%d", os.Getpid())), "memory.max"
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skip("cannot make a memory cgroup: ", err)
	}
	t.Cleanup(func() {
		if left := testutil.RemoveCgroups(dir); len(left) > 0 {
			t.Errorf("cgroups left: %q", left)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.FormatInt(limit, 10)), 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMonitorSmallRotating: sdocker-monitor stays within its memory budget
// while it logs a chatty container and rotates its log.
func TestMonitorSmallRotating(t *testing.T) {
	e := newEnv(t)
	script := `while :; do ` + countScript(200) + `; sleep 0.05; done`
	id := e.runDetached("--log-opt", "max-size=16k", "--log-opt", "max-file=2", rootfsDir, "sh", "-c", script)
	mon := e.checkSmallMonitor(id)
	rotated := filepath.Join(e.root, "containers", id, "container-json.log.1")
	var first os.FileInfo
	testutil.WaitFor(t, 30*time.Second, "the log to be rotated twice", func() bool {
		st, err := os.Stat(rotated)
		if err != nil {
			return false
		}
		if first == nil {
			first = st
		}
		return !os.SameFile(first, st)
	})
	rss, err := procKB(fmt.Sprintf("/proc/%d/status", mon), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("monitor %d, rotating a chatty log: VmRSS %d KiB", mon, rss>>10)
	if rss > maxMonitorRSS {
		t.Errorf("monitor VmRSS %d KiB, want at most %d KiB", rss>>10, maxMonitorRSS>>10)
	}
	if got := lines(e.mustRun(0, "logs", "--tail", "3", id).stdout); len(got) != 3 || !strings.HasPrefix(got[0], "line") {
		t.Errorf("logs --tail 3: %q", got)
	}
}
