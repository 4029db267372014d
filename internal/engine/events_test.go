package engine

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// collectEvents reads the event log of e from since until now.
func collectEvents(t *testing.T, e *Engine, since time.Time, f EventFilter) []Event {
	t.Helper()
	var got []Event
	err := e.Events(EventsOptions{Since: since, Until: time.Now(), Filter: f, Print: func(ev *Event) error {
		got = append(got, *ev)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEventLogRotation: past eventLogMax the log is rotated to events.log.1
// (also by a writer that holds the store lock, as collect does), and a
// reader from --since sees every event once, in order, across it.
func TestEventLogRotation(t *testing.T) {
	e := &Engine{Root: t.TempDir()}
	start := time.Now()
	n := 0
	unlock, err := e.lock()
	if err != nil {
		t.Fatal(err)
	}
	rotated := make(chan bool, 1)
	go func() {
		for ; n <= 100000; n++ {
			e.event(&Record{ID: strconv.Itoa(n), Name: "c", Image: "img"}, "start")
			if _, err := os.Stat(e.eventLogPath() + ".1"); err == nil {
				rotated <- true
				return
			}
		}
		rotated <- false
	}()
	select {
	case ok := <-rotated:
		if !ok {
			t.Fatal("the event log was never rotated")
		}
	case <-time.After(time.Minute):
		t.Fatal("rotating the event log under the store lock hangs")
	}
	unlock()
	for i := n + 1; i <= n+10; i++ {
		e.event(&Record{ID: strconv.Itoa(i), Name: "c", Image: "img"}, "start")
	}
	st, err := os.Stat(e.eventLogPath() + ".1")
	if err != nil || st.Size() < eventLogMax {
		t.Fatalf("rotated log: %v", err)
	}
	got := collectEvents(t, e, start, nil)
	if len(got) != n+11 {
		t.Fatalf("%d events, want %d", len(got), n+11)
	}
	for i, ev := range got {
		if ev.Actor.ID != strconv.Itoa(i) {
			t.Fatalf("event %d is %s", i, ev.Actor.ID)
		}
	}
}

// TestEventLogTornLine: a line cut short by a writer killed half-way is
// skipped, and the next writer's event starts a line of its own.
func TestEventLogTornLine(t *testing.T) {
	e := &Engine{Root: t.TempDir()}
	start := time.Now()
	e.event(&Record{ID: "a"}, "create")
	f, err := os.OpenFile(e.eventLogPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"status":"start","id":"torn","Type":"container","Action":"st`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A reader meanwhile does not take the torn line for an event.
	if got := collectEvents(t, e, start, nil); len(got) != 1 || got[0].Actor.ID != "a" {
		t.Errorf("with a torn last line: %+v", got)
	}
	e.event(&Record{ID: "b"}, "die", exitAttr(3)...)
	got := collectEvents(t, e, start, nil)
	if len(got) != 2 || got[0].Actor.ID != "a" || got[1].Actor.ID != "b" || got[1].Actor.Attributes["exitCode"] != "3" {
		t.Errorf("after a torn line: %+v", got)
	}
}

// TestEventFilter: keys must all match, values of a key are alternatives.
func TestEventFilter(t *testing.T) {
	ev := &Event{Type: "container", Action: "die", Actor: Actor{ID: "abcdef", Attributes: map[string]string{"name": "web", "tier": "front"}}}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"event=die"}, true},
		{[]string{"event=start", "event=die"}, true},
		{[]string{"event=start"}, false},
		{[]string{"container=web", "event=die"}, true},
		{[]string{"container=abc"}, true},
		{[]string{"container=other"}, false},
		{[]string{"label=tier"}, true},
		{[]string{"label=tier=front", "type=container"}, true},
		{[]string{"label=tier=back"}, false},
		{[]string{"type=image"}, false},
	} {
		f, err := ParseEventFilters(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(ev); got != c.want {
			t.Errorf("filter %q: %v, want %v", c.args, got, c.want)
		}
	}
	for _, bad := range []string{"event", "nope=1", "event="} {
		if _, err := ParseEventFilters([]string{bad}); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}
