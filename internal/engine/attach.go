package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/attachio"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
)

// AttachOptions say how `attach` follows a running container.
type AttachOptions struct {
	Stdout, Stderr io.Writer
	// Keys is attach's stdin (none: nil): read for the detach sequence
	// DetachKeys, and what else it gives goes to the container's stdin
	// when the container keeps one open (-i).
	Keys       *os.File
	DetachKeys []byte
	// SigProxy passes the signals this command gets on to the container;
	// without it SIGINT, SIGTERM and SIGHUP end attach (128+N).
	SigProxy bool
}

// Attach follows what a running container writes from now on, through the
// attach socket its monitor serves (see attachio), and passes it what it
// reads from o.Keys if the container keeps its stdin open (with a terminal:
// raw, and its size), until it ends (then it returns the container's exit
// code) or the detach keys are typed (then 0, the container still
// running). A container whose monitor serves no socket (watched in
// process) is followed through its log, as logs -f --tail 0 does, and gets
// no input. The output and key readers are left to the process's exit.
func (e *Engine) Attach(ref string, o AttachOptions) (int, error) {
	r, err := e.Find(ref)
	if err != nil {
		return 125, err
	}
	r = e.refresh(r)
	if r.Status != StateRunning && r.Status != StatePaused && r.Status != StateRestarting {
		return 125, fmt.Errorf("%w: cannot attach to container %s: it is not running (start it first)", ErrWrongState, ids.ShortID(r.ID))
	}
	if !r.Detached {
		return 125, fmt.Errorf("%w: cannot attach to container %s: it runs in the foreground of another sdocker, which shows its output", ErrWrongState, ids.ShortID(r.ID))
	}
	c, err := attachio.Dial(e.containerDir(r.ID))
	if err != nil {
		c = nil // the log, then
	}
	return e.follow(r, c, o)
}

// follow is attach to running container r through c (nil: its log).
func (e *Engine) follow(r *Record, c *attachio.Client, o AttachOptions) (int, error) {
	ended := make(chan outputEnd, 1)
	if c != nil {
		defer c.Close()
		go func() { ended <- copyOutput(c, o.Stdout, o.Stderr) }()
	} else {
		go func() {
			ended <- outputEnd{code: -1, err: e.Logs(r.ID, LogsOptions{Follow: true, Tail: 0, Stdout: o.Stdout, Stderr: o.Stderr})}
		}()
	}
	var in *attachio.Client // where input goes
	if c != nil && r.Host.OpenStdin {
		in = c
	}
	tty := in != nil && r.Host.Tty && o.Keys != nil && IsTerminal(o.Keys)
	detached := make(chan struct{})
	if o.Keys != nil {
		switch {
		case tty:
			if restore, err := makeRaw(o.Keys); err == nil {
				defer restore()
			}
			sendSize(o.Keys, in)
		case in == nil:
			// Only the detach keys are looked for: each as it is typed.
			if restore, err := keyMode(o.Keys); err == nil {
				defer restore()
			}
		}
		go readInput(o.Keys, o.DetachKeys, in, detached)
	}
	sigs := make(chan os.Signal, 64)
	if o.SigProxy {
		defer launch.NotifyProxied(sigs)()
	} else {
		// They end attach only, with the terminal put back.
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGWINCH)
		defer signal.Stop(sigs)
	}
	for {
		select {
		case sig := <-sigs:
			s := sig.(unix.Signal)
			switch {
			case s == unix.SIGWINCH:
				if tty {
					sendSize(o.Keys, in)
				}
			case !o.SigProxy:
				return 128 + int(s), nil
			default:
				// One that ends as the signal comes takes none.
				_ = e.Kill(r.ID, s)
			}
		case <-detached:
			return 0, nil
		case end := <-ended:
			return e.endOf(r, end)
		}
	}
}

// outputEnd is how the output of an attached container ended: its exit
// code (-1: not told), or an error.
type outputEnd struct {
	code    int
	err     error
	dropped bool // the stream ended without the code
}

// endOf is what attach to r returns once its output has ended.
func (e *Engine) endOf(r *Record, end outputEnd) (int, error) {
	if end.err != nil {
		return 125, end.err
	}
	if end.code >= 0 {
		// As wait does, once its monitor has recorded the exit.
		e.waitExit(r.ID, stateWait)
		return end.code, nil
	}
	if end.dropped && live(r) {
		return 125, fmt.Errorf("attach to container %s: its monitor let attach go: attach did not read its output for %s (logs has all of it)", ids.ShortID(r.ID), attachio.MaxStall)
	}
	code, err := e.Wait(r.ID)
	if err != nil {
		return 125, err
	}
	return code, nil
}

// copyOutput writes what c gives to stdout and stderr until the container
// has ended, and says how.
func copyOutput(c *attachio.Client, stdout, stderr io.Writer) outputEnd {
	for {
		tag, b, err := c.Recv()
		if err != nil {
			return outputEnd{err: err}
		}
		switch tag {
		case 0:
			// The end without an exit code: the monitor gave up on a
			// client that did not keep up (or could not tell the code).
			return outputEnd{code: -1, dropped: true}
		case attachio.Exit:
			code, err := strconv.Atoi(string(b))
			if err != nil {
				code = -1
			}
			return outputEnd{code: code}
		case attachio.Stdout:
			_, err = stdout.Write(b)
		case attachio.Stderr:
			_, err = stderr.Write(b)
		}
		if err != nil {
			return outputEnd{err: fmt.Errorf("write output: %w", err)}
		}
	}
}

// sendSize sends the size of the terminal f to the container's pty.
func sendSize(f *os.File, c *attachio.Client) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		_ = c.SendResize(ws.Row, ws.Col)
	}
}

// readInput reads f until the detach keys are typed (then it closes
// detached) or it ends. What else it reads goes to in (nil: nowhere); its
// end, too (the container's stdin then closes if it was created with
// create -i, see HostOptions.StdinOnce).
func readInput(f *os.File, keys []byte, in *attachio.Client, detached chan<- struct{}) {
	m := &detachMatcher{keys: keys}
	buf := make([]byte, attachio.MaxInput)
	for {
		n, err := f.Read(buf)
		out, done := m.filter(buf[:n])
		if err != nil && !done {
			out = append(out, m.held()...) // not the detach keys after all
		}
		if in != nil && len(out) > 0 && in.Send(attachio.Stdin, out) != nil {
			return
		}
		if done {
			close(detached)
			return
		}
		if err != nil {
			if in != nil && errors.Is(err, io.EOF) {
				_ = in.Send(attachio.EOF, nil)
			}
			return
		}
	}
}

// keyMode makes the terminal f pass each key as it is typed, unechoed, and
// ctrl-q and ctrl-s too (no flow control), for the detach keys; ctrl-c
// still signals. restore puts it back.
func keyMode(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Iflag &^= unix.IXON
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
