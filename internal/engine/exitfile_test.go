package engine

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExitFile: an exit recorded in the exit file is what a record that
// still says running reads as, for its own run only, until the record is
// written; the output lost is marked in the log once.
func TestExitFile(t *testing.T) {
	e, r := testEngine(t, []LogEntry{{Log: "one\n", Stream: "stdout", Time: time.Now()}})
	r.Status, r.Pid, r.PidStart, r.BootID = StateRunning, 1234, 5678, "boot"
	if err := e.save(r); err != nil {
		t.Fatal(err)
	}
	if err := e.reserveExit(r.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(e.exitPath(r.ID)); err != nil || st.Size() != exitFileSize {
		t.Fatalf("exit file: %v %v", st, err)
	}
	if n, _ := e.loadRecord(r.ID); n.Status != StateRunning || n.exitUnsaved != nil {
		t.Fatalf("a reserved exit file changed the record: %+v", n)
	}
	finished := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	x := exitStatus{Pid: 1234, PidStart: 5678, BootID: "boot", Code: 7, FinishedAt: finished, Lost: 42, Why: unix.ENOSPC}
	if err := e.writeExit(r.ID, x); err != nil {
		t.Fatal(err)
	}
	n, err := e.loadRecord(r.ID)
	if err != nil || n.Status != StateExited || n.ExitCode != 7 || !n.FinishedAt.Equal(finished) || n.exitUnsaved == nil {
		t.Fatalf("record with a recorded exit: %+v %v", n, err)
	}
	// Another run's exit (a pid, start time or boot of its own) is not this one's.
	for _, other := range []exitStatus{{Pid: 1235, PidStart: 5678, BootID: "boot"}, {Pid: 1234, PidStart: 1, BootID: "boot"}, {Pid: 1234, PidStart: 5678, BootID: "other"}} {
		other.Code, other.FinishedAt = 3, finished
		e.writeExit(r.ID, other)
		if n, _ := e.loadRecord(r.ID); n.Status != StateRunning {
			t.Errorf("the exit of another run %+v taken: %+v", other, n)
		}
	}
	// A torn or foreign line is no exit.
	for _, bad := range []string{"exit 1234 5678 boot 7", "exit 1234 5678 boot 999 1 0 0 0\n", "garbage\n"} {
		os.WriteFile(e.exitPath(r.ID), []byte(bad), 0o600)
		if n, _ := e.loadRecord(r.ID); n.Status != StateRunning {
			t.Errorf("exit file %q taken: %+v", bad, n)
		}
	}
	os.WriteFile(e.exitPath(r.ID), make([]byte, exitFileSize), 0o600)
	e.writeExit(r.ID, x)
	// Collected: the record gets the recorded exit, the log the marker.
	if err := e.Collect(); err != nil {
		t.Fatal(err)
	}
	rec, err := e.loadRecord(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StateExited || rec.ExitCode != 7 || !rec.FinishedAt.Equal(finished) || rec.exitUnsaved != nil {
		t.Errorf("collected record: %+v", rec)
	}
	log, _ := os.ReadFile(e.LogPath(r.ID))
	if c := strings.Count(string(log), `[sdocker] 42 bytes of output lost: no space left on device\n`); c != 1 {
		t.Errorf("log after collection has %d markers:\n%s", c, log)
	}
	if got, ok := parseExitLine(mustRead(t, e.exitPath(r.ID))); !ok || got.Lost != 0 || got.Code != 7 {
		t.Errorf("exit file after the marker: %+v %v", got, ok)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
