package jsonlog

import (
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Writer appends entries to a log file, each whole or not at all: an entry
// that cannot be written whole (the disk is full) is cut off again, and its
// text is counted as lost. Before the next entry that fits, a marker entry
// on stderr says how much was lost and why. One Writer per log file: the
// offset of its end is kept here.
type Writer struct {
	fd   int
	end  int64 // where the next entry starts; -1 when not known
	cut  bool  // the log ends in an unfinished line
	buf  []byte
	lost int64      // bytes of output dropped and not yet marked
	why  unix.Errno // the error that dropped the first of them
	rot  *rotation  // nil: the log grows without bound
}

// rotation is where and when a Writer rotates its log.
type rotation struct {
	path  string
	max   int64 // the most a file holds (a longer entry goes alone)
	files int   // path, path.1, ... path.files-1
}

// NewWriter writes to the log open (append-only) as fd; if fd is open for
// reading too, a line left unfinished at its end is ended first.
func NewWriter(fd int) *Writer {
	w := &Writer{fd: fd, end: -1, buf: make([]byte, 0, 4096)}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		w.end = st.Size
	}
	// A line a killed writer left unfinished is ended, so that the next
	// entry starts a line of its own.
	var last [1]byte
	if w.end > 0 {
		if n, _ := unix.Pread(fd, last[:], w.end-1); n == 1 && last[0] != '\n' {
			w.cut = true
		}
	}
	return w
}

// Rotate makes w keep the log, at path, at most max bytes long: before an
// entry would take it past max, the log is renamed path.1 (path.1 becomes
// path.2, and so on; the oldest of files in all goes) and a new one is
// started, on the same descriptor. With files 1 the log is emptied instead.
func (w *Writer) Rotate(path string, max int64, files int) {
	if max > 0 && files > 0 {
		w.rot = &rotation{path: path, max: max, files: files}
	}
}

// Lost is how many bytes of output were dropped and not yet marked, and
// the error that dropped the first of them.
func (w *Writer) Lost() (int64, unix.Errno) { return w.lost, w.why }

// AddLost counts n more bytes of output as lost through err, e.g. what
// another writer of the same log could not mark.
func (w *Writer) AddLost(n int64, err unix.Errno) {
	if n <= 0 {
		return
	}
	if w.lost == 0 {
		w.why = err
	}
	w.lost += n
}

// Write appends the entry of text, read from stream at t. If it fails,
// the text is counted as lost and the log is left as it was.
func (w *Writer) Write(text []byte, stream string, t time.Time) error {
	if err := w.Flush(t); err != nil {
		w.AddLost(int64(len(text)), errnoOf(err))
		return err
	}
	w.buf = Append(w.start(), text, stream, t)
	// A log that cannot be rotated grows on: better than losing output.
	_ = w.rotate(len(w.buf))
	if err := w.write(w.buf); err != nil {
		w.AddLost(int64(len(text)), errnoOf(err))
		return err
	}
	return nil
}

// Flush writes the marker of the output lost so far, if any.
func (w *Writer) Flush(t time.Time) error {
	if w.lost == 0 {
		return nil
	}
	w.buf = Append(w.start(), LostText(w.lost, w.why), "stderr", t)
	if err := w.write(w.buf); err != nil {
		return err
	}
	w.lost, w.why = 0, 0
	return nil
}

// rotate starts a new log file if an entry of n more bytes would take the
// log past its size.
func (w *Writer) rotate(n int) error {
	r := w.rot
	if r == nil || w.end <= 0 || w.end+int64(n) <= r.max {
		return nil
	}
	if r.files == 1 {
		if err := unix.Ftruncate(w.fd, 0); err != nil {
			return err
		}
		w.end, w.cut = 0, false
		return nil
	}
	for i := r.files - 1; i > 0; i-- {
		old := r.path
		if i > 1 {
			old += "." + strconv.Itoa(i-1)
		}
		if err := unix.Rename(old, r.path+"."+strconv.Itoa(i)); err != nil && err != unix.ENOENT {
			return err
		}
	}
	fd, err := unix.Open(r.path, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	// The same descriptor from now on (close-on-exec as it was): whoever
	// holds it writes on.
	flags, err := unix.FcntlInt(uintptr(w.fd), unix.F_GETFD, 0)
	if err == nil {
		cloexec := 0
		if flags&unix.FD_CLOEXEC != 0 {
			cloexec = unix.O_CLOEXEC
		}
		err = unix.Dup3(fd, w.fd, cloexec)
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	w.end, w.cut = 0, false
	return nil
}

// start empties the buffer for the next entry: a newline first when the
// log ends in an unfinished line.
func (w *Writer) start() []byte {
	if w.cut {
		return append(w.buf[:0], '\n')
	}
	return w.buf[:0]
}

// LostText is the text of the marker entry for n bytes lost through err.
func LostText(n int64, err unix.Errno) []byte {
	if err == 0 {
		err = unix.EIO
	}
	return NoteText(strconv.FormatInt(n, 10) + " bytes of output lost: " + err.Error())
}

// NoteText is the text of a marker entry, on stderr, that sdocker writes
// into a container's log: "[sdocker] " and what it says, as one line.
func NoteText(s string) []byte {
	b := append([]byte("[sdocker] "), s...)
	return append(b, '\n')
}

// write writes b whole at the end of the log, or cuts off what it wrote.
func (w *Writer) write(b []byte) error {
	if w.end < 0 {
		var st unix.Stat_t
		if unix.Fstat(w.fd, &st) == nil {
			w.end = st.Size
		}
	}
	done := 0
	for done < len(b) {
		n, err := unix.Write(w.fd, b[done:])
		if err == unix.EINTR {
			continue
		}
		if err == nil && n <= 0 {
			err = unix.EIO
		}
		if err != nil {
			if done > 0 && (w.end < 0 || unix.Ftruncate(w.fd, w.end) != nil) {
				// What was written stays: the next entry starts a
				// line of its own, at an end no longer known.
				w.cut, w.end = true, -1
			}
			return err
		}
		done += n
	}
	if w.end >= 0 {
		w.end += int64(len(b))
	}
	w.cut = false
	return nil
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}
