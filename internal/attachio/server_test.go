package attachio

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serve runs s's poll loop until stop is closed.
func serve(s *Server, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		fds := s.PollFds(nil)
		if _, err := unix.Poll(fds, 10); err != nil && err != unix.EINTR {
			return
		}
		s.Handle(fds)
	}
}

// TestServer: a client's input goes to the container's stdin pipe, its EOF
// closes it (once); output reaches every client; Close sends the exit
// code and ends the stream; a client with a long path dials.
func TestServer(t *testing.T) {
	dir := t.TempDir() + "/a-directory-whose-path-is-longer-than-a-socket-address-holds-" + "0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	in, err := unix.Dup(int(inW.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	inW.Close()
	if err := unix.SetNonblock(in, true); err != nil {
		t.Fatal(err)
	}
	lfd, err := unix.Dup(int(l.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	s := NewServer(lfd, in, false, true)
	a, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { serve(s, stop); close(done) }()
	if err := a.Send(Stdin, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(EOF, nil); err != nil {
		t.Fatal(err)
	}
	if err := inR.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := inR.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break // EOF: the client's EOF closed it
		}
	}
	if string(got) != "hello\n" {
		t.Errorf("the container's stdin: %q", got)
	}
	close(stop)
	<-done
	s.Output(Stderr, []byte("oops"))
	s.Close(7)
	for _, c := range []*Client{a, b} {
		var tags []byte
		var data string
		for {
			tag, d, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if tag == 0 {
				break
			}
			tags, data = append(tags, tag), data+string(d)
		}
		if string(tags) != "2x" || data != "oops7" {
			t.Errorf("a client got %q %q, want stderr oops and exit 7", tags, data)
		}
	}
}
