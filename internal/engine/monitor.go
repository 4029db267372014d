package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/runtime"
)

// A detached container is watched by a monitor: this binary started again
// as "sdocker-monitor ROOT ID", in a session of its own. It inherits the
// container's lock from the command that created it and holds it while the
// container lives: it starts the init (and so reaps it), writes its output
// to the log, records how it ended, applies the restart policy, and removes
// cgroups and mounts.

const monitorArg0 = "sdocker-monitor"

// IsMonitor reports whether this process is a container monitor; the
// caller must then call MonitorMain and nothing else.
func IsMonitor() bool { return len(os.Args) == 3 && os.Args[0] == monitorArg0 }

// startMonitor starts the monitor of r, handing it the container's lock,
// and waits until the container runs or failed to start.
func (e *Engine) startMonitor(r *Record, lock *os.File) error {
	os.Remove(e.stopMarker(r.ID))
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create monitor pipe: %w", err)
	}
	defer reportR.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{monitorArg0, e.Root, r.ID},
		Env:         []string{"PATH=" + os.Getenv("PATH"), "GOGC=50", "GOMAXPROCS=1"},
		ExtraFiles:  []*os.File{reportW, lock},
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
		var se runtime.StartError
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
	report, lock := os.NewFile(3, "report"), os.NewFile(4, "lock")
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	e, err := New(os.Args[1])
	if err == nil {
		err = e.monitor(os.Args[2], report)
	}
	if err != nil && report != nil {
		fmt.Fprintf(report, "%d %v", runtime.ExitCodeOf(err), err)
	}
	lock.Close()
	os.Exit(0)
}

// monitor runs container id until it is done; the first start's outcome
// goes to report.
func (e *Engine) monitor(id string, report *os.File) error {
	r, err := e.load(id)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(e.LogPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", e.LogPath(id), err)
	}
	defer logf.Close()
	log := &logWriter{f: logf}
	backoff := 100 * time.Millisecond
	for {
		if r, err = e.load(id); err != nil { // with what update changed
			return err
		}
		started := false
		code, err := e.runOnce(r, log, func() {
			started = true
			if report != nil {
				report.Close() // the command that started the monitor returns
				report = nil
			}
			// From here on the monitor only copies output and waits: give
			// back what starting took.
			debug.FreeOSMemory()
		})
		if report != nil && !started {
			// As in the foreground: what could not start leaves nothing.
			r.AutoRemove = true
			e.release(r)
			return err
		}
		if err != nil {
			code = runtime.ExitCodeOf(err)
			e.updateRecord(r.ID, func(n *Record) {
				n.Error, n.ExitCode = err.Error(), code
				n.Status, n.FinishedAt = StateExited, time.Now().UTC()
				r.adopt(n)
			})
		}
		if !e.shouldRestart(r, code) {
			break
		}
		e.updateRecord(r.ID, func(n *Record) {
			n.RestartCount++
			n.Status = StateRestarting
		})
		if !e.sleepUnlessStopped(r.ID, backoff) {
			e.updateRecord(r.ID, func(n *Record) { n.Status = StateExited; r.adopt(n) })
			break
		}
		if backoff *= 2; backoff > time.Minute {
			backoff = time.Minute
		}
	}
	return e.release(r)
}

// release ends a container's run: its rootfs is unmounted (kept for a later
// start) or, with --rm, everything goes.
func (e *Engine) release(r *Record) error {
	if r.AutoRemove {
		return e.removeContainer(r)
	}
	var err error
	if r.ImageID != "" {
		err = image.ReleaseRootfs(e.containerDir(r.ID))
	}
	return err
}

// runOnce starts the container, logs its output until it exits, and
// records the exit.
func (e *Engine) runOnce(r *Record, log *logWriter, started func()) (int, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	p, cg, err := e.startContainer(r, runtime.Options{
		Stdio:          runtime.Stdio{Stdout: outW, Stderr: errW},
		KillWithParent: true,
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	started()
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
	if p.Console != nil {
		// The pty reports EIO once every holder of the slave is gone.
		go func() { time.Sleep(2 * time.Second); p.Console.Close() }()
	}
	wg.Wait()
	code := exitStatus(state)
	return code, e.finishContainer(r, cg, code)
}

func (e *Engine) shouldRestart(r *Record, code int) bool {
	if _, err := os.Stat(e.stopMarker(r.ID)); err == nil {
		return false
	}
	switch r.Restart.Name {
	case "always":
		return true
	case "on-failure":
		return code != 0 && (r.Restart.MaxRetries == 0 || r.RestartCount < r.Restart.MaxRetries)
	}
	return false
}

// sleepUnlessStopped waits d, or less if the container is stopped meanwhile.
func (e *Engine) sleepUnlessStopped(id string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := os.Stat(e.stopMarker(id)); err == nil {
			return false
		}
		time.Sleep(min(50*time.Millisecond, time.Until(end)))
	}
	_, err := os.Stat(e.stopMarker(id))
	return err != nil
}

// logWriter writes a container's output as Docker's json-file log does:
// one JSON object per line with the text, the stream and a timestamp.
type logWriter struct {
	mu sync.Mutex
	f  *os.File
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
			b, _ := json.Marshal(LogEntry{Log: strings.ToValidUTF8(string(line), "\ufffd"), Stream: stream, Time: time.Now().UTC()})
			w.mu.Lock()
			w.f.Write(append(b, '\n'))
			w.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
