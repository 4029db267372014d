package engine

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/tests/testutil"
)

// checkState fails unless st ended with code, oom and error.
func checkState(t *testing.T, what string, st dockerfmt.ContainerState, code int, oom bool, errText string) {
	t.Helper()
	if st.Status != "exited" || st.Running || st.Pid != 0 || st.ExitCode != code || st.OOMKilled != oom || st.Error != errText {
		t.Errorf("%s: State %+v, want exited %d OOMKilled %v Error %q", what, st, code, oom, errText)
	}
}

// TestExitCauses: how a detached container ended shows in its State: its
// own exit code, the signal that killed it (128+n), the OOM killer (137,
// OOMKilled), each with an empty Error.
func TestExitCauses(t *testing.T) {
	e := newEnv(t)
	code := e.runDetached(rootfsDir, "sh", "-c", "exit 3")
	// sdocker-tini as init: the signal reaches sleep, which it kills.
	term := e.runDetached("--init", rootfsDir, "sleep", "100")
	kill := e.runDetached(rootfsDir, "sleep", "100")
	oom := e.runDetached("--memory-limit", "10485760", "--memory-swappiness", "0", rootfsDir, "memory-test")
	e.waitStatus(term, "running", 10*time.Second)
	e.mustRun(0, "kill", "-s", "TERM", term)
	e.mustRun(0, "kill", kill)
	checkState(t, "exit 3", e.waitStatus(code, "exited", 30*time.Second).State, 3, false, "")
	checkState(t, "SIGTERM", e.waitStatus(term, "exited", 30*time.Second).State, 128+int(syscall.SIGTERM), false, "")
	checkState(t, "SIGKILL", e.waitStatus(kill, "exited", 30*time.Second).State, 137, false, "")
	checkState(t, "OOM kill", e.waitStatus(oom, "exited", 60*time.Second).State, 137, true, "")
}

// lastLogLine is the last line `logs` prints of container id, stdout and
// stderr together.
func (e *env) lastLogLine(id string) string {
	e.t.Helper()
	r := e.mustRun(0, "logs", id)
	l := lines(r.stdout + r.stderr)
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// TestExitCauseMonitorKilled: a detached container whose monitor was
// killed is killed by the next command, which says why in State.Error and
// ends its log with a marker line; a new start clears the Error.
func TestExitCauseMonitorKilled(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sh", "-c", "echo before; sleep 100")
	testutil.WaitFor(t, 10*time.Second, "the first line in the log", func() bool {
		return strings.Contains(e.run("logs", id).stdout, "before")
	})
	rec := e.record(id)
	trackPid(rec.Pid) // it becomes ours when the monitor is gone
	if err := syscall.Kill(e.checkSmallMonitor(id), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to die", func() bool { return processGone(rec.Monitor) })
	const why = "killed: its monitor died"
	checkState(t, "after the monitor died", e.inspect(id).State, 137, false, why)
	ents := e.logEntries(id)
	if last := ents[len(ents)-1]; last.Stream != "stderr" || last.Log != "[sdocker] "+why+"\n" {
		t.Errorf("last log entry %+v", last)
	}
	if got := e.lastLogLine(id); got != "[sdocker] "+why {
		t.Errorf("logs ends with %q", got)
	}
	// Recorded once: another command adds nothing.
	e.mustRun(0, "ps", "-a")
	if n := len(e.logEntries(id)); n != len(ents) {
		t.Errorf("%d log entries after ps, %d before", n, len(ents))
	}
	testutil.WaitFor(t, 10*time.Second, "the container's init to be killed", func() bool { return processGone(rec.Pid) })
	e.mustRun(0, "start", id)
	if got := e.state(id, "{{.State.Status}} {{.State.Error}}|"); got != "running |" {
		t.Errorf("after a new start: %q", got)
	}
}

// TestExitCauseCommandKilled: a container run in the foreground dies with
// the sdocker command that ran it; the next command says so in its Error.
func TestExitCauseCommandKilled(t *testing.T) {
	e := newEnv(t)
	name := fmt.Sprintf("fgkill%d", time.Now().UnixNano())
	cmd := e.command("run", "--name", name, rootfsDir, "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		e.remove(name)
	})
	testutil.WaitFor(t, 30*time.Second, "the container to run", func() bool {
		return e.run("inspect", "-f", "{{.State.Status}}", name).stdout == "running\n"
	})
	trackPid(e.inspect(name).State.Pid)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	checkState(t, "after the command died", e.inspect(name).State, 137, false, "killed: the sdocker command that ran it died")
}

// TestRestartUnlessStopped: --restart unless-stopped starts a container
// again whatever its exit code, until it is stopped.
func TestRestartUnlessStopped(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--restart", "unless-stopped", rootfsDir, "sh", "-c", "sleep 0.2; exit 0")
	testutil.WaitFor(t, 30*time.Second, "two restarts", func() bool {
		n, _ := strconv.Atoi(e.state(id, "{{.RestartCount}}"))
		return n >= 2
	})
	if got := e.state(id, "{{.HostConfig.RestartPolicy.Name}}"); got != "unless-stopped" {
		t.Errorf("RestartPolicy.Name %q", got)
	}
	e.mustRun(0, "stop", "-t", "1", id)
	n := e.state(id, "{{.State.Status}} {{.RestartCount}}")
	if !strings.HasPrefix(n, "exited ") {
		t.Fatalf("after stop: %q", n)
	}
	time.Sleep(time.Second) // more than the first back-off: no restart comes
	if got := e.state(id, "{{.State.Status}} {{.RestartCount}}"); got != n {
		t.Errorf("after stop %q, a second later %q", n, got)
	}
}
