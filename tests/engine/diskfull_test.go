package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/engine"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The disk-full faults: SDOCKER_ROOT is a small tmpfs, filled (a filler
// file takes every free block) before a run, while a container logs and
// before it exits. While full, every command that fails says ENOSPC and
// names the file it was writing; once space is freed, no exit is lost (the
// container's own code, its real finish time), every line of every log is
// an entry, output dropped is marked, and every command works again.

// fullEnv is an env whose root is a 20 MB tmpfs.
type fullEnv struct {
	*env
	ctl    string // a host directory outside the tmpfs, the containers' /ctl
	filler string
}

func newFullEnv(t *testing.T) *fullEnv {
	t.Helper()
	e := newEnv(t)
	if err := unix.Mount("tmpfs", e.root, "tmpfs", 0, "size=20m,mode=0700"); err != nil {
		t.Skip("cannot mount a tmpfs: ", err)
	}
	// After the containers' own cleanups (registered later, run first).
	t.Cleanup(func() {
		if err := unix.Unmount(e.root, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", e.root, err)
		}
	})
	return &fullEnv{env: e, ctl: t.TempDir(), filler: filepath.Join(e.root, "filler")}
}

// fill takes every free block of the root's file system.
func (f *fullEnv) fill() {
	f.t.Helper()
	fd, err := unix.Open(f.filler, unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		f.t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		f.t.Fatal(err)
	}
	var fst unix.Stat_t
	unix.Fstat(fd, &fst)
	unix.Fallocate(fd, 0, fst.Size, int64(st.Bavail)*st.Bsize)
	// What fallocate left (it may fail whole): page by page.
	unix.Fstat(fd, &fst)
	unix.Ftruncate(fd, fst.Size)
	buf := make([]byte, 4096)
	for {
		if _, err := unix.Write(fd, buf); err != nil {
			break
		}
	}
	if err := unix.Fstatfs(fd, &st); err != nil || st.Bavail != 0 {
		f.t.Fatalf("root not full: %d blocks free (%v)", st.Bavail, err)
	}
}

// free gives the filler's space back and returns when that was.
func (f *fullEnv) free() time.Time {
	f.t.Helper()
	if err := os.Remove(f.filler); err != nil {
		f.t.Fatal(err)
	}
	return time.Now()
}

// failsFull checks that a command that failed on the full disk says ENOSPC
// and names the file under the root that it was writing: one of files, or
// any with no files given.
func (f *fullEnv) failsFull(r result, files ...string) {
	f.t.Helper()
	named := false
	for _, p := range regexp.MustCompile(regexp.QuoteMeta(f.root)+`/[^\s:"]+`).FindAllString(r.stderr, -1) {
		named = named || len(files) == 0 || slices.Contains(files, filepath.Base(p))
	}
	if r.code == 0 || !named || !strings.Contains(r.stderr, ": no space left on device") || strings.Contains(r.stderr, ".tmp-") {
		f.t.Errorf("on a full disk: want a failure naming the file being written (%s) and ENOSPC:\n%s", strings.Join(files, " or "), r)
	}
}

// logLines reads the json log of container id: every line must be an entry.
func (f *fullEnv) logLines(id string) []engine.LogEntry {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, "containers", id, "container-json.log"))
	if err != nil {
		f.t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		f.t.Errorf("log of %s ends in a broken line: %q", id[:12], b[max(0, len(b)-100):])
	}
	var out []engine.LogEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var ent engine.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &ent); err != nil || ent.Time.IsZero() {
			f.t.Errorf("log of %s, line %d is no entry: %q (%v)", id[:12], n, sc.Text(), err)
			continue
		}
		out = append(out, ent)
	}
	return out
}

var markerRE = regexp.MustCompile(`^\[sdocker\] (\d+) bytes of output lost: no space left on device\n$`)

// lostAndMarked checks the log of a loggingContainer that printed "line 0"
// to "line last", then trailer: the bytes of what is missing must be
// exactly what the markers say was lost. It returns the lines lost and the
// bytes marked.
func lostAndMarked(t *testing.T, ents []engine.LogEntry, last int, trailer string) (linesLost, marked int) {
	t.Helper()
	next, missing := 0, len(trailer)
	gap := func(upto int) {
		for ; next < upto; next++ {
			linesLost++
			missing += len(fmt.Sprintf("line %d\n", next))
		}
	}
	for _, ent := range ents {
		if m := markerRE.FindStringSubmatch(ent.Log); m != nil && ent.Stream == "stderr" {
			n, _ := strconv.Atoi(m[1])
			marked += n
			continue
		}
		if ent.Log == trailer {
			missing -= len(trailer)
			continue
		}
		var n int
		if _, err := fmt.Sscanf(ent.Log, "line %d\n", &n); err != nil {
			t.Errorf("unexpected entry %q", ent.Log)
			continue
		}
		gap(n)
		next = n + 1
	}
	gap(last + 1)
	// The loop writes line i, then the counter: a TERM trap between the
	// two leaves line last+1 written (and lost) but not counted.
	if uncounted := len(fmt.Sprintf("line %d\n", last+1)); marked != missing && marked != missing+uncounted {
		t.Errorf("%d lines lost (%d bytes with the trailer), %d bytes marked lost (last %d)", linesLost, missing, marked, last)
	}
	return linesLost, marked
}

// ctlCount reads the counter that the loggingContainer name writes to
// /ctl/NAME.count (-1 before it wrote one).
func (f *fullEnv) ctlCount(name string) int {
	b, err := os.ReadFile(filepath.Join(f.ctl, name+".count"))
	if os.IsNotExist(err) {
		return -1
	}
	n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || err2 != nil {
		f.t.Fatalf("counter of %s: %q %v %v", name, b, err, err2)
	}
	return n
}

func (f *fullEnv) touch(name string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.ctl, name), nil, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// loggingContainer prints "line N" lines (N also to /ctl/NAME.count)
// until /ctl/NAME exists, then "done", and exits 7; on SIGTERM it exits 9.
func (f *fullEnv) loggingContainer(name string) string {
	return f.runDetached("-v", f.ctl+":/ctl", rootfsDir, "sh", "-c",
		`trap 'echo term; exit 9' TERM; i=0; while [ ! -e /ctl/`+name+` ]; do echo line $i; echo $i > /ctl/`+name+`.tmp; mv /ctl/`+name+`.tmp /ctl/`+name+`.count; i=$((i+1)); sleep 0.005; done; echo done; exit 7`)
}

// checkExit checks what inspect says of an exit recorded before recovery.
func (f *fullEnv) checkExit(id string, code int, recovery time.Time) {
	f.t.Helper()
	c := f.inspect(id)
	finished, err := time.Parse(time.RFC3339Nano, c.State.FinishedAt)
	if c.State.Status != "exited" || c.State.ExitCode != code || err != nil || !finished.Before(recovery) {
		f.t.Errorf("container %s: %s, exit %d, finished %s (recovery at %s); want exited %d before the recovery",
			id[:12], c.State.Status, c.State.ExitCode, c.State.FinishedAt, recovery.UTC().Format(time.RFC3339Nano), code)
	}
	if r := f.record(id); r.Status != "exited" || r.ExitCode != code || !r.FinishedAt.Before(recovery) {
		f.t.Errorf("record of %s on disk: %s, exit %d, finished %s", id[:12], r.Status, r.ExitCode, r.FinishedAt)
	}
}

// TestDiskFull runs the disk-full scenarios one after the other on one
// small root, and at the end checks that every command works again.
func TestDiskFull(t *testing.T) {
	f := newFullEnv(t)
	var lost, marked int

	t.Run("before run", func(t *testing.T) {
		f.t = t
		f.fill()
		f.failsFull(f.run("run", "-d", "--name", "early", rootfsDir, "true"), "container.json")
		f.failsFull(f.run("run", "--rm", "-v", "/data", rootfsDir, "true"), "container.json")
		if ents, _ := os.ReadDir(filepath.Join(f.root, "containers")); len(ents) != 0 {
			t.Errorf("failed runs left %d containers", len(ents))
		}
		if ents, _ := os.ReadDir(filepath.Join(f.root, "volumes")); len(ents) != 0 {
			t.Errorf("failed runs left %d volumes", len(ents))
		}
		f.free()
		f.mustRun(3, "run", "--name", "early", rootfsDir, "sh", "-c", "exit 3")
		f.mustRun(0, "rm", "early")
	})

	t.Run("while it logs", func(t *testing.T) {
		f.t = t
		id := f.loggingContainer("stop1")
		testutil.WaitFor(t, 30*time.Second, "output", func() bool { return f.ctlCount("stop1") > 20 })
		f.fill()
		n := f.ctlCount("stop1")
		testutil.WaitFor(t, 30*time.Second, "output while full", func() bool { return f.ctlCount("stop1") > n+100 })
		// While full: ps and inspect still work, logs shows what was kept.
		f.mustRun(0, "ps", "-a")
		f.mustRun(0, "logs", id)
		recovery := f.free()
		n = f.ctlCount("stop1")
		testutil.WaitFor(t, 30*time.Second, "output after recovery", func() bool { return f.ctlCount("stop1") > n+20 })
		f.touch("stop1")
		if r := f.mustRun(0, "wait", id); strings.TrimSpace(r.stdout) != "7" {
			t.Errorf("wait: %q, want 7", r.stdout)
		}
		f.checkExit(id, 7, time.Now())
		ents := f.logLines(id)
		l, m := lostAndMarked(t, ents, f.ctlCount("stop1"), "done\n")
		if l == 0 || m == 0 {
			t.Errorf("no output lost and marked while the disk was full (%d lines, %d bytes marked)", l, m)
		}
		if last := ents[len(ents)-1]; last.Log != "done\n" || !last.Time.After(recovery) {
			t.Errorf("last entry %+v: want done, after the recovery", last)
		}
		out := f.mustRun(0, "logs", id)
		if strings.Count(out.stdout, "\n") < len(ents)-2 || !strings.HasSuffix(out.stdout, "done\n") {
			t.Errorf("logs prints %d lines of %d entries", strings.Count(out.stdout, "\n"), len(ents))
		}
		lost, marked = lost+l, marked+m
		t.Logf("%d lines lost, %d bytes marked in %d entries", l, m, len(ents))
	})

	// Full before it exits, freed while its monitor still tries to record
	// the exit: the monitor records it.
	t.Run("before it exits, freed soon", func(t *testing.T) {
		f.t = t
		id := f.loggingContainer("stop2")
		testutil.WaitFor(t, 30*time.Second, "output", func() bool { return f.ctlCount("stop2") > 5 })
		f.fill()
		// More than what the log's last block has room for.
		n := f.ctlCount("stop2")
		testutil.WaitFor(t, 30*time.Second, "output while full", func() bool { return f.ctlCount("stop2") > n+100 })
		f.touch("stop2")
		// inspect and ps show the exit that is only in the exit file.
		if c := f.waitStatus(id, "exited", 30*time.Second); c.State.ExitCode != 7 {
			t.Errorf("inspect while full: exit %d, want 7", c.State.ExitCode)
		}
		if r := f.record(id); r.Status != "running" {
			t.Errorf("record written on a full disk: %s", r.Status)
		}
		if r := f.mustRun(0, "ps", "-a", "--format", "{{.Status}}"); !strings.HasPrefix(r.stdout, "Exited (7)") {
			t.Errorf("ps while full: %q", r.stdout)
		}
		recovery := f.free()
		testutil.WaitFor(t, 30*time.Second, "the monitor to record the exit", func() bool { return f.record(id).Status == "exited" })
		f.checkExit(id, 7, recovery)
		l, m := lostAndMarked(t, f.logLines(id), f.ctlCount("stop2"), "done\n")
		if m == 0 {
			t.Errorf("the output lost is not marked")
		}
		lost, marked = lost+l, marked+m
		t.Logf("%d lines lost, %d bytes marked", l, m)
	})

	// Full before it exits and until its monitor gave up: stop fails with
	// ENOSPC; the next command records the exit that the monitor kept.
	t.Run("before it exits, freed late", func(t *testing.T) {
		f.t = t
		id := f.loggingContainer("stop3")
		testutil.WaitFor(t, 30*time.Second, "output", func() bool { return f.ctlCount("stop3") > 5 })
		f.fill()
		n := f.ctlCount("stop3")
		testutil.WaitFor(t, 30*time.Second, "output while full", func() bool { return f.ctlCount("stop3") > n+100 })
		// stop: SIGTERM while the disk is full; it waits for the monitor.
		f.failsFull(f.run("stop", id), "container.json", "container-json.log")
		if r := f.mustRun(0, "wait", id); strings.TrimSpace(r.stdout) != "9" {
			t.Errorf("wait while full: %q, want 9 (its SIGTERM trap)", r.stdout)
		}
		if r := f.record(id); r.Status != "running" {
			t.Fatalf("record written on a full disk: %s", r.Status)
		}
		// A start that cannot record the container running stops it again
		// (it may have run a moment: its counter is read before).
		last := f.ctlCount("stop3")
		f.failsFull(f.run("start", id), "container.json")
		recovery := f.free()
		f.mustRun(0, "stop", id)
		f.checkExit(id, 9, recovery)
		l, m := lostAndMarked(t, f.logLines(id), last, "term\n")
		if m == 0 {
			t.Errorf("the output lost is not marked")
		}
		lost, marked = lost+l, marked+m
		// Started again, it runs as before.
		f.mustRun(0, "start", id)
		f.touch("stop3")
		if r := f.mustRun(0, "wait", id); strings.TrimSpace(r.stdout) != "7" {
			t.Errorf("wait after a start: %q, want 7", r.stdout)
		}
	})

	// A --rm container that ends while the disk is full goes, with its
	// anonymous volume.
	t.Run("rm", func(t *testing.T) {
		f.t = t
		id := f.runDetached("--rm", "-v", "/data", "-v", f.ctl+":/ctl", rootfsDir, "sh", "-c", "echo x > /data/f; until [ -e /ctl/rm ]; do echo tick; sleep 0.01; done; exit 3")
		f.fill()
		f.touch("rm")
		testutil.WaitFor(t, 30*time.Second, "the --rm container to go", func() bool {
			_, err := os.Stat(filepath.Join(f.root, "containers", id))
			return os.IsNotExist(err)
		})
		if ents, _ := os.ReadDir(filepath.Join(f.root, "volumes")); len(ents) != 0 {
			t.Errorf("the --rm container left %d volumes", len(ents))
		}
		f.free()
	})

	// A foreground run whose container ends while the disk is full: the
	// container's own code, the record's failure named, the exit kept.
	t.Run("foreground", func(t *testing.T) {
		f.t = t
		cmd := f.command("run", "--name", "fg", "-v", f.ctl+":/ctl", rootfsDir, "sh", "-c", "until [ -e /ctl/fg ]; do sleep 0.01; done; exit 4")
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); f.run("rm", "-f", "fg") })
		testutil.WaitFor(t, 30*time.Second, "the foreground container to run", func() bool {
			r := f.run("inspect", "--format", "{{.State.Status}}", "fg")
			return strings.TrimSpace(r.stdout) == "running"
		})
		f.fill()
		f.touch("fg")
		timer := time.AfterFunc(timeout(60*time.Second), func() { cmd.Process.Kill() })
		err := cmd.Wait()
		timer.Stop()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		f.failsFull(result{args: cmd.Args, code: code, stderr: errOut.String()}, "container.json")
		if code != 4 {
			t.Errorf("run: exit %d, want the container's 4", code)
		}
		recovery := f.free()
		f.checkExit(f.inspect("fg").ID, 4, recovery)
		f.mustRun(0, "rm", "fg")
	})

	// Commands on a running container: what fails leaves it as it was.
	t.Run("commands", func(t *testing.T) {
		f.t = t
		id := f.runDetached(rootfsDir, "sleep", "100")
		f.fill()
		f.failsFull(f.run("pause", id), "container.json")
		if c := f.inspect(id); c.State.Status != "running" {
			t.Errorf("after a failed pause: %s", c.State.Status)
		}
		f.mustRun(0, "exec", id, "true") // not frozen
		f.failsFull(f.run("update", "--memory", "100m", id), "spec.json")
		f.failsFull(f.run("import", rootfsDir, "full:1"))
		f.failsFull(f.run("run", "-d", rootfsDir, "true"), "container.json")
		f.mustRun(0, "kill", "-s", "USR1", id)
		f.mustRun(0, "ps")
		f.mustRun(0, "top", id)
		f.free()
		f.mustRun(0, "pause", id)
		f.mustRun(0, "unpause", id)
		f.mustRun(0, "update", "--memory", "100m", id)
		f.mustRun(0, "rm", "-f", id)
	})

	t.Run("after", func(t *testing.T) {
		f.t = t
		id := f.runDetached(rootfsDir, "sh", "-c", "echo hello; exit 5")
		if r := f.mustRun(0, "wait", id); strings.TrimSpace(r.stdout) != "5" {
			t.Errorf("wait: %q", r.stdout)
		}
		if r := f.mustRun(0, "logs", id); r.stdout != "hello\n" {
			t.Errorf("logs: %q", r.stdout)
		}
		f.mustRun(0, "rm", id)
		if r := f.mustRun(0, "ps", "-a"); strings.Contains(r.stderr, "warning") {
			t.Errorf("ps: %s", r)
		}
	})
	t.Logf("disk full: %d lines lost in all, %d bytes marked lost", lost, marked)
}
