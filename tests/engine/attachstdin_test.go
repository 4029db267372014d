package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// startIn starts `sdocker ARGS...` (attach or start -a) with stdin from a
// pipe the test writes, or from in if it is given; it is killed when the
// test ends.
func (e *env) startIn(in *os.File, args ...string) *attachment {
	e.t.Helper()
	a := &attachment{cmd: e.command(args...), stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if in != nil {
		a.cmd.Stdin = in
	} else {
		var err error
		if a.stdin, err = a.cmd.StdinPipe(); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := a.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		a.code = statusOf(a.cmd.Wait())
		close(a.done)
	}()
	e.t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
	})
	return a
}

// send writes s to attach's stdin.
func (a *attachment) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(a.stdin, s); err != nil {
		t.Fatal(err)
	}
}

// waitOut waits until attach has shown want on its stdout.
func (a *attachment) waitOut(t *testing.T, want string) {
	t.Helper()
	testutil.WaitFor(t, timeout(10*time.Second), fmt.Sprintf("attach to show %q", want), func() bool {
		if strings.Contains(a.stdout.String(), want) {
			return true
		}
		select {
		case <-a.done:
			t.Fatalf("attach ended (%d) before it showed %q; stdout:\n%s\nstderr:\n%s", a.code, want, a.stdout, a.stderr)
		default:
		}
		return false
	})
}

// TestAttachStdin: a container run with -d -i keeps its stdin open; what
// attach reads goes there (cat's output comes back through attach), but
// the detach keys; an attach's EOF leaves it open for the next (run -d -i
// is no StdinOnce). The monitor stays small.
func TestAttachStdin(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--network", "none", "-i", rootfsDir, "cat")
	if got := e.state(id, "{{.Config.OpenStdin}} {{.Config.StdinOnce}}"); got != "true false" {
		t.Errorf("run -d -i: OpenStdin StdinOnce %q", got)
	}
	a := e.startIn(nil, "attach", id)
	a.send(t, "hi\n")
	a.waitOut(t, "hi\n")
	// Its EOF: cat reads on.
	a.stdin.Close()
	b := e.startIn(nil, "attach", id)
	b.send(t, "again\n")
	b.waitOut(t, "again\n")
	if !strings.Contains(a.stdout.String(), "again\n") {
		t.Errorf("the first attach (its stdin ended) no longer shows the output:\n%s", a.stdout)
	}
	// A key that begins the detach sequence goes on once the next says it
	// is none; the sequence ends attach, and goes nowhere.
	b.send(t, "x\x10y\n\x10\x11")
	if code := b.wait(t); code != 0 {
		t.Errorf("attach after ctrl-p ctrl-q: exit %d\n%s", code, b.stderr)
	}
	if s := e.state(id, "{{.State.Status}}"); s != "running" {
		t.Fatalf("after detaching the container is %s", s)
	}
	if got := e.waitLog(id, 3, timeout(10*time.Second)); strings.Join(got, "\n") != "hi\nagain\nx\x10y" {
		t.Errorf("logs, want the keys before the detach sequence: %q", got)
	}
	mon := e.checkSmallMonitor(id)
	rss, err := procKB(fmt.Sprintf("/proc/%d/status", mon), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("monitor %d after attach with stdin: VmRSS %d KiB", mon, rss>>10)
	if rss > maxMonitorRSS {
		t.Errorf("monitor VmRSS %d KiB, want at most %d KiB", rss>>10, maxMonitorRSS>>10)
	}
	// The end: attach (the first, still there) has the container's code.
	e.mustRun(0, "kill", id)
	if code := a.wait(t); code != 137 {
		t.Errorf("attach after kill: exit %d, want 137\n%s", code, a.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.root, "containers", id, "attach.sock")); err != nil {
		t.Errorf("attach socket: %v", err)
	}
	e.waitStatus(id, "exited", timeout(10*time.Second))
	if r := e.run("attach", id); r.code != 125 || len(lines(r.stderr)) != 1 {
		t.Errorf("attach to a stopped container: want 125 and one line:\n%s", r)
	}

	// With -t the input goes to its terminal (a shell that echoes it),
	// the output comes as written (the prompt, before any newline).
	sh := e.runDetached("--network", "none", "-i", "-t", rootfsDir, "sh")
	c := e.startIn(nil, "attach", sh)
	c.send(t, "echo hi-$((1+1))\n")
	c.waitOut(t, "hi-2\r\n# ")
	c.send(t, "exit 6\n")
	if code := c.wait(t); code != 6 {
		t.Errorf("attach to sh -t after exit 6: exit %d\n%s", code, c.stderr)
	}
}

// TestCreateStartInteractive: create -i, then start -a -i shows the
// container's output from its first line on and passes stdin, whose end
// closes the container's (StdinOnce), with its exit code; with -t through
// a terminal, in raw mode and with the terminal's size.
func TestCreateStartInteractive(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := strings.TrimSpace(e.mustRun(0, "create", "-i", "--network", "none", rootfsDir, "sh", "-c", "echo ready; cat; echo done; exit 3").stdout)
	t.Cleanup(func() { e.remove(id) })
	if got := e.state(id, "{{.Config.OpenStdin}} {{.Config.StdinOnce}}"); got != "true true" {
		t.Errorf("create -i: OpenStdin StdinOnce %q", got)
	}
	a := e.startIn(nil, "start", "-a", "-i", id)
	a.send(t, "one\ntwo\n")
	a.stdin.Close()
	if code := a.wait(t); code != 3 {
		t.Errorf("start -a -i: exit %d, want 3\n%s", code, a.stderr)
	}
	if got := a.stdout.String(); got != "ready\none\ntwo\ndone\n" {
		t.Errorf("start -a -i output: %q", got)
	}

	// The size is sent before the input: it is there when the input is.
	// (bash reads the terminal's size after a command ends.)
	tty := strings.TrimSpace(e.mustRun(0, "create", "-i", "-t", "--network", "none", rootfsDir, "bash", "-c",
		"shopt -s checkwinsize; read l; /bin/true; echo size $LINES $COLUMNS; echo got-$l; exit 5").stdout)
	t.Cleanup(func() { e.remove(tty) })
	master, slave := openPty(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77}); err != nil {
		t.Fatal(err)
	}
	b := e.startIn(slave, "start", "-a", "-i", tty)
	slave.Close()
	if _, err := master.WriteString("hello\r"); err != nil {
		t.Fatal(err)
	}
	b.waitOut(t, "size 33 77")
	if code := b.wait(t); code != 5 {
		t.Errorf("start -a -i with -t: exit %d, want 5\n%s", code, b.stderr)
	}
	if got := b.stdout.String(); !strings.Contains(got, "got-hello\r\n") {
		t.Errorf("start -a -i with -t output: %q", got)
	}
	// Its terminal in raw mode while it ran, put back since.
	if tm, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS); err != nil || tm.Lflag&unix.ICANON == 0 {
		t.Errorf("attach's terminal after it ended: %+v, %v", tm, err)
	}
}

// TestCreateRm: create --rm stays created, through ps's collection, until
// start; the container is removed when it exits, detached or with
// start -a (which has its exit code).
func TestCreateRm(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	for _, attach := range []bool{false, true} {
		id := strings.TrimSpace(e.mustRun(0, "create", "--rm", "--network", "none", rootfsDir, "sh", "-c", "echo bye; exit 4").stdout)
		t.Cleanup(func() { e.run("rm", "-f", id) })
		for range 2 { // the second time after ps's collection
			if got := e.state(id, "{{.State.Status}} {{.HostConfig.AutoRemove}}"); got != "created true" {
				t.Errorf("create --rm: %q", got)
			}
			e.mustRun(0, "ps", "-a")
		}
		if attach {
			if r := e.run("start", "-a", id); r.code != 4 || r.stdout != "bye\n" {
				t.Errorf("start -a of a --rm container:\n%s", r)
			}
		} else {
			e.mustRun(0, "start", id)
		}
		testutil.WaitFor(t, timeout(10*time.Second), "the container to be removed", func() bool {
			_, err := os.Stat(filepath.Join(e.root, "containers", id))
			return os.IsNotExist(err)
		})
		if r := e.run("inspect", "--type", "container", id); r.code == 0 {
			t.Errorf("inspect after exit: %s", r)
		}
	}
}

// TestShmUnmountedAtStop: a shareable /dev/shm is unmounted when its
// container stops (by stop, or collected after its monitor was killed),
// while a container that joined it keeps it; joining a stopped one is a
// clear error; a start mounts it again.
func TestShmUnmountedAtStop(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	donor := e.runDetached("--name", "donor", "--network", "none", "--ipc", "shareable", rootfsDir,
		"sh", "-c", "echo shared > /dev/shm/x; exec sleep 100")
	shm := filepath.Join(e.root, "containers", donor, "shm")
	testutil.WaitFor(t, timeout(10*time.Second), "the donor's /dev/shm file", func() bool {
		_, err := os.Stat(filepath.Join(shm, "x"))
		return err == nil
	})
	joiner := e.runDetached("--network", "none", "--ipc", "container:donor", rootfsDir, "sleep", "100")
	later := strings.TrimSpace(e.mustRun(0, "create", "--network", "none", "--ipc", "container:donor", rootfsDir, "true").stdout)
	t.Cleanup(func() { e.remove(later) })
	e.mustRun(0, "stop", "-t", "0", "donor")
	if m := testutil.MountsUnder(shm); len(m) > 0 {
		t.Errorf("the donor's /dev/shm after stop: %q", m)
	}
	if r := e.mustRun(0, "exec", joiner, "cat", "/dev/shm/x"); r.stdout != "shared\n" {
		t.Errorf("the joiner's /dev/shm after the donor stopped: %q", r.stdout)
	}
	r := e.mustRun(125, "run", "--rm", "--network", "none", "--ipc", "container:donor", rootfsDir, "true")
	if len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("join a stopped donor: want one line that says it is not running:\n%s", r)
	}
	r = e.mustRun(125, "start", later)
	if len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("start a joiner of a stopped donor: want one line that says it is not running:\n%s", r)
	}
	if got := e.state(later, "{{.State.Status}}"); got != "created" {
		t.Errorf("the joiner that could not start is %s", got)
	}
	// Started again: a new /dev/shm; its monitor killed, the next command
	// unmounts it.
	e.mustRun(0, "start", "donor")
	e.waitStatus(donor, "running", timeout(10*time.Second))
	if m := testutil.MountsUnder(shm); len(m) != 1 {
		t.Errorf("the donor's /dev/shm after start: %q", m)
	}
	if err := unix.Kill(e.record(donor).Monitor, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, timeout(10*time.Second), "the donor to be collected", func() bool {
		return e.state(donor, "{{.State.Status}}") == "exited"
	})
	if m := testutil.MountsUnder(shm); len(m) > 0 {
		t.Errorf("the donor's /dev/shm after its monitor was killed: %q", m)
	}
}
