// Package trace times the steps of a container's start (`run --trace`,
// `exec --trace`) on the monotonic clock, which the host and every
// container share: a step timed by a container's init and one timed by
// the command that started it fall on one time line.
//
// A nil *Trace records nothing: an untraced start only tests a pointer.
package trace

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Step is one timed step. Steps of depth 0 follow each other, each from
// the end of the one before; a step of depth 1 ran beside them (the
// command's own work while the container's init went on).
type Step struct {
	Name       string
	Start, End int64 // monotonic nanoseconds
	Depth      int
}

// Duration is how long s took, in nanoseconds.
func (s Step) Duration() int64 { return s.End - s.Start }

// Trace is the time line of one start.
type Trace struct {
	begin, last int64
	steps       []Step
}

// Now reads the monotonic clock in nanoseconds.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

// New starts a time line now.
func New() *Trace {
	n := Now()
	return &Trace{begin: n, last: n}
}

// Mark ends the step that ran since the previous mark, named name.
func (t *Trace) Mark(name string) {
	if t != nil {
		t.MarkAt(name, Now())
	}
}

// MarkAt ends the current step at end (a time taken elsewhere, by the
// container's init).
func (t *Trace) MarkAt(name string, end int64) {
	if t == nil {
		return
	}
	if end < t.last {
		end = t.last
	}
	t.steps = append(t.steps, Step{Name: name, Start: t.last, End: end})
	t.last = end
}

// Beside records a step from start to now that ran beside the current one.
func (t *Trace) Beside(name string, start int64) {
	if t != nil {
		t.steps = append(t.steps, Step{Name: name, Start: start, End: Now(), Depth: 1})
	}
}

// Since is Now, or 0 without a trace (the start of a step for Beside).
func (t *Trace) Since() int64 {
	if t == nil {
		return 0
	}
	return Now()
}

// Steps are the steps in the order they began.
func (t *Trace) Steps() []Step {
	if t == nil {
		return nil
	}
	out := slices.Clone(t.steps)
	slices.SortStableFunc(out, func(a, b Step) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return a.Depth - b.Depth
	})
	return out
}

// Total is the time from New to the last mark.
func (t *Trace) Total() int64 {
	if t == nil {
		return 0
	}
	return t.last - t.begin
}

// Write prints the steps, one a line, with their offset from the start
// and their duration; a step that ran beside the others is marked with
// "|", and its time is not part of the total, which the other steps add
// up to.
func (t *Trace) Write(w io.Writer) error {
	list := t.Steps()
	width := len("total")
	for _, s := range list {
		width = max(width, len(s.Name)+2*s.Depth)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trace: %10s  %-*s %11s\n", "AT", width, "STEP", "DURATION")
	for _, s := range list {
		name := s.Name
		if s.Depth > 0 {
			name = "| " + name
		}
		fmt.Fprintf(&b, "trace: %10s  %-*s %11s\n", Millis(s.Start-t.begin), width, name, Millis(s.Duration()))
	}
	fmt.Fprintf(&b, "trace: %10s  %-*s %11s\n", "", width, "total", Millis(t.Total()))
	_, err := io.WriteString(w, b.String())
	return err
}

// Millis writes nanoseconds as milliseconds, 3 decimals.
func Millis(ns int64) string { return fmt.Sprintf("%.3fms", float64(ns)/1e6) }

// Points are steps taken by a process that sends them elsewhere (the
// container's init): each a name and the time it ended.
type Points struct {
	names []string
	ends  []int64
}

// Mark records that the step name ends now.
func (p *Points) Mark(name string) {
	if p != nil {
		p.MarkAt(name, Now())
	}
}

// MarkAt records that the step name ended at end.
func (p *Points) MarkAt(name string, end int64) {
	if p != nil {
		p.names = append(p.names, name)
		p.ends = append(p.ends, end)
	}
}

// Marshal encodes the points: a count, then each name's length, name and time.
func (p *Points) Marshal() []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(p.names)))
	for i, n := range p.names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = binary.AppendVarint(b, p.ends[i])
	}
	return b
}

// Append marks, on t, each step of the encoded points b in turn.
func (t *Trace) Append(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return fmt.Errorf("decode trace: bad count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return fmt.Errorf("decode trace: bad name")
		}
		name := string(b[k : k+int(l)])
		b = b[k+int(l):]
		end, k := binary.Varint(b)
		if k <= 0 {
			return fmt.Errorf("decode trace: bad time")
		}
		b = b[k:]
		t.MarkAt(name, end)
	}
	return nil
}
