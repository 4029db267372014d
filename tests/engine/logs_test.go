package engine

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// waitLogLines waits until `logs` of id shows want lines in all, and returns
// what it printed.
func (e *env) waitLogLines(id string, want int) result {
	e.t.Helper()
	var r result
	testutil.WaitFor(e.t, 10*time.Second, "the container's output in its log", func() bool {
		r = e.mustRun(0, "logs", id)
		return len(lines(r.stdout))+len(lines(r.stderr)) >= want
	})
	return r
}

func TestLogsStreams(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--name", "talker", rootfsDir, "sh", "-c", "echo out; echo err >&2; echo more; sleep 100")
	r := e.waitLogLines(id, 3)
	if r.stdout != "out\nmore\n" || r.stderr != "err\n" {
		t.Errorf("logs: stdout %q (want \"out\\nmore\\n\"), stderr %q (want \"err\\n\")", r.stdout, r.stderr)
	}
	// By name, and by id prefix.
	if r := e.mustRun(0, "logs", "talker"); r.stdout != "out\nmore\n" {
		t.Errorf("logs by name: %q", r.stdout)
	}
	if r := e.mustRun(0, "logs", id[:8]); r.stderr != "err\n" {
		t.Errorf("logs by id prefix: stderr %q", r.stderr)
	}
	r = e.run("logs", "no-such-box")
	if r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("logs of a missing container: want 125 and \"no such container\":\n%s", r)
	}
}

func TestLogsTailTimestampsSince(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Add(-time.Second)
	id := e.runDetached(rootfsDir, "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.3; echo oops >&2; sleep 100")
	e.waitLogLines(id, 6)

	if r := e.mustRun(0, "logs", "--tail", "2", id); r.stdout != "line5\n" || r.stderr != "oops\n" {
		t.Errorf("--tail 2: stdout %q stderr %q, want line5 and oops", r.stdout, r.stderr)
	}
	if r := e.mustRun(0, "logs", "-n", "3", id); r.stdout != "line4\nline5\n" {
		t.Errorf("-n 3: stdout %q", r.stdout)
	}
	if r := e.mustRun(0, "logs", "--tail", "0", id); r.stdout != "" || r.stderr != "" {
		t.Errorf("--tail 0 printed %q %q", r.stdout, r.stderr)
	}
	if r := e.mustRun(0, "logs", "--tail", "all", id); len(lines(r.stdout)) != 5 {
		t.Errorf("--tail all: %q", r.stdout)
	}

	r := e.mustRun(0, "logs", "-t", "--tail", "2", id)
	ts := regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) line5\n$`)
	m := ts.FindStringSubmatch(r.stdout)
	if m == nil || !regexp.MustCompile(`^\S+Z oops\n$`).MatchString(r.stderr) {
		t.Fatalf("-t: stdout %q stderr %q, want RFC 3339 nano timestamps", r.stdout, r.stderr)
	}
	when, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil || when.Before(before) || when.After(time.Now()) {
		t.Errorf("-t: timestamp %s (%v) is not the time of the line", m[1], err)
	}

	// --since: durations, Unix seconds, RFC 3339.
	for _, since := range []string{"1m", strconv.FormatInt(before.Unix(), 10), before.UTC().Format(time.RFC3339)} {
		if r := e.mustRun(0, "logs", "--since", since, id); len(lines(r.stdout)) != 5 {
			t.Errorf("--since %s: %q, want every line", since, r.stdout)
		}
	}
	future := time.Now().Add(time.Hour)
	for _, since := range []string{strconv.FormatInt(future.Unix(), 10), future.UTC().Format(time.RFC3339Nano)} {
		if r := e.mustRun(0, "logs", "--since", since, id); r.stdout != "" || r.stderr != "" {
			t.Errorf("--since %s (the future): %q %q", since, r.stdout, r.stderr)
		}
	}
	if r := e.mustRun(0, "logs", "--since", m[1], "--tail", "all", id); r.stdout != "line5\n" {
		t.Errorf("--since the time of line5: %q", r.stdout)
	}
	if r := e.mustRun(0, "logs", "--until", before.UTC().Format(time.RFC3339Nano), id); r.stdout != "" {
		t.Errorf("--until before the start: %q", r.stdout)
	}

	for _, bad := range [][]string{{"--since", "yesterday"}, {"--tail", "-5"}, {"--tail", "x"}} {
		r := e.run(append(append([]string{"logs"}, bad...), id)...)
		if r.code != 125 || !strings.Contains(r.stderr, "invalid argument") {
			t.Errorf("logs %s: want exit 125 and invalid argument:\n%s", strings.Join(bad, " "), r)
		}
	}
}

// follower is a running `sdocker logs -f`.
type follower struct {
	exited      chan struct{} // closed when it returned
	err         error         // its Wait error, once exited
	out, errOut *testutil.SyncBuffer
}

func (e *env) follow(args ...string) *follower {
	e.t.Helper()
	f := &follower{exited: make(chan struct{}), out: &testutil.SyncBuffer{}, errOut: &testutil.SyncBuffer{}}
	cmd := e.command(append([]string{"logs", "-f"}, args...)...)
	cmd.Stdout, cmd.Stderr = f.out, f.errOut
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { f.err = cmd.Wait(); close(f.exited) }()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-f.exited
	})
	return f
}

func (f *follower) running() bool {
	select {
	case <-f.exited:
		return false
	default:
		return true
	}
}

// wait waits up to d for logs -f to return by itself.
func (f *follower) wait(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case <-f.exited:
		if f.err != nil {
			t.Errorf("logs -f: %v (stderr %q)", f.err, f.errOut.String())
		}
	case <-time.After(timeout(d)):
		t.Fatalf("logs -f did not return %s", what)
	}
}

// TestLogsFollow: lines written after `logs -f` started reach it, in their
// streams, and it returns once the container has ended on its own.
func TestLogsFollow(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sh", "-c", "echo start; sleep 1; echo later; sleep 0.5; echo bye >&2; sleep 0.5; echo last")
	e.waitLogLines(id, 1)
	f := e.follow(id)
	testutil.WaitFor(t, 5*time.Second, "logs -f to print the first line", func() bool { return f.out.String() == "start\n" })
	if !f.running() {
		t.Fatalf("logs -f returned while the container runs: out %q", f.out.String())
	}
	testutil.WaitFor(t, 5*time.Second, "logs -f to print a later line", func() bool { return f.out.String() == "start\nlater\n" })
	testutil.WaitFor(t, 5*time.Second, "logs -f to print a later stderr line", func() bool { return f.errOut.String() == "bye\n" })
	f.wait(t, 10*time.Second, "after the container ended")
	if got := f.out.String(); got != "start\nlater\nlast\n" {
		t.Errorf("logs -f stdout %q, want start, later, last", got)
	}
	if c := e.inspect(id); c.State.Status != "exited" || c.State.ExitCode != 0 {
		t.Errorf("after the end: state %+v", c.State)
	}
}

// TestLogsFollowStop: `logs -f` returns when the container is stopped.
func TestLogsFollowStop(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sh", "-c", "echo up; exec sleep 100")
	e.waitLogLines(id, 1)
	f := e.follow("--tail", "1", id)
	testutil.WaitFor(t, 5*time.Second, "logs -f to print the line", func() bool { return f.out.String() == "up\n" })
	time.Sleep(300 * time.Millisecond)
	if !f.running() {
		t.Fatal("logs -f returned while the container runs")
	}
	e.mustRun(0, "stop", "-t", "1", id)
	f.wait(t, 5*time.Second, "after stop")
}

// TestLogsForeground: a container run in the foreground keeps no log:
// logs (and logs -f) print nothing and succeed.
func TestLogsForeground(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun(0, "run", "--name", "fg", rootfsDir, "echo", "hello")
	if r.stdout != "hello\n" {
		t.Fatalf("run: %s", r)
	}
	t.Cleanup(func() { e.remove("fg") })
	for _, args := range [][]string{{"logs", "fg"}, {"logs", "-f", "fg"}} {
		start := time.Now()
		if r := e.mustRun(0, args...); r.stdout != "" || r.stderr != "" {
			t.Errorf("%s: %s", strings.Join(args, " "), r)
		}
		if d := time.Since(start); d > timeout(3*time.Second) {
			t.Errorf("%s took %s", strings.Join(args, " "), d)
		}
	}
}
