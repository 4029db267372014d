package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// A shell that ignores SIGTERM and keeps running.
const ignoreTerm = `trap "" TERM; while :; do sleep 0.1; done`

// TestStopTimeout: stop -t 1 of a container that ignores SIGTERM kills it
// after about a second: exit status 137, for inspect and for wait.
func TestStopTimeout(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--name", "stubborn", rootfsDir, "sh", "-c", ignoreTerm)
	time.Sleep(300 * time.Millisecond) // the trap is set
	start := time.Now()
	r := e.mustRun(0, "stop", "-t", "1", "stubborn")
	took := time.Since(start)
	if r.stdout != "stubborn\n" {
		t.Errorf("stop printed %q, want the reference", r.stdout)
	}
	if took < 900*time.Millisecond || took > timeout(8*time.Second) {
		t.Errorf("stop -t 1 took %s, want about 1s", took)
	}
	if got := e.state(id, "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}"); got != "exited 137 false" {
		t.Errorf("after stop -t 1: %q, want \"exited 137 false\"", got)
	}
	if r := e.mustRun(0, "wait", id); r.stdout != "137\n" {
		t.Errorf("wait: %q", r.stdout)
	}
	if d := cgroupDirs(id); len(d) > 0 {
		t.Errorf("cgroups left by a stopped container: %q", d)
	}
	// stop of a stopped container is fine; it stays exited.
	e.mustRun(0, "stop", id)
	if got := e.state(id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("after a second stop: %q", got)
	}

	// A container that obeys SIGTERM stops at once with its own status.
	id2 := e.runDetached(rootfsDir, "sh", "-c", `trap "exit 0" TERM; while :; do sleep 0.1; done`)
	time.Sleep(300 * time.Millisecond)
	start = time.Now()
	e.mustRun(0, "stop", "-t", "10", id2)
	if d := time.Since(start); d > timeout(5*time.Second) {
		t.Errorf("stop of a container that handles SIGTERM took %s", d)
	}
	if got := e.state(id2, "{{.State.ExitCode}}"); got != "0" {
		t.Errorf("exit code after a handled SIGTERM: %s", got)
	}
}

// TestKillSignal: kill -s TERM reaches the container's trap; plain kill is
// SIGKILL (137); kill of a stopped container is an error.
func TestKillSignal(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached(rootfsDir, "sh", "-c", `trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done`)
	e.waitLog(id, 1, 10*time.Second)
	e.mustRun(0, "kill", "-s", "TERM", id)
	e.waitStatus(id, "exited", 20*time.Second)
	if got := e.state(id, "{{.State.ExitCode}}"); got != "42" {
		t.Errorf("exit code after kill -s TERM: %s, want the trap's 42", got)
	}
	if got := lines(e.mustRun(0, "logs", id).stdout); strings.Join(got, "|") != "ready|got TERM" {
		t.Errorf("logs: %q", got)
	}
	if r := e.run("kill", id); r.code != 125 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("kill of an exited container:\n%s", r)
	}

	id2 := e.runDetached(rootfsDir, "sh", "-c", ignoreTerm)
	time.Sleep(300 * time.Millisecond)
	e.mustRun(0, "kill", "-s", "SIGTERM", id2) // ignored
	time.Sleep(500 * time.Millisecond)
	if st := e.state(id2, "{{.State.Status}}"); st != "running" {
		t.Errorf("after an ignored SIGTERM: %s", st)
	}
	e.mustRun(0, "kill", "-s", "9", id2)
	if r := e.mustRun(0, "wait", id2); r.stdout != "137\n" {
		t.Errorf("wait after kill -s 9: %q", r.stdout)
	}
	if r := e.run("kill", "-s", "NOSUCHSIG", id2); r.code == 0 {
		t.Errorf("kill -s NOSUCHSIG:\n%s", r)
	}
}

// TestStartRestartWait: start runs a stopped container again (with its
// changes to its own layer kept), restart stops and starts, wait prints the
// exit code.
func TestStartRestartWait(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("again:1")
	e.mustRun(0, "import", rootfsDir, "again:1")
	id := e.runDetached("--name", "twice", "again:1", "sh", "-c", "echo run; cat /count 2>/dev/null; echo x >> /count; exit 5")
	if r := e.mustRun(0, "wait", "twice"); r.stdout != "5\n" {
		t.Errorf("wait: %q, want 5", r.stdout)
	}
	first := e.inspect(id).State
	if first.Status != "exited" || first.ExitCode != 5 {
		t.Errorf("after the first run: %+v", first)
	}
	e.mustRun(0, "start", "twice")
	if r := e.mustRun(0, "wait", "twice"); r.stdout != "5\n" {
		t.Errorf("wait after start: %q", r.stdout)
	}
	if got := e.mustRun(0, "logs", id).stdout; got != "run\nrun\nx\n" {
		t.Errorf("logs of two runs: %q, want \"run\\nrun\\nx\\n\" (the second run sees the first's /count)", got)
	}
	second := e.inspect(id).State
	t1, _ := time.Parse(time.RFC3339Nano, first.FinishedAt)
	t2, _ := time.Parse(time.RFC3339Nano, second.FinishedAt)
	if second.StartedAt == first.StartedAt || !t2.After(t1) {
		t.Errorf("start did not run it again: first %+v, second %+v", first, second)
	}
	e.checkNoMountsOf(id)

	// restart of a running container: a new init, the log shows both runs.
	r := e.runDetached("--name", "svc", rootfsDir, "sh", "-c", `echo started; trap "exit 0" TERM; while :; do sleep 0.1; done`)
	e.waitLog(r, 1, 10*time.Second)
	pid1 := e.inspect(r).State.Pid
	e.mustRun(0, "restart", "-t", "5", "svc")
	c := e.waitStatus(r, "running", 20*time.Second)
	if c.State.Pid == pid1 || c.State.Pid <= 0 {
		t.Errorf("restart: pid %d, before %d", c.State.Pid, pid1)
	}
	if got := e.waitLog(r, 2, 10*time.Second); strings.Join(got, "|") != "started|started" {
		t.Errorf("logs after restart: %q", got)
	}
	// restart of an exited container starts it.
	e.mustRun(0, "stop", "svc")
	e.mustRun(0, "restart", "svc")
	e.waitStatus(r, "running", 20*time.Second)
	e.waitLog(r, 3, 10*time.Second)
	// start of a running container leaves it as it is and says its name, as
	// Docker does.
	pid3 := e.inspect(r).State.Pid
	if r := e.run("start", "svc"); r.code != 0 || r.stdout != "svc\n" {
		t.Errorf("start of a running container:\n%s", r)
	}
	if c := e.inspect(r); c.State.Status != "running" || c.State.Pid != pid3 {
		t.Errorf("start of a running container changed it: %+v, pid before %d", c.State, pid3)
	}
	// wait blocks until the container ends.
	done := make(chan result, 1)
	go func() { done <- e.run("wait", "svc") }()
	select {
	case r := <-done:
		t.Errorf("wait returned while the container runs: %s", r)
	case <-time.After(time.Second):
	}
	e.mustRun(0, "stop", "svc")
	select {
	case r := <-done:
		if r.code != 0 || r.stdout != "0\n" {
			t.Errorf("wait: %s", r)
		}
	case <-time.After(timeout(20 * time.Second)):
		t.Errorf("wait did not return after stop")
	}
}

// checkNoMountsOf fails if container id's rootfs is mounted.
func (e *env) checkNoMountsOf(id string) {
	e.t.Helper()
	if m := testutil.MountsUnder(filepath.Join(e.root, "containers", id)); len(m) > 0 {
		e.t.Errorf("container %s is not running but mounts are left: %q", id[:12], m)
	}
}

// TestPause: pause freezes every process (a counter stops), ps and inspect
// say paused; unpause thaws; wrong transitions are errors.
func TestPause(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	vol := t.TempDir()
	counter := filepath.Join(vol, "n")
	id := e.runDetached("--name", "counter", "-v", vol+":/c", rootfsDir, "sh", "-c",
		"i=0; while :; do i=$((i+1)); echo $i > /c/n.tmp; mv /c/n.tmp /c/n; sleep 0.05; done")
	read := func() int {
		b, _ := os.ReadFile(counter)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	testutil.WaitFor(t, 10*time.Second, "the counter to count", func() bool { return read() > 3 })
	e.mustRun(0, "pause", "counter")
	if got := e.state(id, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"); got != "paused true true" {
		t.Errorf("inspect after pause: %q", got)
	}
	if got := strings.TrimSpace(e.mustRun(0, "ps", "--format", "{{.State}}|{{.Status}}").stdout); !strings.HasPrefix(got, "paused|Up ") || !strings.HasSuffix(got, "(Paused)") {
		t.Errorf("ps of a paused container: %q", got)
	}
	if st, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer/sdocker", id, "freezer.state")); err == nil && strings.TrimSpace(string(st)) != "FROZEN" {
		t.Errorf("freezer.state %q", st)
	}
	time.Sleep(200 * time.Millisecond)
	n1 := read()
	time.Sleep(time.Second)
	if n2 := read(); n2 != n1 {
		t.Errorf("the counter went from %d to %d while paused", n1, n2)
	}
	if r := e.run("pause", "counter"); r.code != 125 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("pause of a paused container:\n%s", r)
	}
	// exec and start say why they cannot: it is paused (Docker's words for exec).
	if r := e.run("exec", "counter", "true"); r.code != 125 || !strings.Contains(r.stderr, "container "+id+" is paused, unpause the container before exec") {
		t.Errorf("exec into a paused container:\n%s", r)
	}
	if r := e.run("start", "counter"); r.code != 125 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("start of a paused container:\n%s", r)
	}
	e.mustRun(0, "unpause", "counter")
	if got := e.state(id, "{{.State.Status}} {{.State.Paused}}"); got != "running false" {
		t.Errorf("inspect after unpause: %q", got)
	}
	testutil.WaitFor(t, 10*time.Second, "the counter to count again", func() bool { return read() > n1+3 })
	if r := e.run("unpause", "counter"); r.code != 125 || !strings.Contains(r.stderr, "running") {
		t.Errorf("unpause of a running container:\n%s", r)
	}
	// stop of a paused container works.
	e.mustRun(0, "pause", "counter")
	e.mustRun(0, "stop", "-t", "1", "counter")
	if got := e.state(id, "{{.State.Status}}"); got != "exited" {
		t.Errorf("stop of a paused container: %s", got)
	}
	if r := e.run("pause", "counter"); r.code != 125 {
		t.Errorf("pause of an exited container:\n%s", r)
	}
}

// TestUpdate: update of a running container rewrites its cgroup limits.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--memory", "32m", "--pids-limit", "20", rootfsDir, "sleep", "100")
	memFile := filepath.Join("/sys/fs/cgroup/memory/sdocker", id, "memory.limit_in_bytes")
	pidsFile := filepath.Join("/sys/fs/cgroup/pids/sdocker", id, "pids.max")
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return strings.TrimSpace(string(b))
	}
	if m, p := read(memFile), read(pidsFile); m != "33554432" || p != "20" {
		t.Fatalf("limits at start: memory %s pids %s", m, p)
	}
	r := e.mustRun(0, "update", "--memory", "64m", "--pids-limit", "50", id)
	if r.stdout != id+"\n" {
		t.Errorf("update printed %q", r.stdout)
	}
	if m, p := read(memFile), read(pidsFile); m != "67108864" || p != "50" {
		t.Errorf("after update --memory 64m --pids-limit 50: memory.limit_in_bytes %s, pids.max %s", m, p)
	}
	if got := e.state(id, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"); got != "67108864 50" {
		t.Errorf("inspect after update: %q", got)
	}
	e.mustRun(0, "update", "--pids-limit", "-1", id)
	if p := read(pidsFile); p != "max" {
		t.Errorf("update --pids-limit -1: pids.max %s", p)
	}
	if r := e.run("update", "--memory", "lots", id); r.code != 125 {
		t.Errorf("update --memory lots:\n%s", r)
	}
	// The new limits hold after a restart too.
	e.mustRun(0, "restart", "-t", "0", id)
	e.waitStatus(id, "running", 20*time.Second)
	if m := read(memFile); m != "67108864" {
		t.Errorf("memory limit after restart: %s", m)
	}
}

// TestRestartOnFailure: --restart on-failure:3 of a failing command
// restarts it exactly 3 times, then it stays exited.
func TestRestartOnFailure(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--restart", "on-failure:3", rootfsDir, "sh", "-c", "echo try; exit 3")
	if r := e.mustRun(0, "wait", id); r.stdout != "3\n" {
		t.Errorf("wait: %q", r.stdout)
	}
	check := func() {
		t.Helper()
		c := e.inspect(id)
		if c.State.Status != "exited" || c.State.ExitCode != 3 || c.RestartCount != 3 {
			t.Errorf("status %s exit %d RestartCount %d, want exited 3 3", c.State.Status, c.State.ExitCode, c.RestartCount)
		}
	}
	check()
	time.Sleep(2 * time.Second)
	check()
	if got := lines(e.mustRun(0, "logs", id).stdout); len(got) != 4 {
		t.Errorf("logs: %q, want 4 runs", got)
	}
	if got := e.state(id, "{{.RestartCount}}"); got != "3" {
		t.Errorf("inspect -f {{.RestartCount}}: %s", got)
	}
	// A success is not restarted.
	ok := e.runDetached("--restart", "on-failure", rootfsDir, "true")
	e.mustRun(0, "wait", ok)
	time.Sleep(time.Second)
	if got := e.state(ok, "{{.State.Status}} {{.RestartCount}}"); got != "exited 0" {
		t.Errorf("on-failure of a success: %q", got)
	}
}

// TestRestartAlways: --restart always restarts a container that ends;
// stop ends it for good.
func TestRestartAlways(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--restart", "always", rootfsDir, "sh", "-c", "echo up; sleep 0.2")
	testutil.WaitFor(t, 30*time.Second, "two restarts", func() bool {
		n, _ := strconv.Atoi(e.state(id, "{{.RestartCount}}"))
		return n >= 2
	})
	e.mustRun(0, "stop", "-t", "1", id)
	c := e.inspect(id)
	if c.State.Status != "exited" {
		t.Errorf("after stop: %s", c.State.Status)
	}
	time.Sleep(2 * time.Second)
	c2 := e.inspect(id)
	if c2.State.Status != "exited" || c2.RestartCount != c.RestartCount || c2.State.StartedAt != c.State.StartedAt {
		t.Errorf("restarted after stop: before %s/%d/%s, now %s/%d/%s", c.State.Status, c.RestartCount, c.State.StartedAt,
			c2.State.Status, c2.RestartCount, c2.State.StartedAt)
	}
	if len(cgroupDirs(id)) > 0 {
		t.Errorf("cgroups left after stop")
	}
	// start brings it back with its policy; kill ends it for good too.
	e.mustRun(0, "start", id)
	e.waitLog(id, len(lines(e.mustRun(0, "logs", id).stdout))+2, 30*time.Second)
	e.mustRun(0, "kill", id)
	e.mustRun(0, "wait", id)
	n := e.inspect(id).RestartCount
	time.Sleep(2 * time.Second)
	if c := e.inspect(id); c.State.Status != "exited" || c.RestartCount != n {
		t.Errorf("restarted after kill: %s, RestartCount %d then %d", c.State.Status, n, c.RestartCount)
	}
}

// TestRemoveRunning: rm -f of a running container of an image removes its
// processes, cgroups, rootfs mount and record; rm without -f is refused.
func TestRemoveRunning(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("gone:1")
	e.mustRun(0, "import", rootfsDir, "gone:1")
	id := e.runDetached("--memory", "64m", "gone:1", "sh", "-c", "sleep 100 & sleep 100")
	pid := e.record(id).Pid
	trackPid(pid)
	if len(cgroupDirs(id)) == 0 || len(testutil.MountsUnder(filepath.Join(e.root, "containers", id))) == 0 {
		t.Fatalf("a running container without cgroups or rootfs mount")
	}
	if r := e.run("rm", id); r.code != 125 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container:\n%s", r)
	}
	start := time.Now()
	e.rmf(id)
	if d := time.Since(start); d > timeout(10*time.Second) {
		t.Errorf("rm -f took %s", d)
	}
	if !processGone(pid) {
		t.Errorf("the container's init %d survived rm -f", pid)
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("ps -a after rm -f: %q", r.stdout)
	}
	if r := e.run("inspect", id); r.code != 1 {
		t.Errorf("inspect after rm -f:\n%s", r)
	}
	// rm of an exited container without -f.
	id2 := e.runDetached("gone:1", "true")
	e.mustRun(0, "wait", id2)
	e.mustRun(0, "rm", id2)
	e.assertGone(id2)
}
