package launch

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// ProxiedSignals are the signals a foreground command passes on to its
// container's process, as Docker's sig-proxy and runc do: every one that
// can be caught but SIGCHLD (the command's own children), SIGPIPE (its own
// broken outputs), SIGURG and SIGPROF (the Go runtime's preemption and
// profiler keep them) and 32 and 33 (the C library's). A command that owns the container's terminal takes SIGWINCH
// to resize it instead.
var ProxiedSignals = func() []os.Signal {
	var sigs []os.Signal
	for n := syscall.Signal(1); n <= 64; n++ {
		switch n {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG, unix.SIGPROF, 32, 33:
			continue
		}
		sigs = append(sigs, n)
	}
	return sigs
}()

// proxying counts the NotifyProxied in effect: SIGQUIT is theirs meanwhile.
var proxying atomic.Int32

// commonSignals are caught before NotifyProxied returns; the others a
// moment later: the Go runtime enables each caught signal with a round trip
// to a thread of its own (some 10 µs), which is kept off the way to the
// container's start.
var commonSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT}

// NotifyProxied relays ProxiedSignals to c. Signals that arrive before the
// caller reads c wait in it (give it room). After stop, which may be called
// more than once, SIGQUIT ends the command again (see QuietQuit); the
// signals stay caught (releasing them costs the same round trips, on the
// way out): the caller forwards them to a process that is gone, or c drops
// them once full.
func NotifyProxied(c chan<- os.Signal) (stop func()) {
	proxying.Add(1)
	signal.Notify(c, commonSignals...)
	go signal.Notify(c, ProxiedSignals...)
	var once sync.Once
	return func() { once.Do(func() { proxying.Add(-1) }) }
}

// QuietQuit makes SIGQUIT end this command with status 131, as the signal
// would end a program that does not catch it, instead of the Go runtime's
// dump of its goroutines; while NotifyProxied is in effect SIGQUIT goes to
// the container instead.
func QuietQuit() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGQUIT)
	go func() {
		for range c {
			if proxying.Load() == 0 {
				os.Exit(128 + int(unix.SIGQUIT))
			}
		}
	}()
}

// ParseSignal reads a signal as a number (1-64), a name (KILL) or a
// SIG-prefixed name (SIGKILL).
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}
