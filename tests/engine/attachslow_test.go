package engine

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/attachio"
	"github.com/sdocker/sdocker/tests/testutil"
)

// floodScript writes floodLines lines (floodLine) as fast as it can: 8 MB,
// many times what the attach socket and the pipes between hold.
const (
	floodScript = `seq -f "%06g $(printf %01000d 0)" 0 7999`
	floodLines  = 8000
)

func floodLine(i int) string { return fmt.Sprintf("%06d %01000d\n", i, 0) }

// slowAttach is an `sdocker attach` whose output the test reads when it
// chooses to.
type slowAttach struct {
	stdin  io.WriteCloser
	stdout *os.File
	stderr *testutil.SyncBuffer
	ended  chan int // its exit status
}

func (e *env) startSlowAttach(id string) *slowAttach {
	e.t.Helper()
	cmd := e.command("attach", id)
	a := &slowAttach{stderr: &testutil.SyncBuffer{}, ended: make(chan int, 1)}
	cmd.Stderr = a.stderr
	var err error
	if a.stdin, err = cmd.StdinPipe(); err != nil {
		e.t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	a.stdout, cmd.Stdout = r, w
	e.t.Cleanup(func() { r.Close() })
	err = cmd.Start()
	w.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { a.ended <- statusOf(cmd.Wait()) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-a.ended:
		case <-time.After(10 * time.Second):
		}
	})
	return a
}

// wait waits for attach to end and returns its exit status.
func (a *slowAttach) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-a.ended:
		a.ended <- code
		return code
	case <-time.After(timeout(30 * time.Second)):
		t.Fatalf("attach did not end\n%s", a.stderr)
		return 0
	}
}

// monitorPeak is the most memory the monitor of container id has held
// resident since it began (VmHWM).
func (e *env) monitorPeak(id string) int64 {
	e.t.Helper()
	mon := e.checkSmallMonitor(id)
	hwm, err := procKB(fmt.Sprintf("/proc/%d/status", mon), "VmHWM")
	if err != nil {
		e.t.Fatal(err)
	}
	return hwm
}

// TestAttachSlowReader: a client that reads slower than the container
// writes holds it up (as Docker's attach): one that pauses now and then
// (less than attachio.MaxStall each time) gets every byte, in order, as
// the log has them; one that stops reading is let go after MaxStall, with
// a clear error, while the container runs and logs on. The monitor stays
// within its memory budget throughout.
func TestAttachSlowReader(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	// It floods once told to, then waits to be told to end.
	id := e.runDetached("--network", "none", "-i", rootfsDir, "sh", "-c", "read x; "+floodScript+"; read x; exit 5")
	a := e.startSlowAttach(id)
	if _, err := io.WriteString(a.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range floodLines {
		want.WriteString(floodLine(i))
	}
	got := make([]byte, 0, want.Len())
	buf := make([]byte, 64<<10)
	pauses := 0
	for len(got) < want.Len() {
		n, err := a.stdout.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("attach output after %d bytes of %d: %v\n%s", len(got), want.Len(), err, a.stderr)
		}
		// A pause of a second every 2 MB: the container is far ahead
		// by then.
		if len(got) >= (pauses+1)*(2<<20) {
			pauses++
			time.Sleep(time.Second)
		}
	}
	if string(got) != want.String() {
		t.Errorf("attach output with %d pauses of 1 s: %d bytes, not the %d written in order", pauses, len(got), want.Len())
	}
	peak := e.monitorPeak(id)
	if _, err := io.WriteString(a.stdin, "end\n"); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(a.stdout); err != nil || len(rest) > 0 {
		t.Errorf("attach output after the flood: %q, %v", rest, err)
	}
	if code := a.wait(t); code != 5 {
		t.Errorf("attach exit %d, want the container's 5\n%s", code, a.stderr)
	}
	e.waitStatus(id, "exited", timeout(10*time.Second))
	if r := e.mustRun(0, "logs", id); r.stdout != want.String() {
		t.Errorf("logs: %d bytes, not the %d written", len(r.stdout), want.Len())
	}
	t.Logf("monitor with an attach client paused %d times for 1 s in an 8 MB flood: VmHWM %d KiB", pauses, peak>>10)
	if peak > maxMonitorRSS {
		t.Errorf("monitor VmHWM %d KiB, want at most %d KiB", peak>>10, maxMonitorRSS>>10)
	}

	// A client that stops reading: let go, the container and its log go
	// on. Each batch of 200 lines begins with its number.
	id = e.runDetached("--network", "none", "-i", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", rootfsDir, "sh", "-c",
		`read x; i=0; while :; do i=$((i+1)); seq -f "$i %g $(printf %01000d 0)" 1 200; sleep 0.05; done`)
	mon := e.checkSmallMonitor(id)
	b := e.startSlowAttach(id)
	if _, err := io.WriteString(b.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	// Blocked on its stdout, attach cannot tell yet: the monitor has let
	// it go once it holds no connection but its listening socket.
	testutil.WaitFor(t, timeout(10*time.Second), "attach to connect", func() bool { return socketsOf(t, mon) == 2 })
	testutil.WaitFor(t, timeout(30*time.Second), "the monitor to let attach go", func() bool { return socketsOf(t, mon) == 1 })
	if s := e.state(id, "{{.State.Status}}"); s != "running" {
		t.Fatalf("after attach was let go the container is %s", s)
	}
	batch := func() int {
		f := strings.Fields(e.mustRun(0, "logs", "--tail", "1", id).stdout)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(f[0])
		return n
	}
	first := batch()
	testutil.WaitFor(t, timeout(10*time.Second), "the log to go on", func() bool { return batch() > first+2 })
	// Read now, attach has what the socket held, in order, then the end.
	out, err := io.ReadAll(b.stdout)
	if err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t); code != 125 || !strings.Contains(b.stderr.String(), "did not read its output for "+attachio.MaxStall.String()) {
		t.Errorf("attach that stopped reading: exit %d, want 125 and why\n%s", code, b.stderr)
	}
	checkBatches(t, string(out))
	peak = e.monitorPeak(id)
	t.Logf("monitor after letting go an attach client that stopped reading (it had %d bytes): VmHWM %d KiB", len(out), peak>>10)
	if peak > maxMonitorRSS {
		t.Errorf("monitor VmHWM %d KiB, want at most %d KiB", peak>>10, maxMonitorRSS>>10)
	}
}

// socketsOf counts the sockets process pid holds.
func socketsOf(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if l, err := os.Readlink(dir + "/" + ent.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// checkBatches fails unless out is the start of the batches of lines
// "I J 000...", J from 1 to 200 in each, I from 1 on: none left out.
func checkBatches(t *testing.T, out string) {
	t.Helper()
	pad := strings.Repeat("0", 1000)
	var want strings.Builder
	for k := 0; want.Len() < len(out); k++ {
		fmt.Fprintf(&want, "%d %d %s\n", k/200+1, k%200+1, pad)
	}
	if len(out) == 0 || !strings.HasPrefix(want.String(), out) {
		t.Errorf("attach had %d bytes, not the start of the container's output", len(out))
	}
}
