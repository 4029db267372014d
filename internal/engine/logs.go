package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LogsOptions are the options of `sdocker logs`.
type LogsOptions struct {
	Follow     bool
	Tail       int // the last Tail lines only; negative: all
	Timestamps bool
	// Since and Until keep the entries logged at or after Since and before
	// Until; zero values do not filter.
	Since, Until time.Time
	// PollInterval is how often Follow looks for new lines (default 100ms).
	PollInterval time.Duration

	Stdout, Stderr io.Writer
}

// TimestampFormat is how `logs -t` prints times: RFC 3339 with nanoseconds,
// fixed width (Docker's RFC3339NanoFixed).
const TimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Logs writes the log of a container: its stdout entries to o.Stdout, its
// stderr entries to o.Stderr. A container that has no log (it ran in the
// foreground, or has not started yet) shows nothing. With o.Follow it waits
// for more until the container is no longer running.
func (e *Engine) Logs(ref string, o LogsOptions) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	out := newLogPrinter(o)
	path := e.LogPath(r.ID)
	f, err := os.Open(path)
	for errors.Is(err, os.ErrNotExist) {
		// The monitor creates the log when it starts; until then there is
		// nothing to show, and a foreground container has none at all.
		if !o.Follow || !r.Detached || !e.mayWriteLog(r.ID) {
			return nil
		}
		time.Sleep(o.PollInterval)
		f, err = os.Open(path)
	}
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	defer func() { f.Close() }()
	older, err := openRotated(path, f)
	defer func() {
		for _, of := range older {
			of.Close()
		}
	}()
	if err != nil {
		return err
	}
	starts, err := tailStarts(append(older, f), o.Tail)
	if err != nil {
		return err
	}
	for i, of := range older {
		if err := printRotated(out, of, starts[i]); err != nil {
			return err
		}
	}
	if _, err := f.Seek(starts[len(older)], io.SeekStart); err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 64*1024)
	var partial []byte // a line the monitor has not finished writing
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = nil
			}
			if err := out.print(line); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		partial = append(partial, line...)
		if !o.Follow {
			return out.finish(partial)
		}
		// At the end: wait for more, unless nobody will write any. The
		// check comes first, then one more read (of every file the log
		// was rotated to meanwhile), so that nothing written just before
		// the container ended is lost.
		if !e.mayWriteLog(r.ID) {
			for {
				rest, err := io.ReadAll(br)
				if err != nil {
					return fmt.Errorf("read log %s: %w", path, err)
				}
				tail, err := out.printLines(append(partial, rest...))
				if err != nil {
					return err
				}
				nf, err := followRotation(path, f)
				if err != nil || nf == nil {
					return errors.Join(err, out.finish(tail))
				}
				f.Close()
				f, partial = nf, nil
				br.Reset(f)
			}
		}
		if err := out.flushStreams(); err != nil {
			return err
		}
		time.Sleep(o.PollInterval)
		// The monitor may have rotated the log meanwhile: what the old
		// file has left comes first, then the next one from its start.
		nf, err := followRotation(path, f)
		if err != nil {
			return err
		}
		if nf != nil {
			rest, err := io.ReadAll(br)
			if err == nil {
				_, err = out.printLines(append(partial, rest...))
			}
			if err != nil {
				nf.Close()
				return err
			}
			f.Close()
			f, partial = nf, nil
			br.Reset(f)
		}
	}
}

// openRotated opens the rotated files of the log at path, the oldest
// first; cur is the log itself, open. A file that is cur (rotated since it
// was opened) is not taken twice.
func openRotated(path string, cur *os.File) ([]*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(cur.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat log %s: %w", path, err)
	}
	var files []*os.File
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return files, fmt.Errorf("open log %s: %w", p, err)
		}
		var fst unix.Stat_t
		if unix.Fstat(int(f.Fd()), &fst) == nil && fst.Ino == st.Ino && fst.Dev == st.Dev {
			f.Close()
			continue
		}
		files = append([]*os.File{f}, files...)
	}
	return files, nil
}

// tailStarts returns where to start reading each of files (the oldest
// first) to print their last tail lines in all (every line for a negative
// tail); a file none of whose lines is printed starts at its end.
func tailStarts(files []*os.File, tail int) ([]int64, error) {
	starts := make([]int64, len(files))
	if tail < 0 {
		return starts, nil
	}
	need := tail
	for i := len(files) - 1; i >= 0; i-- {
		off, got, err := tailLines(files[i], need)
		if err != nil {
			return nil, fmt.Errorf("read log %s: %w", files[i].Name(), err)
		}
		starts[i] = off
		need -= got
	}
	return starts, nil
}

// printRotated prints the entries of a log file that no one writes any
// more, from off.
func printRotated(out *logPrinter, f *os.File, off int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("read log %s: %w", f.Name(), err)
	}
	br := bufio.NewReaderSize(f, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if perr := out.print(line); perr != nil {
				return perr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log %s: %w", f.Name(), err)
		}
	}
}

// printLines prints the whole lines of b and returns what follows the
// last of them.
func (p *logPrinter) printLines(b []byte) ([]byte, error) {
	for len(b) > 0 {
		l, rest, ok := bytes.Cut(b, []byte{'\n'})
		if !ok {
			return l, nil
		}
		if err := p.print(append(l, '\n')); err != nil {
			return nil, err
		}
		b = rest
	}
	return nil, nil
}

// followRotation returns the log file that follows cur once the monitor
// has rotated cur away from path: the next newer of the rotated files, or
// the log itself (nil while cur is still the log). When cur is gone from
// them all (rotated out), the oldest is next. A log emptied in place (one
// file) is read again from its start.
func followRotation(path string, cur *os.File) (*os.File, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(cur.Fd()), &a); err != nil {
		return nil, fmt.Errorf("stat log %s: %w", path, err)
	}
	same := func(p string) (bool, bool) {
		err := unix.Stat(p, &b)
		return err == nil, err == nil && a.Ino == b.Ino && a.Dev == b.Dev
	}
	if _, ok := same(path); ok {
		if pos, err := cur.Seek(0, io.SeekCurrent); err == nil && a.Size < pos {
			return openNext(path)
		}
		return nil, nil
	}
	next := path
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		exists, ok := same(p)
		if ok {
			return openNext(next)
		}
		if !exists {
			if i == 1 {
				return openNext(path)
			}
			return openNext(next)
		}
		next = p
	}
}

// openNext opens the log file p, or returns nil if it is not there (the
// monitor is between two steps of a rotation: the next poll tries again).
func openNext(p string) (*os.File, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", p, err)
	}
	return f, nil
}

// mayWriteLog reports whether a monitor may still append to the log of
// container id: its record says it runs (or restarts) and its monitor lives,
// or someone holds the container's lock (a monitor between two runs, or a
// start in progress). A removed container writes nothing.
func (e *Engine) mayWriteLog(id string) bool {
	r, err := e.load(id)
	if err != nil {
		return false
	}
	switch r.Status {
	case StateRunning, StatePaused, StateRestarting:
		if watched(r) {
			return true
		}
	}
	lock, err := e.holdContainer(id)
	if err == nil {
		lock.Close()
		return false
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}

// logPrinter writes log entries to the streams they came from, buffered;
// switching streams flushes, so the two keep their order on one terminal.
type logPrinter struct {
	o        LogsOptions
	out, err *bufio.Writer
	last     *bufio.Writer
}

func newLogPrinter(o LogsOptions) *logPrinter {
	return &logPrinter{o: o, out: bufio.NewWriterSize(o.Stdout, 32*1024), err: bufio.NewWriterSize(o.Stderr, 32*1024)}
}

// entryStart begins every entry; inside an entry's strings a quote is
// escaped, so it marks where one starts.
var entryStart = []byte(`{"log":`)

// print writes one JSON line of the log; a line that is not a log entry
// (a torn write after a crash) is skipped, and an entry glued to the end
// of such a line is still printed.
func (p *logPrinter) print(line []byte) error {
	var ent LogEntry
	if err := json.Unmarshal(line, &ent); err != nil {
		i := bytes.LastIndex(line, entryStart)
		if i <= 0 || json.Unmarshal(line[i:], &ent) != nil {
			return nil
		}
	}
	if !p.o.Since.IsZero() && ent.Time.Before(p.o.Since) {
		return nil
	}
	if !p.o.Until.IsZero() && ent.Time.After(p.o.Until) {
		return nil
	}
	w := p.out
	if ent.Stream == "stderr" {
		w = p.err
	}
	if p.last != nil && p.last != w {
		if err := p.flushStreams(); err != nil {
			return err
		}
	}
	p.last = w
	if p.o.Timestamps {
		w.WriteString(ent.Time.UTC().Format(TimestampFormat))
		w.WriteByte(' ')
	}
	if _, err := w.WriteString(ent.Log); err != nil {
		return fmt.Errorf("write logs: %w", err)
	}
	return nil
}

// flushStreams writes out what is buffered.
func (p *logPrinter) flushStreams() error {
	if err := errors.Join(p.out.Flush(), p.err.Flush()); err != nil {
		return fmt.Errorf("write logs: %w", err)
	}
	return nil
}

// finish prints what is left at the end of the log if it is a whole entry
// (the monitor writes each entry with its newline in one write), and
// flushes.
func (p *logPrinter) finish(rest []byte) error {
	if len(bytes.TrimSpace(rest)) > 0 {
		if err := p.print(rest); err != nil {
			return err
		}
	}
	return p.flushStreams()
}

// TailOffset returns where the last n lines of f begin, reading backwards
// from its end in blocks, so a large log is not read whole. A last line
// without its newline counts as a line.
func TailOffset(f io.ReaderAt, n int) (int64, error) {
	off, _, err := tailLines(f, n)
	return off, err
}

// tailLines is TailOffset, and how many lines there are from there: n,
// or fewer when f has fewer.
func tailLines(f io.ReaderAt, n int) (int64, int, error) {
	size, err := sizeOf(f)
	if err != nil {
		return 0, 0, err
	}
	if n <= 0 {
		return size, 0, nil
	}
	const block = 64 * 1024
	buf := make([]byte, block)
	end := size
	found := 0
	// The newline that ends the last line does not start a line.
	skipLast := true
	for end > 0 {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast {
				skipLast = false
				continue
			}
			if found++; found == n {
				return start + int64(i) + 1, n, nil
			}
		}
		end = start
	}
	if size > 0 && !skipLast {
		found++ // the first line
	}
	return 0, found, nil
}

func sizeOf(f io.ReaderAt) (int64, error) {
	switch v := f.(type) {
	case *os.File:
		st, err := v.Stat()
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	case interface{ Size() int64 }:
		return v.Size(), nil
	}
	return 0, fmt.Errorf("tail: cannot tell the size of %T", f)
}

// ParseTail reads --tail: "all" (or "", -1) or a number of lines.
func ParseTail(s string) (int, error) {
	switch strings.TrimSpace(s) {
	case "", "all", "-1":
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: --tail %q: use a number of lines or all", ErrInvalidInput, s)
	}
	return n, nil
}

// ParseSince reads a --since or --until time as Docker does: an RFC 3339
// timestamp (with or without seconds fraction or zone; local time when no
// zone is given), a date, Unix seconds (with an optional fraction), or a Go
// duration such as 10m or 1h30m, which counts back from now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); isDigits(sec) && (!ok || isDigits(frac)) {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			var ns int64
			if ok {
				f := (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(f, 10, 64)
			}
			return time.Unix(n, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q: use an RFC 3339 timestamp (2006-01-02T15:04:05Z), Unix seconds, or a duration such as 10m", ErrInvalidInput, s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
