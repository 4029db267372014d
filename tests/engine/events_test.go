package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/engine"
)

// unixTime is t as --since and --until take it.
func unixTime(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// events runs `sdocker events --format json ARGS...` (which must end by
// itself: give --until) and returns the events.
func (e *env) events(args ...string) []engine.Event {
	e.t.Helper()
	r := e.mustRun(0, append([]string{"events", "--format", "json"}, args...)...)
	var out []engine.Event
	for _, l := range lines(r.stdout) {
		var ev engine.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			e.t.Fatalf("events: line %q: %v", l, err)
		}
		out = append(out, ev)
	}
	return out
}

// actionsOf lists the actions of the events about container id, in order.
func actionsOf(evs []engine.Event, id string) []string {
	var out []string
	for _, ev := range evs {
		if ev.Actor.ID == id {
			out = append(out, ev.Action)
		}
	}
	return out
}

// eventOf is the first event of id with action.
func eventOf(t *testing.T, evs []engine.Event, id, action string) engine.Event {
	t.Helper()
	for _, ev := range evs {
		if ev.Actor.ID == id && ev.Action == action {
			return ev
		}
	}
	t.Fatalf("no %s event of %s", action, id[:12])
	return engine.Event{}
}

// TestEvents: run -d, pause, unpause, kill and rm each give their events
// once, in order, in Docker's JSON shape (die with the exit code, kill with
// the signal, the name, image and labels as attributes); a foreground run's
// die has its exit code; --since, --until, --filter and a --format
// template select and print them; bad options are refused (125).
func TestEvents(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	start := time.Now()
	bg := e.runDetached("--name", "evbox", "-l", "tier=web", rootfsDir, "sleep", "1000")
	e.mustRun(0, "pause", "evbox")
	e.mustRun(0, "unpause", "evbox")
	e.mustRun(0, "kill", "evbox")
	e.waitStatus(bg, "exited", 30*time.Second)
	e.mustRun(0, "rm", "evbox")
	e.mustRun(3, "run", "--rm", "--name", "evfg", rootfsDir, "sh", "-c", "exit 3")
	forced := e.runDetached("--name", "evforced", rootfsDir, "sleep", "1000")
	e.mustRun(0, "rm", "-f", "evforced")
	until := time.Now()
	since, upto := "--since="+unixTime(start), "--until="+unixTime(until)

	all := e.events(since, upto)
	if got, want := actionsOf(all, bg), []string{"create", "start", "pause", "unpause", "kill", "die", "destroy"}; !slices.Equal(got, want) {
		t.Errorf("events of run -d, pause, unpause, kill, rm: %q, want %q", got, want)
	}
	die := eventOf(t, all, bg, "die")
	a := die.Actor.Attributes
	if a["exitCode"] != "137" || a["name"] != "evbox" || a["image"] != rootfsDir || a["tier"] != "web" ||
		die.Type != "container" || die.Status != "die" || die.ID != bg || die.From != rootfsDir || die.Scope != "local" ||
		die.Time != die.TimeNano/1e9 || die.TimeNano < start.UnixNano() || die.TimeNano > until.UnixNano() {
		t.Errorf("die event: %+v", die)
	}
	if s := eventOf(t, all, bg, "kill").Actor.Attributes["signal"]; s != "9" {
		t.Errorf("kill event: signal %q", s)
	}
	var fg string
	for _, ev := range all {
		if ev.Actor.Attributes["name"] == "evfg" {
			fg = ev.Actor.ID
		}
	}
	if got := actionsOf(all, fg); !slices.Equal(got, []string{"create", "start", "die", "destroy"}) {
		t.Errorf("events of run --rm: %q", got)
	}
	if got := actionsOf(all, forced); !slices.Equal(got, []string{"create", "start", "kill", "die", "destroy"}) {
		t.Errorf("events of rm -f: %q", got)
	}
	if c := eventOf(t, all, fg, "die").Actor.Attributes["exitCode"]; c != "3" {
		t.Errorf("die of run --rm: exitCode %q, want 3", c)
	}
	for i := 1; i < len(all); i++ {
		if all[i].TimeNano < all[i-1].TimeNano {
			t.Errorf("events out of order: %+v before %+v", all[i-1], all[i])
		}
	}

	// Filters.
	for _, c := range []struct {
		filters []string
		want    int
	}{
		{[]string{"event=die"}, 3},
		{[]string{"container=evbox"}, 7},
		{[]string{"container=" + bg[:12]}, 7},
		{[]string{"label=tier=web"}, 7},
		{[]string{"label=tier"}, 7},
		{[]string{"label=tier=db"}, 0},
		{[]string{"type=container", "event=kill"}, 2},
		{[]string{"event=start", "event=die"}, 6},
		{[]string{"container=evfg", "event=destroy"}, 1},
	} {
		args := []string{since, upto}
		for _, f := range c.filters {
			args = append(args, "--filter", f)
		}
		if got := e.events(args...); len(got) != c.want {
			t.Errorf("--filter %q: %d events, want %d", c.filters, len(got), c.want)
		}
	}
	// --until and --since cut at an event's time.
	pause := eventOf(t, all, bg, "pause").TimeNano
	if got := actionsOf(e.events(since, "--until="+unixTime(time.Unix(0, pause))), bg); !slices.Equal(got, []string{"create", "start", "pause"}) {
		t.Errorf("--until the pause: %q", got)
	}
	if got := actionsOf(e.events("--since="+unixTime(time.Unix(0, pause+1)), upto), bg); !slices.Equal(got, []string{"unpause", "kill", "die", "destroy"}) {
		t.Errorf("--since after the pause: %q", got)
	}
	// A template.
	r := e.mustRun(0, "events", since, upto, "--filter", "container=evfg", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
	if r.stdout != "create evfg <no value>\nstart evfg <no value>\ndie evfg 3\ndestroy evfg <no value>\n" { // as Docker prints a missing key
		t.Errorf("events --format template: %q", r.stdout)
	}
	// The default format: Docker's line.
	r = e.mustRun(0, "events", since, upto, "--filter", "event=die", "--filter", "container=evbox")
	if want := " container die " + bg + " (exitCode=137, image=" + rootfsDir + ", name=evbox, tier=web)\n"; !strings.HasSuffix(r.stdout, want) || len(lines(r.stdout)) != 1 {
		t.Errorf("events: %q, want a line ending in %q", r.stdout, want)
	}
	for _, bad := range [][]string{{"--filter", "nope=1"}, {"--filter", "event"}, {"--since", "yesterday"}, {"--format", "{{.Nope"}} {
		if r := e.run(append([]string{"events", upto}, bad...)...); r.code != 125 || len(lines(r.stderr)) != 1 {
			t.Errorf("events %q: want 125 and one line:\n%s", bad, r)
		}
	}
}

// TestEventsFollow: events follows the log as containers come and go, until
// interrupted (exit 0), or until --until has passed. A line cut short in the
// log (a writer killed half-way) is skipped, and the events after it are
// whole.
func TestEventsFollow(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	start := time.Now()
	cmd := e.command("events", "--since", unixTime(start), "--filter", "container=evfollow", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	got := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
		done <- cmd.Wait()
	}()
	// A torn line before the container's events.
	if err := os.WriteFile(filepath.Join(e.root, "events.log"), []byte(`{"status":"create","id":"torn","Type":"container","Action":"cre`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(4, "run", "--rm", "--name", "evfollow", rootfsDir, "sh", "-c", "exit 4")
	var seen []string
	for len(seen) < 4 {
		select {
		case l, ok := <-got:
			if !ok {
				t.Fatalf("events ended early: %q", seen)
			}
			seen = append(seen, l)
		case <-time.After(timeout(20 * time.Second)):
			t.Fatalf("events followed %q only", seen)
		}
	}
	if want := []string{"create <no value>", "start <no value>", "die 4", "destroy <no value>"}; !slices.Equal(seen, want) {
		t.Errorf("followed %q, want %q", seen, want)
	}
	cmd.Process.Signal(unix.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("events after SIGINT: %v", err)
		}
	case <-time.After(timeout(10 * time.Second)):
		t.Errorf("events did not end on SIGINT")
	}
	// --until a moment ahead: it follows until then, and ends by itself.
	r := e.mustRun(0, "events", "--since", unixTime(start), "--until", unixTime(time.Now().Add(time.Second)), "--format", "{{.Action}}")
	if got := lines(r.stdout); len(got) != 4 {
		t.Errorf("events --until ahead: %q", got)
	}
}

// TestEventsOOM: a container the OOM killer ends gives an oom event, then
// its die with exit code 137.
func TestEventsOOM(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	start := time.Now()
	e.mustRun(137, "run", "--rm", "--name", "evoom", "--memory-limit", "10485760", "--memory-swappiness", "0", rootfsDir, "memory-test")
	evs := e.events("--since", unixTime(start), "--until", unixTime(time.Now()), "--filter", "container=evoom")
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action+ev.Actor.Attributes["exitCode"])
	}
	if want := []string{"create", "start", "oom", "die137", "destroy"}; !slices.Equal(got, want) {
		t.Errorf("events of an OOM-killed container: %q, want %q", got, want)
	}
}
