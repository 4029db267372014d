package engine

import (
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/launch"
)

// AttachOptions say how `attach` follows a running container.
type AttachOptions struct {
	Stdout, Stderr io.Writer
	// Keys is read for the detach sequence DetachKeys (none: nil). A
	// detached container has no stdin to pass it to: its monitor gives it
	// none (run -d -i is refused).
	Keys       *os.File
	DetachKeys []byte
	// SigProxy passes the signals this command gets on to the container;
	// without it SIGINT, SIGTERM and SIGHUP end attach (128+N).
	SigProxy bool
}

// Attach follows what a running container writes from now on, as logs -f
// --tail 0 does, until it ends (then it returns the container's exit code)
// or the detach keys are typed (then 0, the container still running). The
// log reader and the key reader are left to the process's exit.
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
	ended := make(chan error, 1)
	go func() {
		ended <- e.Logs(r.ID, LogsOptions{Follow: true, Tail: 0, Stdout: o.Stdout, Stderr: o.Stderr})
	}()
	detached := make(chan struct{})
	if o.Keys != nil && len(o.DetachKeys) > 0 {
		if restore, err := keyMode(o.Keys); err == nil {
			defer restore()
		}
		go readDetachKeys(o.Keys, o.DetachKeys, detached)
	}
	sigs := make(chan os.Signal, 64)
	if o.SigProxy {
		defer launch.NotifyProxied(sigs)()
	} else {
		// They end attach only, with the terminal put back.
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
		defer signal.Stop(sigs)
	}
	for {
		select {
		case sig := <-sigs:
			s := sig.(unix.Signal)
			if !o.SigProxy {
				return 128 + int(s), nil
			}
			if s != unix.SIGWINCH {
				// One that ends as the signal comes takes none.
				_ = e.Kill(r.ID, s)
			}
		case <-detached:
			return 0, nil
		case err := <-ended:
			if err != nil {
				return 125, err
			}
			code, err := e.Wait(r.ID)
			if err != nil {
				return 125, err
			}
			return code, nil
		}
	}
}

// readDetachKeys closes detached when keys are read from f in sequence.
func readDetachKeys(f *os.File, keys []byte, detached chan<- struct{}) {
	m := &detachMatcher{keys: keys}
	buf := make([]byte, 256)
	for {
		n, err := f.Read(buf)
		if m.feed(buf[:n]) {
			close(detached)
			return
		}
		if err != nil {
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
