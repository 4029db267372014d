package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/jsonlog"
)

// A container's exit status must outlive a full disk: the record is
// replaced whole (a new file), which needs space, so its watcher first
// writes how the container ended into a small file reserved (fallocate'd)
// before the container started, in place: ROOT/containers/ID/exit. Until
// the record says so itself, readers take the exit from there (see
// applyExit), and the command that collects the container writes it into
// the record instead of guessing 137 and now.

// exitFileSize is what is reserved: one line, of about 100 bytes.
const exitFileSize = 512

func (e *Engine) exitPath(id string) string { return filepath.Join(e.containerDir(id), "exit") }

// reserveExit makes sure the exit file of container id exists with its
// space allocated.
func (e *Engine) reserveExit(id string) error {
	p := e.exitPath(id)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("reserve %s: %w", p, err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, exitFileSize)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// No fallocate here: written blocks are allocated too.
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() < exitFileSize {
			_, err = f.WriteAt(make([]byte, exitFileSize-st.Size()), st.Size())
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reserve %s: %w", p, unwrapPath(err))
	}
	return nil
}

// exitStatus is how one run of a container ended, as the exit file keeps
// it: the run is told by its init's pid, start time and boot. Lost bytes of
// its output could not be marked in its log yet (errno Why).
type exitStatus struct {
	Pid        int
	PidStart   uint64
	BootID     string
	Code       int
	FinishedAt time.Time
	OOMKilled  bool
	Lost       int64
	Why        unix.Errno
}

// exitOf is the exit that r, a record of a container that ended, says.
func exitOf(r *Record) exitStatus {
	return exitStatus{Pid: r.Pid, PidStart: r.PidStart, BootID: r.BootID, Code: r.ExitCode, FinishedAt: r.FinishedAt, OOMKilled: r.OOMKilled}
}

func (x exitStatus) line() []byte {
	oom := 0
	if x.OOMKilled {
		oom = 1
	}
	return fmt.Appendf(nil, "exit %d %d %s %d %d %d %d %d\n", x.Pid, x.PidStart, x.BootID, x.Code, x.FinishedAt.UnixNano(), oom, x.Lost, int(x.Why))
}

func parseExitLine(b []byte) (exitStatus, bool) {
	line, _, ok := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if !ok || len(f) != 9 || f[0] != "exit" {
		return exitStatus{}, false
	}
	var x exitStatus
	var err [6]error
	var ns int64
	var why int
	x.Pid, err[0] = strconv.Atoi(f[1])
	x.PidStart, err[1] = strconv.ParseUint(f[2], 10, 64)
	x.BootID = f[3]
	x.Code, err[2] = strconv.Atoi(f[4])
	ns, err[3] = strconv.ParseInt(f[5], 10, 64)
	x.OOMKilled = f[6] == "1"
	x.Lost, err[4] = strconv.ParseInt(f[7], 10, 64)
	why, err[5] = strconv.Atoi(f[8])
	if errors.Join(err[:]...) != nil || x.Pid <= 0 || x.Code < 0 || x.Code > 255 || f[6] != "0" && f[6] != "1" || x.Lost < 0 || why < 0 {
		return exitStatus{}, false
	}
	x.FinishedAt, x.Why = time.Unix(0, ns).UTC(), unix.Errno(why)
	return x, true
}

// writeExit records x in the reserved exit file of container id, in place:
// no space is needed.
func (e *Engine) writeExit(id string, x exitStatus) error {
	p := e.exitPath(id)
	f, err := os.OpenFile(p, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("record exit in %s: %w", p, err)
	}
	_, err = f.WriteAt(x.line(), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record exit in %s: %w", p, unwrapPath(err))
	}
	return nil
}

// recordedExit returns the exit of r's current run, if the exit file has it.
func (e *Engine) recordedExit(r *Record) (exitStatus, bool) {
	if r.Pid <= 0 {
		return exitStatus{}, false
	}
	f, err := os.Open(e.exitPath(r.ID))
	if err != nil {
		return exitStatus{}, false
	}
	defer f.Close()
	b := make([]byte, exitFileSize)
	n, _ := f.ReadAt(b, 0)
	x, ok := parseExitLine(b[:n])
	if !ok || x.Pid != r.Pid || x.PidStart != r.PidStart || x.BootID != r.BootID {
		return exitStatus{}, false
	}
	return x, true
}

// applyExit makes r, a record that says its container runs, say how it
// ended if its exit file has that: the record could not be written then.
func (e *Engine) applyExit(r *Record) {
	if r.Status != StateRunning && r.Status != StatePaused {
		return
	}
	if x, ok := e.recordedExit(r); ok {
		x.apply(r)
		r.exitUnsaved = &x
	}
}

// markLost writes into the log of r, whose exit came from its exit file,
// the marker of the output its watcher could not log nor mark, and clears
// it from the exit file.
func (e *Engine) markLost(r *Record) error {
	if r.exitUnsaved == nil || r.exitUnsaved.Lost == 0 {
		return nil
	}
	x := *r.exitUnsaved
	p := e.LogPath(r.ID)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write log %s: %w", p, unwrapPath(err))
	}
	w := jsonlog.NewWriter(int(f.Fd()))
	w.AddLost(x.Lost, x.Why)
	err = w.Flush(x.FinishedAt)
	if cerr := f.Close(); err == nil {
		err = unwrapPath(cerr)
	}
	if err != nil {
		return fmt.Errorf("write log %s: %w", p, err)
	}
	x.Lost, x.Why = 0, 0
	return e.writeExit(r.ID, x)
}

// apply records x in r.
func (x exitStatus) apply(r *Record) {
	r.Status, r.ExitCode, r.FinishedAt, r.OOMKilled = StateExited, x.Code, x.FinishedAt, x.OOMKilled
}

// unwrapPath drops the path of a *PathError whose path the caller names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// settle makes the record of container id, which nobody watches any more,
// say how it ended, as Collect does for every container; it returns why it
// could not (the disk is still full). A command that ends a container (stop)
// succeeds only once its record says so.
func (e *Engine) settle(id string) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, err := e.loadRecord(id)
	if errors.Is(err, ErrNotFound) {
		return nil // removed (--rm)
	}
	if err != nil {
		return err
	}
	if r.Status == StateCreated || r.Status == StateExited && r.exitUnsaved == nil {
		return nil
	}
	hold, err := e.holdContainer(id)
	if err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, os.ErrNotExist) {
			return nil // watched again (restarted), or removed
		}
		return err
	}
	defer hold.Close()
	if err := e.cleanupDead(r); err != nil {
		return fmt.Errorf("record the exit of container %s: %w", ids.ShortID(r.ID), err)
	}
	return nil
}
