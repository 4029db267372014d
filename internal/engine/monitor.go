package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/attachio"
	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/jsonlog"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/rootless"
	"github.com/sdocker/sdocker/internal/specgen"
)

// A detached container is watched by a monitor: this binary started again
// as "sdocker-monitor ROOT ID", in a session of its own. It inherits the
// container's lock from the command that created it and holds it while the
// container lives: it starts the init (and so reaps it), writes its output
// to the log, records how it ended, applies the restart policy, and removes
// cgroups and mounts.
//
// While the container runs, the monitor is the small sdocker-monitor binary
// found beside this one: once the init runs, this process executes it (same
// pid: it stays the init's parent, and keeps the lock), handing it the
// init's pid, its output pipes (or pty), the log and the healthcheck's
// interval (it starts the checks, see healthArg). When the init has
// exited it executes this binary again as
// "sdocker-monitor ROOT ID exited BACKOFF STATUS [LOST:ERRNO]", which
// records the exit (and marks in the log the output that sdocker-monitor
// could not write), cleans up and applies the restart policy (starting the
// container again and handing it to sdocker-monitor again). Without
// sdocker-monitor the whole watch stays in this process.
//
// A full disk loses no exit: the exit file reserved at start takes it
// first, and the record is written again with back-off while the monitor
// holds the lock (see keepExit); the next command takes it from there.
//
// An init watched by sdocker-monitor is started without a parent-death
// signal (execve ends every thread but the calling one, and the signal
// follows the thread that forked the init): when its monitor is killed,
// the container runs on until the next sdocker command collects it (see
// Collect), which kills it and removes its cgroups and mounts.

const (
	monitorArg0 = "sdocker-monitor"
	// watcherName is the small monitor binary, found beside sdocker.
	watcherName = "sdocker-monitor"
	// attachArg is its option that serves the attach socket.
	attachArg = "--attach="
	// lockFD is the descriptor of the container's lock in every phase of
	// the monitor.
	lockFD = 4
	// stateFD is the container's state lock, handed over by the command
	// that started the monitor until the container runs.
	stateFD = 5
	// listenFD is the attach socket of the first run (see attachio),
	// made by the command that started the monitor, so that it may
	// connect before the container starts (start -a).
	listenFD = 6
)

// IsMonitor reports whether this process is a container monitor; the
// caller must then call MonitorMain and nothing else.
func IsMonitor() bool {
	a := os.Args
	return len(a) >= 3 && a[0] == monitorArg0 && (len(a) == 3 || (len(a) == 6 || len(a) == 7) && a[3] == "exited")
}

// startMonitor starts the monitor of r, handing it the container's lock and
// state lock (see holdState) and the attach socket listening (nil: made
// here), and waits until the container runs or failed to start.
func (e *Engine) startMonitor(r *Record, lock, state, listener *os.File) error {
	// A marker left from a stop would keep the restart policy from
	// acting on this run.
	if err := os.Remove(e.stopMarker(r.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start container %s: %w", ids.ShortID(r.ID), err)
	}
	if listener == nil {
		l, err := attachio.Listen(e.containerDir(r.ID))
		if err != nil {
			return err
		}
		defer l.Close()
		listener = l
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create monitor pipe: %w", err)
	}
	defer reportR.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{monitorArg0, e.Root, r.ID},
		Env:         append([]string{"PATH=" + os.Getenv("PATH"), "GOGC=50", "GOMAXPROCS=1"}, rootless.Env()...),
		ExtraFiles:  []*os.File{reportW, lock, state, listener},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	reportW.Close()
	if err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	msg, _ := io.ReadAll(reportR)
	if len(msg) > 0 {
		cmd.Wait()
		code, text, _ := strings.Cut(string(msg), " ")
		var se launch.StartError
		if _, err := fmt.Sscan(code, &se.Code); err != nil {
			se.Code = 125
		}
		se.Msg = text
		return &se
	}
	// The monitor lives on; whoever reaps orphans reaps it.
	cmd.Process.Release()
	return nil
}

// MonitorMain is the monitor process; it exits when the container is done.
func MonitorMain() {
	var report, state, listener *os.File
	var exited *exitedInit
	if len(os.Args) == 3 {
		report = os.NewFile(3, "report")
		unix.CloseOnExec(3)
		state = os.NewFile(stateFD, "state")
		unix.CloseOnExec(stateFD)
		listener = os.NewFile(listenFD, "attach")
		unix.CloseOnExec(listenFD)
	} else {
		// Back from sdocker-monitor: named as it, for ps and reapers
		// (a name only: nothing depends on it).
		_ = os.WriteFile("/proc/self/comm", []byte(monitorArg0), 0)
		// What it passed on to come back here (this binary's descriptor)
		// goes no further. (Linux 5.11; the monitor has no one to
		// report to here, and a restart is all that would inherit it.)
		_ = unix.CloseRange(lockFD+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		reapChecks()
		exited = parseExited(os.Args[4], os.Args[5], os.Args[6:]...)
	}
	lock := os.NewFile(lockFD, "lock")
	unix.CloseOnExec(lockFD)
	e, err := New(os.Args[1])
	if err == nil {
		err = e.safeMonitor(os.Args[2], report, state, listener, exited)
	}
	if err != nil && report != nil {
		fmt.Fprintf(report, "%d %v", launch.ExitCodeOf(err), err)
	}
	lock.Close()
	os.Exit(0)
}

// reapChecks reaps the healthchecks that sdocker-monitor started and that
// have ended since (the init it reaped itself): the only children this
// process has when it comes back. One that still runs (it may be
// restarting the container) is left to end on its own.
func reapChecks() {
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 && err != unix.EINTR {
			return
		}
	}
}

// safeMonitor is monitor, a panic turned into its error: the command that
// started the monitor must not take a crash for a start.
func (e *Engine) safeMonitor(id string, report, state, listener *os.File, exited *exitedInit) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("monitor of container %s: %v", ids.ShortID(id), p)
		}
	}()
	return e.monitor(id, report, state, listener, exited)
}

// exitedInit is how the init that sdocker-monitor watched ended, and how
// much of its output it could not log.
type exitedInit struct {
	code    int
	backoff time.Duration
	lost    int64
	why     unix.Errno
}

// parseExited reads the BACKOFF, STATUS and LOST:ERRNO arguments of a
// monitor back from sdocker-monitor; a status it could not tell counts as
// 125.
func parseExited(backoff, status string, lost ...string) *exitedInit {
	x := &exitedInit{code: 125, backoff: 100 * time.Millisecond}
	if len(lost) == 1 {
		n, errno, _ := strings.Cut(lost[0], ":")
		x.lost, _ = strconv.ParseInt(n, 10, 64)
		if v, err := strconv.Atoi(errno); err == nil && v > 0 {
			x.why = unix.Errno(v)
		}
	}
	if ms, err := strconv.Atoi(backoff); err == nil && ms > 0 {
		x.backoff = time.Duration(ms) * time.Millisecond
	}
	if n, err := strconv.Atoi(status); err == nil && n >= 0 {
		ws := unix.WaitStatus(n)
		x.code = launch.ExitCode(&ws, 125)
	}
	return x
}

// monitor runs container id until it is done; the first start's outcome
// goes to report, and state is held until then; listener is its attach
// socket. With exited, the container's init has just ended (it was watched
// by sdocker-monitor).
func (e *Engine) monitor(id string, report, state, listener *os.File, exited *exitedInit) error {
	r, err := e.load(id)
	if err != nil {
		if exited != nil {
			// The init has ended; what it leaves goes all the same.
			return e.endDamaged(id, exited.code, err)
		}
		return err
	}
	// Read too: the log writer looks at how the log ends.
	logf, err := os.OpenFile(e.LogPath(id), os.O_CREATE|os.O_RDWR|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", e.LogPath(id), err)
	}
	defer logf.Close()
	log := newLogWriter(logf)
	e.rotate(log.w, r)
	backoff := 100 * time.Millisecond
	for {
		var code int
		if exited != nil {
			code, backoff = exited.code, exited.backoff
			log.w.AddLost(exited.lost, exited.why)
			exited = nil
			var cg cgroups.Manager
			if cg, err = e.cgroupOf(r); err == nil {
				e.keepExit(r, log, e.finishContainer(r, cg, code))
			}
		} else {
			if state == nil {
				// A restart, under the state lock as every start: a stop
				// that came first wins.
				state, err = e.holdState(id)
				stop := err == nil && e.stopped(id)
				if stop {
					state.Close()
				}
				if err != nil || stop {
					// Once the container has started the monitor has
					// no one to report to: a record it could not
					// update is corrected by Collect, which finds it
					// unwatched.
					_ = e.updateRecord(r.ID, func(n *Record) {
						if n.Status = StateExited; err != nil {
							n.Error = err.Error()
						}
						r.adopt(n)
					})
					break
				}
			}
			if r, err = e.load(id); err != nil { // with what update changed
				state.Close()
				return errors.Join(err, e.releaseDamaged(id))
			}
			started := false
			w := &watch{exe: e.watcher(), rotate: e.rotateArg(r), health: e.healthArg(r), listener: listener, next: []string{monitorArg0, e.Root, id, "exited", strconv.FormatInt(backoff.Milliseconds(), 10)}}
			listener = nil // a restart makes its own
			code, err = e.runOnce(r, log, w, func() {
				started = true
				state.Close() // sdocker-monitor's execve closes it too
				if report != nil {
					report.Close() // the command that started the monitor returns
					report = nil
				}
				// From here on the monitor only copies output and waits:
				// give back what starting took.
				debug.FreeOSMemory()
			})
			if report != nil && !started {
				// As in the foreground: a new container that could not
				// start leaves nothing; one started before (start) stays,
				// and one that create made stays created, with the error
				// (as in Docker). (The state lock is still ours.)
				if r.StartedAt.IsZero() && !r.ByCreate {
					r.AutoRemove = true
				}
				if r.AutoRemove {
					return errors.Join(err, e.removeContainer(r))
				}
				if r.StartedAt.IsZero() {
					_ = e.updateRecord(r.ID, func(n *Record) { n.Error, n.ExitCode = err.Error(), launch.ExitCodeOf(err) })
				}
				return errors.Join(err, e.release(r))
			}
			if !started {
				state.Close()
			}
			state = nil
		}
		if err != nil {
			code = launch.ExitCodeOf(err)
			_ = e.updateRecord(r.ID, func(n *Record) {
				n.Error, n.ExitCode = err.Error(), code
				n.Status, n.FinishedAt = StateExited, time.Now().UTC()
				r.adopt(n)
			})
		}
		if !e.shouldRestart(r, code) {
			break
		}
		_ = e.updateRecord(r.ID, func(n *Record) {
			n.RestartCount++
			n.Status = StateRestarting
		})
		if !e.sleepUnlessStopped(r.ID, backoff) {
			_ = e.updateRecord(r.ID, func(n *Record) { n.Status = StateExited; r.adopt(n) })
			break
		}
		if backoff *= 2; backoff > time.Minute {
			backoff = time.Minute
		}
	}
	return e.release(r)
}

// watcher returns the path of sdocker-monitor beside this executable, or ""
// when there is none.
func (e *Engine) watcher() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), watcherName)
	if unix.Access(p, unix.X_OK) != nil {
		return ""
	}
	return p
}

// watch is how a running container is handed to sdocker-monitor: its path
// ("" to watch in this process), its options that rotate the log and run
// the healthcheck (if any) and the arguments it runs this binary with once
// the init has exited (the wait status is appended).
type watch struct {
	exe      string
	rotate   string
	health   string
	listener *os.File // the attach socket
	next     []string
}

// handOver executes sdocker-monitor to watch p, whose output comes from
// out and errOut (or p's console), logged to log, and whose stdin is in
// (or its console, with host.OpenStdin). It returns only if that failed:
// the descriptors are then as they were.
func (w *watch) handOver(p *launch.Process, host HostOptions, out, errOut, in, log *os.File) error {
	// sdocker-monitor comes back to this very binary through a descriptor
	// of it, not its path: an upgrade or removal of sdocker meanwhile
	// changes nothing for a running container.
	self, err := unix.Open("/proc/self/exe", unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("open sdocker executable: %w", err)
	}
	defer unix.Close(self)
	var fds []int
	fdArg := func(f *os.File) string {
		fd := int(f.Fd())
		fds = append(fds, fd)
		return strconv.Itoa(fd)
	}
	args := []string{watcherName}
	if w.rotate != "" {
		args = append(args, w.rotate)
	}
	if p.Console != nil && host.OpenStdin {
		// A descriptor of its own: sdocker-monitor closes the output's.
		fd, err := unix.FcntlInt(p.Console.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("duplicate pty master: %w", err)
		}
		in = os.NewFile(uintptr(fd), "pty-master")
		defer in.Close()
	}
	inArg, once := "-1", "-"
	if in != nil {
		inArg = fdArg(in)
	}
	if host.StdinOnce {
		once = "once"
	}
	args = append(args, attachArg+fdArg(w.listener)+","+inArg+","+once)
	if w.health != "" {
		args = append(args, w.health)
	}
	args = append(args, strconv.Itoa(p.Pid), fdArg(log))
	if p.Console != nil {
		args = append(args, fdArg(p.Console), "pty")
	} else {
		args = append(args, fdArg(out), fdArg(errOut))
	}
	args = append(append(args, fmt.Sprintf("/proc/self/fd/%d", self)), w.next...)
	fds = append(fds, lockFD)
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("pass descriptor %d to %s: %w", fd, w.exe, err)
		}
	}
	// Its heap is a few buffers: collect early; one P.
	env := specgen.SetEnv(specgen.SetEnv(os.Environ(), "GOGC=20"), "GOMAXPROCS=1")
	err = unix.Exec(w.exe, args, env)
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return fmt.Errorf("execute %s: %w", w.exe, err)
}

// release ends a container's run: its rootfs is unmounted (kept for a later
// start) or, with --rm, everything goes.
func (e *Engine) release(r *Record) error {
	if r.AutoRemove {
		return e.removeStopped(r)
	}
	var err error
	if r.mountsRootfs() {
		err = image.ReleaseRootfs(e.containerDir(r.ID))
	}
	return err
}

// runOnce starts the container, logs its output until it exits, and
// records the exit; started is called once the container runs. With
// w.exe, sdocker-monitor takes over instead: runOnce then does not return.
func (e *Engine) runOnce(r *Record, log *logWriter, w *watch, started func()) (int, error) {
	if w.listener == nil {
		l, err := attachio.Listen(e.containerDir(r.ID))
		if err != nil {
			return 0, err
		}
		w.listener = l
	}
	defer w.listener.Close()
	var inR, inW *os.File
	if r.Host.OpenStdin && !r.Host.Tty {
		var err error
		if inR, inW, err = os.Pipe(); err != nil {
			return 0, err
		}
		defer inW.Close()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		outR.Close()
		outW.Close()
		return 0, err
	}
	p, cg, err := e.startContainer(r, launch.Options{
		Stdio:          launch.Stdio{Stdin: inR, Stdout: outW, Stderr: errW},
		KillWithParent: w.exe == "",
	})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	if w.exe != "" {
		// The report (close-on-exec) is closed by the execve: the command
		// that started the monitor returns once sdocker-monitor watches.
		err := w.handOver(p, r.Host, outR, errR, inW, log.f)
		fmt.Fprintf(os.Stderr, "sdocker-monitor: %v; watching in process\n", err)
	}
	// In process there is no attach socket: attach follows the log (a
	// socket nobody serves refuses it), and the container's stdin ends.
	w.listener.Close()
	inW.Close()
	started()
	stopChecks := e.checkInProcess(r)
	var wg sync.WaitGroup
	if p.Console != nil {
		outR.Close()
		errR.Close()
		wg.Add(1)
		go func() { defer wg.Done(); log.copy("stdout", p.Console) }()
	} else {
		wg.Add(2)
		go func() { defer wg.Done(); log.copy("stdout", outR) }()
		go func() { defer wg.Done(); log.copy("stderr", errR) }()
	}
	state, _ := p.Wait()
	stopChecks()
	if p.Console != nil {
		// The pty reports EIO once every holder of the slave is gone.
		go func() { time.Sleep(2 * time.Second); p.Console.Close() }()
	}
	wg.Wait()
	code := launch.ExitCode(state, 125)
	e.keepExit(r, log, e.finishContainer(r, cg, code))
	return code, nil
}

// keepExitTries is how often, with back-off from 50ms, the monitor tries
// again to record an exit (about 6s in all) before it leaves it to the
// exit file and the next command.
const keepExitTries = 7

// keepExit makes sure the exit that r has is recorded, and the output lost
// marked in the log: err is how recording it failed (nil if it did not).
// While the disk is full it tries again with back-off, holding the lock,
// so that no other command guesses an exit meanwhile; then it gives up,
// and the exit stays in the exit file.
func (e *Engine) keepExit(r *Record, log *logWriter, err error) {
	if r.AutoRemove {
		return // record and log go with the container
	}
	lerr := log.flush()
	for i, d := 0, 50*time.Millisecond; (err != nil || lerr != nil) && i < keepExitTries; i, d = i+1, d*2 {
		time.Sleep(d)
		if err != nil {
			err = e.recordExit(r)
		}
		lerr = log.flush()
	}
	if lost, why := log.w.Lost(); lost > 0 && err != nil {
		// The next command that records the exit marks the loss.
		x := exitOf(r)
		x.Lost, x.Why = lost, why
		err = errors.Join(err, e.writeExit(r.ID, x))
	}
	if err = errors.Join(err, lerr); err != nil {
		fmt.Fprintf(os.Stderr, "sdocker-monitor: container %s: %v\n", r.ID, err)
	}
}

// stopped reports whether container id was stopped or killed on purpose.
func (e *Engine) stopped(id string) bool {
	_, err := os.Stat(e.stopMarker(id))
	return err == nil
}

func (e *Engine) shouldRestart(r *Record, code int) bool {
	if e.stopped(r.ID) {
		return false
	}
	switch r.Restart.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (r.Restart.MaxRetries == 0 || r.RestartCount < r.Restart.MaxRetries)
	}
	return false
}

// sleepUnlessStopped waits d, or less if the container is stopped meanwhile.
func (e *Engine) sleepUnlessStopped(id string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); {
		if e.stopped(id) {
			return false
		}
		time.Sleep(min(50*time.Millisecond, time.Until(end)))
	}
	return !e.stopped(id)
}

// logWriter writes a container's output as Docker's json-file log does:
// one JSON object per line with the text, the stream and a timestamp; each
// whole or not at all, the output lost marked (see jsonlog.Writer).
type logWriter struct {
	mu sync.Mutex
	f  *os.File
	w  *jsonlog.Writer
}

func newLogWriter(f *os.File) *logWriter {
	return &logWriter{f: f, w: jsonlog.NewWriter(int(f.Fd()))}
}

// flush writes the marker of lost output, if any.
func (w *logWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.w.Flush(time.Now()); err != nil {
		return fmt.Errorf("write log %s: %w", w.f.Name(), err)
	}
	return nil
}

// LogEntry is one line of a container's log.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (w *logWriter) copy(stream string, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 16*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.mu.Lock()
			// A line that cannot be written is counted as lost, and the
			// next one that fits says so in the log.
			_ = w.w.Write(line, stream, time.Now())
			w.mu.Unlock()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
