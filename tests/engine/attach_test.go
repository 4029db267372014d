package engine

import (
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// attachment is a running `sdocker attach`.
type attachment struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *testutil.SyncBuffer
	done           chan struct{}
	code           int
}

// startAttach starts `sdocker attach ARGS...` and waits until it shows a
// line the container writes; it is killed when the test ends.
func (e *env) startAttach(args ...string) *attachment {
	e.t.Helper()
	a := e.startIn(nil, append([]string{"attach"}, args...)...)
	testutil.WaitFor(e.t, timeout(10*time.Second), "attach to show output", func() bool {
		select {
		case <-a.done:
			e.t.Fatalf("attach %s ended: %d\n%s", strings.Join(args, " "), a.code, a.stderr)
		default:
		}
		return len(lines(a.stdout.String())) >= 2
	})
	return a
}

// statusOf is the exit status of a command whose Wait returned err, as a
// shell reports it (128+N when signal N ended it).
func statusOf(err error) int {
	ee := (*exec.ExitError)(nil)
	if !errors.As(err, &ee) {
		return 0
	}
	if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// wait waits for attach to end and returns its exit status.
func (a *attachment) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
		return a.code
	case <-time.After(timeout(20 * time.Second)):
		t.Fatalf("attach did not end; stdout:\n%s", a.stdout)
		return 0
	}
}

// tickerImage imports the image the attach tests run their ticker on:
// /stop goes to the container's own layer.
func (e *env) tickerImage() string {
	e.t.Helper()
	e.cleanupImage("ticker:1")
	e.mustRun(0, "import", rootfsDir, "ticker:1")
	return "ticker:1"
}

const ticker = `trap 'echo got TERM; exit 3' TERM; i=0; while [ ! -e /stop ]; do echo tick $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done; exit 7`

// TestAttachFollows: attach shows what a detached container writes from
// now on, stdout and stderr apart, and ends with its exit status.
func TestAttachFollows(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--name", "att", e.tickerImage(), "sh", "-c", "echo before; "+ticker)
	e.waitLog(id, 3, timeout(10*time.Second))
	a := e.startAttach("att")
	e.mustRun(0, "exec", "att", "touch", "/stop")
	if code := a.wait(t); code != 7 {
		t.Errorf("attach exit %d, want the container's 7; stderr:\n%s", code, a.stderr)
	}
	out, errOut := lines(a.stdout.String()), lines(a.stderr.String())
	if strings.Contains(a.stdout.String(), "before") || strings.Contains(a.stdout.String(), "tick 0\n") || len(out) < 2 || !strings.HasPrefix(out[0], "tick ") {
		t.Errorf("attach stdout (from now on, ticks only):\n%s", a.stdout)
	}
	if len(errOut) < 2 || !strings.HasPrefix(errOut[0], "err ") || strings.Contains(a.stderr.String(), "tick") {
		t.Errorf("attach stderr:\n%s", a.stderr)
	}
	// Stopped now: refused, as bad input is.
	for _, args := range [][]string{{"attach", "att"}, {"attach", "nosuch"}, {"attach", "--detach-keys", "ctrl-1", id}} {
		if r := e.run(args...); r.code != 125 || len(lines(r.stderr)) != 1 {
			t.Errorf("want 125 and one line:\n%s", r)
		}
	}
}

// TestAttachDetachKeys: the detach keys end attach with 0, the container
// still running; other keys are not passed anywhere.
func TestAttachDetachKeys(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached(e.tickerImage(), "sh", "-c", ticker)
	a := e.startAttach(id)
	if _, err := a.stdin.Write([]byte("hello\n\x10x\x11")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.stdin.Write([]byte("\x10\x11")); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(t); code != 0 {
		t.Errorf("attach after ctrl-p ctrl-q: exit %d\n%s", code, a.stderr)
	}
	if s := e.state(id, "{{.State.Status}}"); s != "running" {
		t.Errorf("after detaching the container is %s", s)
	}
	b := e.startAttach("--detach-keys", "ctrl-x,d", id)
	if _, err := b.stdin.Write([]byte("\x10\x11\x18d")); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 0 {
		t.Errorf("attach after ctrl-x d: exit %d\n%s", code, b.stderr)
	}
	// Only ctrl-x d detached: ctrl-p ctrl-q went by (a pipe reads all at once,
	// so what came first was seen first).
	if s := e.state(id, "{{.State.Status}}"); s != "running" {
		t.Errorf("after detaching the container is %s", s)
	}
}

// TestAttachSigProxy: with --sig-proxy (the default) a signal to attach
// goes to the container; with --sig-proxy=false it ends attach only.
func TestAttachSigProxy(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached(e.tickerImage(), "sh", "-c", ticker)
	quiet := e.startAttach("--sig-proxy=false", id)
	if err := quiet.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := quiet.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("attach --sig-proxy=false after SIGTERM: exit %d", code)
	}
	if s := e.state(id, "{{.State.Status}}"); s != "running" {
		t.Errorf("--sig-proxy=false passed SIGTERM on: the container is %s", s)
	}
	a := e.startAttach(id)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(t); code != 3 {
		t.Errorf("attach after SIGTERM: exit %d, want the container's 3 (its trap)\n%s", code, a.stderr)
	}
	if !strings.Contains(a.stdout.String(), "got TERM") {
		t.Errorf("the container's trap did not show:\n%s", a.stdout)
	}
}
