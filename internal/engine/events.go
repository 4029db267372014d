package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The event log: every command and monitor that changes a container
// appends one JSON line per event (Docker's shape) to ROOT/events.log, in
// one O_APPEND write, and `sdocker events` reads and follows it. No daemon
// is needed: the writers are the short-lived commands, and the sdocker
// binary in its monitor phases (start, exit, restart); sdocker-monitor,
// which only watches a running container, writes none (the healthchecks it
// starts are this binary, and write theirs).
//
// The log is bounded: once it passes eventLogMax, the writer that notices
// renames it to events.log.1 (replacing the one before), so at most about
// twice eventLogMax is kept. A line cut short (a writer killed half-way, a
// full disk) is skipped by readers, and the next writer starts a new line.

// eventLogMax is the size at which the event log is rotated.
const eventLogMax = 1 << 20

// Event is one event, as Docker's API and `docker events --format json`
// give it.
type Event struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	Actor    Actor  `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// Actor is what an event is about.
type Actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

func (e *Engine) eventLogPath() string { return filepath.Join(e.Root, "events.log") }

// event records action of container r, with attributes beyond its name,
// image and labels (e.g. exitCode). An event that cannot be written is
// lost: the operation it tells of has happened all the same.
func (e *Engine) event(r *Record, action string, attrs ...string) {
	a := map[string]string{}
	for k, v := range r.Labels {
		a[k] = v
	}
	a["name"], a["image"] = r.Name, r.Image
	for i := 0; i+1 < len(attrs); i += 2 {
		a[attrs[i]] = attrs[i+1]
	}
	now := time.Now()
	ev := Event{
		Status: action, ID: r.ID, From: r.Image, Type: "container", Action: action,
		Actor: Actor{ID: r.ID, Attributes: a}, Scope: "local",
		Time: now.Unix(), TimeNano: now.UnixNano(),
	}
	_ = e.appendEvent(ev)
}

// appendEvent writes ev to the event log in one write, and rotates the log
// once it is too large.
func (e *Engine) appendEvent(ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	p := e.eventLogPath()
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	line := append(b, '\n')
	// After a line cut short, start a new one (read: the descriptor is
	// opened read-write for that).
	last := []byte{'\n'}
	if st.Size > 0 {
		if _, err := unix.Pread(fd, last, st.Size-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := unix.Write(fd, line); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if st.Size+int64(len(line)) > eventLogMax {
		return e.rotateEvents(fd)
	}
	return nil
}

// rotateEvents renames the event log (open as fd) to events.log.1, unless
// another writer has done so already. Its lock is its own (events are told
// under the store lock too).
func (e *Engine) rotateEvents(fd int) error {
	p := e.eventLogPath()
	lock, err := unix.Open(p+".lock", unix.O_CREAT|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open %s.lock: %w", p, err)
	}
	defer unix.Close(lock)
	if err := unix.Flock(lock, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s.lock: %w", p, err)
	}
	var mine, cur unix.Stat_t
	if unix.Fstat(fd, &mine) != nil || unix.Stat(p, &cur) != nil || mine.Ino != cur.Ino || mine.Dev != cur.Dev {
		return nil
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", p, err)
	}
	return nil
}

// EventFilter selects events as docker events --filter does: values of one
// key are alternatives, keys must all match.
type EventFilter map[string][]string

// ParseEventFilters reads --filter KEY=VALUE options: container (id, id
// prefix or name), event (action; health_status is any health_status:
// STATUS), type (container) and label (KEY or KEY=VALUE).
func ParseEventFilters(args []string) (EventFilter, error) {
	f := EventFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok || v == "":
			return nil, fmt.Errorf("%w: filter %q: use KEY=VALUE", ErrInvalidInput, a)
		case k != "container" && k != "event" && k != "type" && k != "label":
			return nil, fmt.Errorf("%w: filter %q: known keys are container, event, type and label", ErrInvalidInput, a)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// Match reports whether ev passes the filter.
func (f EventFilter) Match(ev *Event) bool {
	any := func(key string, match func(string) bool) bool {
		vs, ok := f[key]
		if !ok {
			return true
		}
		for _, v := range vs {
			if match(v) {
				return true
			}
		}
		return false
	}
	return any("type", func(v string) bool { return v == ev.Type }) &&
		any("event", func(v string) bool {
			// As Docker: health_status stands for each of its statuses.
			return v == ev.Action || v == "health_status" && strings.HasPrefix(ev.Action, "health_status: ")
		}) &&
		any("container", func(v string) bool {
			return v == ev.Actor.Attributes["name"] || strings.HasPrefix(ev.Actor.ID, v)
		}) &&
		any("label", func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := ev.Actor.Attributes[k]
			return ok && (!hasValue || got == want)
		})
}

// EventsOptions are the options of `sdocker events`.
type EventsOptions struct {
	Since, Until time.Time // zero: from now on; forever
	Filter       EventFilter
	// Print is called for each event, in order.
	Print func(*Event) error
	// Stop ends following when closed (e.g. on SIGINT).
	Stop <-chan struct{}
}

// eventPoll is how often a followed event log is looked at again.
const eventPoll = 100 * time.Millisecond

// Events prints the events of the log from o.Since (or from now) and then
// follows the log, until o.Until has passed or o.Stop is closed.
func (e *Engine) Events(o EventsOptions) error {
	start := time.Now()
	since := o.Since
	if since.IsZero() {
		since = start
	}
	if !o.Until.IsZero() && o.Until.Before(since) {
		return nil
	}
	p := e.eventLogPath()
	r := &eventReader{o: o, since: since}
	// The rotated log first, if it may hold events after since.
	if !o.Since.IsZero() {
		if err := r.readFile(p + ".1"); err != nil {
			return err
		}
	}
	for {
		f, err := os.Open(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open %s: %w", p, err)
		}
		if f != nil {
			err = r.follow(f, p)
			f.Close()
			if err != nil || r.done {
				return err
			}
			continue // rotated: on with the new log
		}
		if r.wait() {
			return nil
		}
	}
}

type eventReader struct {
	o     EventsOptions
	since time.Time
	done  bool
}

// wait sleeps one poll interval; it reports whether reading is over.
func (r *eventReader) wait() bool {
	if !r.o.Until.IsZero() && time.Now().After(r.o.Until) {
		r.done = true
		return true
	}
	select {
	case <-r.o.Stop:
		r.done = true
		return true
	case <-time.After(eventPoll):
	}
	return false
}

// readFile prints the events of a whole file (the rotated log).
func (r *eventReader) readFile(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	_, err = r.lines(bufio.NewReader(f), true)
	return err
}

// follow prints the events of the log f (at path p) as they come, until
// it is over or the log was rotated (then with done false).
func (r *eventReader) follow(f *os.File, p string) error {
	var partial []byte
	for {
		rest, err := r.lines(io.MultiReader(bytes.NewReader(partial), f), false)
		if err != nil || r.done {
			return err
		}
		partial = rest
		if rotated(f, p) {
			// What the last writers of the old log wrote.
			_, err := r.lines(io.MultiReader(bytes.NewReader(partial), f), true)
			return err
		}
		if r.wait() {
			return nil
		}
	}
}

// rotated reports whether the path p no longer names the open file f.
func rotated(f *os.File, p string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil {
		return true
	}
	if err := unix.Stat(p, &b); err != nil {
		return errors.Is(err, unix.ENOENT)
	}
	return a.Ino != b.Ino || a.Dev != b.Dev
}

// lines prints the events of whole lines in rd; it returns what follows the
// last newline (a line being written, unless final: then it is skipped as
// cut short). Lines that are not events are skipped.
func (r *eventReader) lines(rd io.Reader, final bool) ([]byte, error) {
	br := bufio.NewReader(rd)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if final {
				return nil, nil
			}
			return line, nil
		}
		if err != nil {
			return nil, err
		}
		var ev Event
		if json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			continue
		}
		t := time.Unix(0, ev.TimeNano)
		if t.Before(r.since) {
			continue
		}
		if !r.o.Until.IsZero() && t.After(r.o.Until) {
			r.done = true
			return nil, nil
		}
		if r.o.Filter.Match(&ev) {
			if err := r.o.Print(&ev); err != nil {
				return nil, err
			}
		}
	}
}

// exitAttr is the exitCode attribute of a die event.
func exitAttr(code int) []string { return []string{"exitCode", strconv.Itoa(code)} }

// signalAttr is the signal attribute of a kill event (its number, as Docker).
func signalAttr(sig unix.Signal) []string { return []string{"signal", strconv.Itoa(int(sig))} }
