// Command sdocker-monitor watches a running detached container with as
// little memory as a Go program can: it copies the container's output to
// its log (and to the clients of its attach socket, whose input goes to the
// container's stdin) and waits for its init to end.
//
// sdocker's own monitor (the sdocker binary as "sdocker-monitor ROOT ID")
// starts the container and then replaces itself with this binary (execve:
// same pid, so it stays the init's parent and reaper, and the container's
// lock, an inherited descriptor, stays held):
//
//	sdocker-monitor [--log-rotate=SIZE,FILES,PATH] [--attach=LFD,INFD,once|-] [--health=MS,ID,ROOT] PID LOGFD OUTFD ERRFD|pty EXE ARG...
//
// With --log-rotate the log, at PATH, is rotated before it grows past SIZE
// bytes, FILES files in all (see jsonlog.Writer.Rotate). With --attach it
// serves the attach socket listening on LFD (see attachio): clients get the
// output, and what they send goes to INFD, the container's stdin (-1:
// none), the write end of its pipe or a descriptor of its pty master; with
// once a client's EOF closes the pipe. With --health it runs the
// container's healthcheck every MS milliseconds (see checker).
// PID is the container's init, LOGFD the log (append-only), OUTFD and ERRFD
// the read ends of the init's stdout and stderr pipes, or OUTFD the pty
// master and "pty". Once the init has exited and its output is drained, it
// executes EXE (the sdocker binary) with ARG... and the init's wait status
// appended, and then, if output was lost (the disk was full) and could not
// be marked in the log yet, "LOST:ERRNO": recording the exit, the marker,
// the restart policy and the cleanup are done there. Entries go to the log
// whole or not at all (see jsonlog.Writer). It imports nothing heavy (no encoding/json, no engine, not even
// fmt), and never the huge-page heap of the short-lived commands; sdocker
// starts it with a small GOGC (its heap is two line buffers and an entry).
package main

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/attachio"
	"github.com/sdocker/sdocker/internal/jsonlog"
)

// chunk is the longest log entry: a longer line is cut (as the engine's
// 16 KiB line reader does).
const chunk = 16 * 1024

// ptyGrace is how long output is read from a pty after the init exited: the
// master reports EIO only once every holder of the slave is gone.
const ptyGrace = 2 * time.Second

type stream struct {
	fd   int
	name string
	tag  byte   // its attachio tag
	buf  []byte // the line read so far
}

type monitor struct {
	pid   int
	log   *jsonlog.Writer
	tty   bool
	strms []*stream
	att   *attachio.Server // nil: no attach socket
	check *checker         // nil: no healthcheck
}

func main() {
	if err := run(os.Args); err != nil {
		_, _ = os.Stderr.WriteString("sdocker-monitor: " + err.Error() + "\n")
		os.Exit(1)
	}
}

// rotateOpt is the prefix of the option that rotates the log.
const rotateOpt = "--log-rotate="

// parseRotate reads the value of --log-rotate: SIZE,FILES,PATH.
func parseRotate(v string) (size int64, files int, path string, err error) {
	var f [2]string
	for i := range f {
		var ok bool
		if f[i], v, ok = cutComma(v); !ok {
			return 0, 0, "", errors.New("invalid argument " + strconv.Quote(rotateOpt+f[i]))
		}
	}
	size, err1 := strconv.ParseInt(f[0], 10, 64)
	files, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || size <= 0 || files <= 0 || v == "" {
		return 0, 0, "", errors.New("invalid argument " + strconv.Quote(rotateOpt+f[0]+","+f[1]+","+v))
	}
	return size, files, v, nil
}

// attachOpt is the prefix of the option that serves the attach socket.
const attachOpt = "--attach="

// parseAttach reads the value of --attach: LFD,INFD,once|-.
func parseAttach(v string) (lfd, in int, once bool, err error) {
	bad := errors.New("invalid argument " + strconv.Quote(attachOpt+v))
	var f [3]string
	var ok bool
	if f[0], v, ok = cutComma(v); ok {
		f[1], f[2], ok = cutComma(v)
	}
	if !ok {
		return 0, 0, false, bad
	}
	lfd, err1 := strconv.Atoi(f[0])
	in, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lfd < 0 || in < -1 || f[2] != "once" && f[2] != "-" {
		return 0, 0, false, bad
	}
	return lfd, in, f[2] == "once", nil
}

// cutComma splits v around its first comma.
func cutComma(v string) (before, after string, found bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			return v[:i], v[i+1:], true
		}
	}
	return v, "", false
}

// hasOpt reports whether args[1] is the option with prefix opt.
func hasOpt(args []string, opt string) bool {
	return len(args) > 1 && len(args[1]) > len(opt) && args[1][:len(opt)] == opt
}

func run(args []string) error {
	var rotate func(*jsonlog.Writer)
	if hasOpt(args, rotateOpt) {
		size, files, path, err := parseRotate(args[1][len(rotateOpt):])
		if err != nil {
			return err
		}
		rotate = func(w *jsonlog.Writer) { w.Rotate(path, size, files) }
		args = append(args[:1:1], args[2:]...)
	}
	lfd, in, once := -1, -1, false
	if hasOpt(args, attachOpt) {
		var err error
		if lfd, in, once, err = parseAttach(args[1][len(attachOpt):]); err != nil {
			return err
		}
		args = append(args[:1:1], args[2:]...)
	}
	var check *checker
	if hasOpt(args, healthOpt) {
		var err error
		if check, err = parseHealth(args[1][len(healthOpt):]); err != nil {
			return err
		}
		args = append(args[:1:1], args[2:]...)
	}
	if len(args) < 7 {
		return errors.New("usage: sdocker-monitor PID LOGFD OUTFD ERRFD|pty EXE ARG...") //nolint:staticcheck // ST1005: a usage line ends in ARG...
	}
	var n [3]int
	for i, s := range args[1:4] {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return errors.New("invalid argument " + strconv.Quote(s))
		}
		n[i] = v
	}
	m := &monitor{pid: n[0], log: jsonlog.NewWriter(n[1]), check: check}
	if check != nil {
		check.exe = args[5]
		check.hold()
	}
	if rotate != nil {
		rotate(m.log)
	}
	if err := m.add(n[2], "stdout"); err != nil {
		return err
	}
	if args[4] == "pty" {
		m.tty = true
	} else {
		fd, err := strconv.Atoi(args[4])
		if err != nil || fd < 0 {
			return errors.New("invalid argument " + strconv.Quote(args[4]))
		}
		if err := m.add(fd, "stderr"); err != nil {
			return err
		}
	}
	if lfd >= 0 {
		// Neither may hold up the watch.
		for _, fd := range []int{lfd, in} {
			if err := unix.SetNonblock(fd, true); fd >= 0 && err != nil {
				return &os.SyscallError{Syscall: "set attach descriptor " + strconv.Itoa(fd) + " non-blocking", Err: err}
			}
		}
		m.att = attachio.NewServer(lfd, in, m.tty, once)
	}
	status := m.watch()
	if m.att != nil {
		m.att.Close(exitCode(status)) // its clients read the end of the stream
	}
	// What this cannot mark goes on with the count of what was lost.
	_ = m.log.Flush(time.Now())
	unix.Close(n[1])
	if check != nil {
		check.release()
	}
	exe := args[5]
	argv := append(args[6:len(args):len(args)], strconv.Itoa(status))
	if lost, why := m.log.Lost(); lost > 0 {
		argv = append(argv, strconv.FormatInt(lost, 10)+":"+strconv.Itoa(int(why)))
	}
	err := unix.Exec(exe, argv, os.Environ())
	return &os.PathError{Op: "execute", Path: exe, Err: err}
}

// exitCode is the exit code of wait status ws as a shell reports it (-1:
// unknown).
func exitCode(ws int) int {
	w := unix.WaitStatus(ws)
	switch {
	case ws < 0:
		return -1
	case w.Exited():
		return w.ExitStatus()
	case w.Signaled():
		return 128 + int(w.Signal())
	}
	return -1
}

func (m *monitor) add(fd int, name string) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return &os.SyscallError{Syscall: "set " + name + " descriptor " + strconv.Itoa(fd) + " non-blocking", Err: err}
	}
	tag := byte(attachio.Stdout)
	if name == "stderr" {
		tag = attachio.Stderr
	}
	m.strms = append(m.strms, &stream{fd: fd, name: name, tag: tag, buf: make([]byte, 0, chunk)})
	return nil
}

// watch copies output until the init has exited and its output is drained,
// and returns the init's wait status (-1 if it cannot be told).
func (m *monitor) watch() int {
	status := -1
	pidfd, err := unix.PidfdOpen(m.pid, 0)
	if err != nil {
		// Not our child (or no pidfd): nothing to wait for.
		pidfd = -1
	}
	exited := pidfd < 0
	var deadline time.Time // when a pty is given up after the init exited
	fds := make([]unix.PollFd, 0, 8)
	for {
		if exited && len(m.strms) == 0 {
			return status
		}
		fds = fds[:0]
		// While an attach client is behind, no output is read (the
		// container waits for it, a while: see attachio).
		stalled := m.att != nil && m.att.Behind()
		for _, s := range m.strms {
			fd := int32(s.fd)
			if stalled {
				fd = -1 // poll skips it
			}
			fds = append(fds, unix.PollFd{Fd: fd, Events: unix.POLLIN})
		}
		initAt, checkAt := -1, -1
		if !exited {
			initAt = len(fds)
			fds = append(fds, unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN})
		}
		if m.check != nil && m.check.pid > 0 {
			checkAt = len(fds)
			fds = append(fds, unix.PollFd{Fd: int32(m.check.pidfd), Events: unix.POLLIN})
		}
		nw := len(fds) // what the server waits on comes after
		if m.att != nil {
			fds = m.att.PollFds(fds)
		}
		timeout := -1
		if !deadline.IsZero() && stalled {
			// The grace is for reading: it begins again once the
			// client has caught up (or been let go).
			deadline = time.Now().Add(ptyGrace)
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				for _, s := range m.strms {
					m.end(s)
				}
				m.strms = nil
				continue
			}
			timeout = int(left/time.Millisecond) + 1
		}
		if m.check != nil && !exited && m.check.pid == 0 {
			timeout = m.check.timeout(timeout)
		}
		if stalled {
			timeout = m.att.Timeout(timeout)
		}
		if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
			return status
		}
		if m.att != nil {
			// Clients that connect now see the output read now.
			m.att.Handle(fds[nw:])
		}
		open := m.strms[:0]
		for i, s := range m.strms {
			if fds[i].Revents == 0 || m.drain(s) {
				open = append(open, s)
			}
		}
		m.strms = open
		if checkAt >= 0 && fds[checkAt].Revents != 0 {
			m.check.reap()
		}
		initEnded := func() {
			exited = true
			unix.Close(pidfd)
			if m.tty {
				deadline = time.Now().Add(ptyGrace)
			}
		}
		if initAt >= 0 && fds[initAt].Revents != 0 {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(m.pid, &ws, unix.WNOHANG, nil)
			if pid == m.pid && err == nil {
				status = int(ws)
			}
			// (An error other than EINTR: nothing to wait for, ever.)
			if pid == m.pid || err != nil && err != unix.EINTR {
				initEnded()
			}
		}
		if m.check != nil && !exited && m.check.due() {
			if ws, isInit := m.check.sweep(m.pid); isInit {
				status = ws
				initEnded()
			} else {
				m.check.start()
			}
		}
	}
}

// drain reads what s has to give and logs its lines; it reports whether s
// is still open.
func (m *monitor) drain(s *stream) bool {
	for {
		n, err := unix.Read(s.fd, s.buf[len(s.buf):cap(s.buf)])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if n <= 0 { // end of file; EIO from a pty without slave
			m.end(s)
			return false
		}
		if m.att != nil {
			m.att.Output(s.tag, s.buf[len(s.buf):len(s.buf)+n])
		}
		s.buf = s.buf[:len(s.buf)+n]
		m.lines(s)
		if m.att != nil && m.att.Behind() {
			return true // read on once the client has caught up
		}
	}
}

// lines logs every whole line of s's buffer, or the whole buffer when it is
// full, and keeps the rest.
func (m *monitor) lines(s *stream) {
	b := s.buf
	for {
		i := indexNL(b)
		if i < 0 {
			break
		}
		m.entry(s, b[:i+1])
		b = b[i+1:]
	}
	if len(b) == chunk {
		m.entry(s, b)
		b = b[:0]
	}
	s.buf = s.buf[:copy(s.buf, b)]
}

// end logs what is left of s and closes it.
func (m *monitor) end(s *stream) {
	if len(s.buf) > 0 {
		m.entry(s, s.buf)
		s.buf = s.buf[:0]
	}
	unix.Close(s.fd)
}

// entry writes one log entry in one write, so that a reader never sees two
// entries mixed; one that cannot be written is counted as lost.
func (m *monitor) entry(s *stream, text []byte) {
	_ = m.log.Write(text, s.name, time.Now())
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}
