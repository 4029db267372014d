package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"-5s", now.Add(-5 * time.Second)},
		{"1714557600", time.Unix(1714557600, 0)},
		{"1714557600.5", time.Unix(1714557600, 500000000)},
		{"1714557600.000000001", time.Unix(1714557600, 1)},
		{"2024-05-01T10:00:00Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01T10:00:00.25Z", time.Date(2024, 5, 1, 10, 0, 0, 250000000, time.UTC)},
		{"2024-05-01T12:00:00+02:00", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01T10:00:00", time.Date(2024, 5, 1, 10, 0, 0, 0, time.Local)},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local)},
	} {
		got, err := ParseSince(tc.in, now)
		if err != nil {
			t.Errorf("ParseSince(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "10 minutes", "2024-13-01", "12ab", "1.2.3"} {
		if _, err := ParseSince(bad, now); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseSince(%q): err %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestParseTail(t *testing.T) {
	for in, want := range map[string]int{"": -1, "all": -1, "-1": -1, "0": 0, "5": 5, " 12 ": 12} {
		got, err := ParseTail(in)
		if err != nil || got != want {
			t.Errorf("ParseTail(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "-2", "1.5"} {
		if _, err := ParseTail(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseTail(%q): err %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestTailOffset(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
		want string // what follows the offset
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"}, // a line being written counts
		{"a\nb\nc", 2, "b\nc"},
		{"\n\n\n", 2, "\n\n"},
	} {
		off, err := TailOffset(strings.NewReader(tc.data), tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.data[off:]; got != tc.want {
			t.Errorf("tail %d of %q = %q, want %q", tc.n, tc.data, got, tc.want)
		}
	}
	// Across block boundaries: lines of 1000 bytes, many 64 KiB blocks.
	var b strings.Builder
	line := strings.Repeat("x", 999) + "\n"
	for range 500 {
		b.WriteString(line)
	}
	data := b.String()
	for _, n := range []int{1, 65, 66, 130, 499, 500, 501} {
		off, err := TailOffset(strings.NewReader(data), n)
		if err != nil {
			t.Fatal(err)
		}
		want := min(n, 500) * 1000
		if got := len(data) - int(off); got != want {
			t.Errorf("tail %d of 500 lines: %d bytes, want %d", n, got, want)
		}
	}
}

// testEngine is an engine on a temporary root with one exited container
// whose log holds entries.
func testEngine(t *testing.T, entries []LogEntry) (*Engine, *Record) {
	t.Helper()
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Record{ID: strings.Repeat("ab", 32), Name: "box", Status: StateExited, Detached: true, Created: time.Now()}
	if err := os.Mkdir(e.containerDir(r.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	r.Spec = &specs.Spec{
		Process: &specs.Process{Args: []string{"true"}},
		Linux:   &specs.Linux{CgroupsPath: "/sdocker/" + r.ID},
		Root:    &specs.Root{Path: "/"},
	}
	if err := e.saveSpec(r); err != nil {
		t.Fatal(err)
	}
	if err := e.save(r); err != nil {
		t.Fatal(err)
	}
	if entries != nil {
		appendLog(t, e, r, entries...)
	}
	return e, r
}

func appendLog(t *testing.T, e *Engine, r *Record, entries ...LogEntry) {
	t.Helper()
	f, err := os.OpenFile(e.LogPath(r.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ent := range entries {
		b, _ := json.Marshal(ent)
		f.Write(append(b, '\n'))
	}
}

func TestLogs(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	entries := []LogEntry{
		{Log: "one\n", Stream: "stdout", Time: t0},
		{Log: "oops\n", Stream: "stderr", Time: t0.Add(time.Second)},
		{Log: "two\n", Stream: "stdout", Time: t0.Add(2 * time.Second)},
		{Log: "three", Stream: "stdout", Time: t0.Add(3 * time.Second)}, // no newline: a partial write
	}
	e, r := testEngine(t, entries)
	run := func(o LogsOptions) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		o.Stdout, o.Stderr = &out, &errOut
		if err := e.Logs("box", o); err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String()
	}
	if out, errOut := run(LogsOptions{Tail: -1}); out != "one\ntwo\nthree" || errOut != "oops\n" {
		t.Errorf("logs: stdout %q stderr %q", out, errOut)
	}
	if out, errOut := run(LogsOptions{Tail: 2}); out != "two\nthree" || errOut != "" {
		t.Errorf("logs --tail 2: stdout %q stderr %q", out, errOut)
	}
	if out, _ := run(LogsOptions{Tail: 0}); out != "" {
		t.Errorf("logs --tail 0: stdout %q", out)
	}
	if out, errOut := run(LogsOptions{Tail: -1, Since: t0.Add(time.Second)}); out != "two\nthree" || errOut != "oops\n" {
		t.Errorf("logs --since: stdout %q stderr %q", out, errOut)
	}
	if out, errOut := run(LogsOptions{Tail: -1, Until: t0.Add(time.Second)}); out != "one\n" || errOut != "oops\n" {
		t.Errorf("logs --until: stdout %q stderr %q", out, errOut)
	}
	out, _ := run(LogsOptions{Tail: 1, Timestamps: true})
	if want := "2024-05-01T10:00:03.000000000Z three"; out != want {
		t.Errorf("logs -t --tail 1 = %q, want %q", out, want)
	}
	// Follow on a container that no longer runs: everything, then return.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if out, _ := run(LogsOptions{Tail: -1, Follow: true, PollInterval: 10 * time.Millisecond}); out != "one\ntwo\nthree" {
			t.Errorf("logs -f of an exited container: %q", out)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("logs -f of an exited container did not return")
	}
	if err := e.Logs("nope", LogsOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("logs of a missing container: %v, want ErrNotFound", err)
	}
	_ = r
}

func TestLogsNoLog(t *testing.T) {
	e, r := testEngine(t, nil)
	var out bytes.Buffer
	if err := e.Logs(r.ID, LogsOptions{Tail: -1, Follow: true, Stdout: &out}); err != nil || out.Len() != 0 {
		t.Errorf("logs -f without a log: %q, %v", out.String(), err)
	}
}

// TestLogsFollow plays the monitor: it holds the container's lock while it
// appends lines (one in two writes), and Logs -f returns once the lock is
// released and the log drained.
func TestLogsFollow(t *testing.T) {
	e, r := testEngine(t, []LogEntry{{Log: "first\n", Stream: "stdout", Time: time.Now()}})
	lock, err := e.holdContainer(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- e.Logs(r.ID, LogsOptions{Tail: -1, Follow: true, Stdout: &out, Stderr: &errOut, PollInterval: 5 * time.Millisecond})
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if !testutil.Poll(5*time.Second, cond) {
			t.Fatalf("timed out waiting for %s (stdout %q, stderr %q)", what, out.String(), errOut.String())
		}
	}
	waitFor("the first line", func() bool { return out.String() == "first\n" })
	appendLog(t, e, r, LogEntry{Log: "warn\n", Stream: "stderr", Time: time.Now()})
	waitFor("a line on stderr", func() bool { return errOut.String() == "warn\n" })

	// Half an entry, then the rest: printed once whole.
	b, _ := json.Marshal(LogEntry{Log: "second\n", Stream: "stdout", Time: time.Now()})
	f, err := os.OpenFile(e.LogPath(r.ID), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b[:10])
	time.Sleep(30 * time.Millisecond)
	f.Write(append(b[10:], '\n'))
	waitFor("the second line", func() bool { return out.String() == "first\nsecond\n" })

	select {
	case err := <-done:
		t.Fatalf("logs -f returned while the container runs: %v", err)
	default:
	}
	// The last line lands just before the container ends.
	b, _ = json.Marshal(LogEntry{Log: "last\n", Stream: "stdout", Time: time.Now()})
	f.Write(append(b, '\n'))
	f.Close()
	lock.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("logs -f did not return after the container ended")
	}
	if got := out.String(); got != "first\nsecond\nlast\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestLogsFollowRemoved(t *testing.T) {
	e, r := testEngine(t, []LogEntry{{Log: "x\n", Stream: "stdout", Time: time.Now()}})
	if err := os.RemoveAll(filepath.Dir(e.LogPath(r.ID))); err != nil {
		t.Fatal(err)
	}
	if err := e.Logs(r.ID, LogsOptions{Follow: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("logs -f of a removed container: %v", err)
	}
}

// TestLogsTornLine: a line cut off by a full disk or a killed writer, with
// the next entry glued to it or on a line of its own, costs only itself.
func TestLogsTornLine(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	e, r := testEngine(t, []LogEntry{{Log: "one\n", Stream: "stdout", Time: t0}})
	f, err := os.OpenFile(e.LogPath(r.ID), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"log":"cut off`)
	f.Close()
	appendLog(t, e, r, LogEntry{Log: "two\n", Stream: "stdout", Time: t0.Add(time.Second)})
	f, _ = os.OpenFile(e.LogPath(r.ID), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"log":"x\"{\"log\":\"y","stream":` + "\n" + `garbage` + "\n")
	f.Close()
	appendLog(t, e, r, LogEntry{Log: "three\n", Stream: "stderr", Time: t0.Add(2 * time.Second)})
	for _, o := range []LogsOptions{{Tail: -1}, {Tail: -1, Follow: true, PollInterval: time.Millisecond}} {
		var out, errOut bytes.Buffer
		o.Stdout, o.Stderr = &out, &errOut
		if err := e.Logs("box", o); err != nil {
			t.Fatal(err)
		}
		if out.String() != "one\ntwo\n" || errOut.String() != "three\n" {
			t.Errorf("logs (follow %v) of a log with torn lines: stdout %q stderr %q", o.Follow, out.String(), errOut.String())
		}
	}
}
