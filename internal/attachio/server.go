// Package attachio is the attach socket of a detached container: its
// monitor listens on a unix socket in the container's directory, sends
// every client connected to it what the container writes from then on,
// and passes what clients send to the container's stdin (a pipe, or its
// pty with the terminal's size). It imports nothing but the system call
// and time packages: sdocker-monitor serves it from its own poll loop.
//
// The socket is SOCK_SEQPACKET; each packet is a tag byte and its data:
//
//	client to monitor: Stdin data, EOF (its stdin has ended), Resize rows cols
//	monitor to client: Stdout data, Stderr data (a pty's output is Stdout),
//	                   Exit code (decimal, as a shell reports it)
//
// Once the container has exited and its output is drained, the monitor
// sends every client its exit code and closes them: a client then reads the
// end of the stream. (The exit code comes this way because a container
// removed on exit, --rm, leaves no record to read it from.)
//
// A client that reads slower than the container writes holds the container
// up, as Docker's attach does, for a while: once its socket's send buffer
// (the kernel's memory, not the monitor's) is a quarter full, the monitor
// reads no more output (Behind) until the client has caught up, at most
// MaxStall; a client that has not by then is let go, and the container and
// its log go on without it.
package attachio

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Packet tags.
const (
	Stdin  = 'i' // data for the container's stdin
	EOF    = 'e' // the client's stdin has ended
	Resize = 'w' // the client's terminal size: rows, columns (2 bytes each, big-endian)
	Stdout = '1' // what the container wrote on its stdout, or its terminal
	Stderr = '2' // what it wrote on its stderr
	Exit   = 'x' // how it ended: its exit code
)

// MaxInput is the largest packet a client sends: longer input goes in
// several.
const MaxInput = 4096

// maxClients bounds the clients served at once; one more is closed at once.
const maxClients = 16

// sendBuffer is the send buffer asked for each client: what it has not
// read yet (see Output).
const sendBuffer = 1 << 20

// MaxStall is how long the output is held up at a time for a client that
// has fallen behind before it is let go.
const MaxStall = 3 * time.Second

// client is a connection to the socket.
type client struct {
	fd int
	// behind is when its send buffer was found a quarter full, zero when
	// it has room.
	behind time.Time
}

// Server is the monitor's side of the attach socket. It is not safe for
// concurrent use.
type Server struct {
	lfd     int  // the listening socket
	in      int  // the container's stdin, -1 when it has none or it was closed
	pipe    bool // in is a pipe (else a pty master)
	once    bool // a client's EOF closes in (a pipe only)
	clients []client
	behind  int    // how many clients are behind
	pending []byte // read from a client, not yet written to in
	closeIn bool   // close in once pending is written
	rbuf    []byte
	pkt     []byte
	polled  []unix.PollFd // for room
}

// NewServer serves the listening socket lfd. in is the container's stdin
// (-1: none): the write end of its stdin pipe, or with tty its pty master.
// With once, the EOF of a client closes a pipe (Docker's StdinOnce).
func NewServer(lfd, in int, tty, once bool) *Server {
	return &Server{lfd: lfd, in: in, pipe: !tty, once: once && !tty}
}

// PollFds appends the descriptors the server waits on to fds: with a
// client behind, for its room too.
func (s *Server) PollFds(fds []unix.PollFd) []unix.PollFd {
	fds = append(fds, unix.PollFd{Fd: int32(s.lfd), Events: unix.POLLIN})
	if len(s.pending) > 0 {
		// Nothing more is read from clients until the container has
		// taken what was.
		fds = append(fds, unix.PollFd{Fd: int32(s.in), Events: unix.POLLOUT})
	}
	for _, c := range s.clients {
		var ev int16
		if len(s.pending) == 0 {
			ev = unix.POLLIN
		}
		if !c.behind.IsZero() {
			ev |= unix.POLLOUT
		}
		if ev != 0 {
			fds = append(fds, unix.PollFd{Fd: int32(c.fd), Events: ev})
		}
	}
	return fds
}

// Handle acts on fds, the entries PollFds appended, as poll returned them,
// and lets go the clients that have been behind for MaxStall.
func (s *Server) Handle(fds []unix.PollFd) {
	for _, p := range fds {
		switch {
		case p.Revents == 0:
		case int(p.Fd) == s.lfd:
			s.accept()
		case int(p.Fd) == s.in && len(s.pending) > 0:
			s.flush()
		default:
			if p.Revents&unix.POLLOUT != 0 {
				s.caughtUp(int(p.Fd))
			}
			if p.Revents&^unix.POLLOUT != 0 {
				s.read(int(p.Fd))
			}
		}
	}
	if s.behind > 0 {
		now := time.Now()
		for i := 0; i < len(s.clients); {
			if c := s.clients[i]; !c.behind.IsZero() && now.Sub(c.behind) >= MaxStall {
				s.drop(c.fd)
				continue
			}
			i++
		}
	}
}

// Behind reports whether a client has fallen behind: no more output is to
// be read until Handle has seen it catch up, or let it go.
func (s *Server) Behind() bool { return s.behind > 0 }

// Timeout is the poll timeout ms (-1: none) shortened to when the first
// client behind is let go.
func (s *Server) Timeout(ms int) int {
	if s.behind == 0 {
		return ms
	}
	for _, c := range s.clients {
		if c.behind.IsZero() {
			continue
		}
		left := max(int(time.Until(c.behind.Add(MaxStall))/time.Millisecond)+1, 0)
		if ms < 0 || left < ms {
			ms = left
		}
	}
	return ms
}

// caughtUp marks client fd as having room again.
func (s *Server) caughtUp(fd int) {
	for i := range s.clients {
		if c := &s.clients[i]; c.fd == fd && !c.behind.IsZero() {
			c.behind = time.Time{}
			s.behind--
		}
	}
}

// checkRoom marks behind the clients whose send buffer is a quarter full
// (the kernel says a socket is writable below that).
func (s *Server) checkRoom() {
	s.polled = s.polled[:0]
	for _, c := range s.clients {
		s.polled = append(s.polled, unix.PollFd{Fd: int32(c.fd), Events: unix.POLLOUT})
	}
	for {
		if _, err := unix.Poll(s.polled, 0); err != unix.EINTR {
			break
		}
	}
	now := time.Now()
	for i, p := range s.polled {
		if c := &s.clients[i]; p.Revents&unix.POLLOUT == 0 && c.behind.IsZero() {
			c.behind = now
			s.behind++
		}
	}
}

func (s *Server) accept() {
	for {
		fd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return
		}
		if len(s.clients) == maxClients {
			unix.Close(fd)
			continue
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBuffer) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sendBuffer)
		}
		if s.rbuf == nil {
			s.rbuf = make([]byte, MaxInput)
		}
		s.clients = append(s.clients, client{fd: fd})
	}
}

// read takes one packet of client c.
func (s *Server) read(c int) {
	n, err := unix.Read(c, s.rbuf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if err != nil || n == 0 {
		s.drop(c)
		return
	}
	b := s.rbuf[1:n]
	switch s.rbuf[0] {
	case Stdin:
		if s.in >= 0 {
			s.pending = append(s.pending, b...)
		}
	case EOF:
		s.closeIn = s.closeIn || s.once
	case Resize:
		if !s.pipe && s.in >= 0 && len(b) == 4 {
			ws := unix.Winsize{Row: uint16(b[0])<<8 | uint16(b[1]), Col: uint16(b[2])<<8 | uint16(b[3])}
			_ = unix.IoctlSetWinsize(s.in, unix.TIOCSWINSZ, &ws)
		}
	}
	s.flush()
}

// flush writes what clients sent to the container's stdin, as much as it
// takes now.
func (s *Server) flush() {
	for len(s.pending) > 0 && s.in >= 0 {
		n, err := unix.Write(s.in, s.pending)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			// Nobody reads it any more (EPIPE): the input goes nowhere.
			s.closeStdin()
			break
		}
		s.pending = s.pending[n:]
	}
	s.pending = s.pending[:0]
	if s.closeIn {
		s.closeStdin()
	}
}

func (s *Server) closeStdin() {
	if s.in >= 0 {
		unix.Close(s.in)
		s.in = -1
	}
	s.closeIn = false
}

// Output sends b, written by the container on the stream tag (Stdout or
// Stderr), to every client, and finds which ones are now behind (see
// Behind): no more is to be read until they are not. A client whose
// socket is full all the same (b is longer than its room) is closed.
func (s *Server) Output(tag byte, b []byte) {
	if len(s.clients) == 0 {
		return
	}
	if s.pkt == nil {
		s.pkt = make([]byte, 1+16*1024)
	}
	for len(b) > 0 {
		s.pkt[0] = tag
		n := copy(s.pkt[1:], b)
		b = b[n:]
		for i := 0; i < len(s.clients); {
			c := s.clients[i].fd
			_, err := unix.SendmsgN(c, s.pkt[:1+n], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				s.drop(c)
				continue
			}
			i++
		}
	}
	s.checkRoom()
}

func (s *Server) drop(fd int) {
	unix.Close(fd)
	for i, c := range s.clients {
		if c.fd == fd {
			if !c.behind.IsZero() {
				s.behind--
			}
			s.clients = append(s.clients[:i], s.clients[i+1:]...)
			return
		}
	}
}

// Close sends every client the exit code of the container (-1: unknown,
// none is sent) and closes them (they read the end of the stream), the
// listening socket and the container's stdin.
func (s *Server) Close(code int) {
	if code >= 0 {
		s.Output(Exit, []byte(strconv.Itoa(code)))
	}
	for _, c := range s.clients {
		unix.Close(c.fd)
	}
	s.clients, s.behind = nil, 0
	unix.Close(s.lfd)
	s.closeStdin()
}
