package attachio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// SocketName is the attach socket's name in the container's directory.
const SocketName = "attach.sock"

// inDir calls fn with a short path of name in dir, which a socket address
// can hold whatever the length of dir (108 bytes at most): through a
// descriptor of dir.
func inDir(dir, name string, fn func(path string) error) error {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(d)
	return fn("/proc/self/fd/" + strconv.Itoa(d) + "/" + name)
}

// Listen makes the attach socket in dir (one left from an earlier run is
// replaced); only its owner may connect. The returned file is the
// listening socket, non-blocking.
func Listen(dir string) (*os.File, error) {
	p := filepath.Join(dir, SocketName)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create attach socket %s: %w", p, err)
	}
	err = inDir(dir, SocketName, func(path string) error {
		if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			return err
		}
		// (The container's directory lets nobody else in either.)
		return unix.Chmod(path, 0o600)
	})
	if err == nil {
		err = unix.Listen(fd, maxClients)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Client is a connection to a container's attach socket.
type Client struct {
	fd  int
	buf []byte
}

// Dial connects to the attach socket in dir; the error wraps ENOENT or
// ECONNREFUSED when nobody serves it.
func Dial(dir string) (*Client, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create attach socket: %w", err)
	}
	err = inDir(dir, SocketName, func(path string) error {
		return unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect to %s: %w", filepath.Join(dir, SocketName), err)
	}
	return &Client{fd: fd, buf: make([]byte, 1+16*1024)}, nil
}

// Send sends b, in packets of at most MaxInput bytes, with tag.
func (c *Client) Send(tag byte, b []byte) error {
	pkt := make([]byte, 0, MaxInput)
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), MaxInput-1)
		pkt = append(append(pkt[:0], tag), b[:n]...)
		b = b[n:]
		for {
			_, err := unix.SendmsgN(c.fd, pkt, nil, nil, unix.MSG_NOSIGNAL)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("send to attach socket: %w", err)
			}
			break
		}
	}
	return nil
}

// SendResize sends the terminal size rows x cols.
func (c *Client) SendResize(rows, cols uint16) error {
	return c.Send(Resize, []byte{byte(rows >> 8), byte(rows), byte(cols >> 8), byte(cols)})
}

// Recv reads the next packet: its tag and data (valid until the next
// Recv). At the end of the stream (the container has exited, or the
// monitor let the client go) it returns tag 0.
func (c *Client) Recv() (byte, []byte, error) {
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read attach socket: %w", err)
		}
		if n == 0 {
			return 0, nil, nil
		}
		return c.buf[0], c.buf[1:n], nil
	}
}

// Close closes the connection.
func (c *Client) Close() { unix.Close(c.fd) }
