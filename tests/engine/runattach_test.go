package engine

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestRunAttachStreams: run -a shows only the streams it names; -a stdin
// passes stdin; bad values and -a with -d or create are refused.
func TestRunAttachStreams(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	both := "echo out; echo err >&2"
	if r := e.mustRun(0, "run", "--rm", "-a", "stdout", rootfsDir, "sh", "-c", both); r.stdout != "out\n" || strings.Contains(r.stderr, "err") {
		t.Errorf("-a stdout:\n%s", r)
	}
	if r := e.mustRun(0, "run", "--rm", "-a", "STDERR", rootfsDir, "sh", "-c", both); r.stdout != "" || !strings.Contains(r.stderr, "err\n") {
		t.Errorf("-a stderr:\n%s", r)
	}
	if r := e.mustRun(0, "run", "--rm", "-a", "stdout", "-a", "stderr", rootfsDir, "sh", "-c", both); r.stdout != "out\n" || !strings.Contains(r.stderr, "err\n") {
		t.Errorf("-a stdout -a stderr:\n%s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "stdin", "-a", "stdout"}, "piped\n"},
		{[]string{"-i", "-a", "stdout"}, ""}, // stdin not attached
		{[]string{"-i"}, "piped\n"},
	} {
		cmd := e.command(append(append([]string{"run", "--rm"}, tc.args...), rootfsDir, "cat")...)
		cmd.Stdin = strings.NewReader("piped\n")
		out, err := cmd.Output()
		if err != nil || string(out) != tc.want {
			t.Errorf("run %s cat: %q, %v; want %q", strings.Join(tc.args, " "), out, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"run", "--rm", "-a", "stdio", rootfsDir, "true"},
		{"run", "-d", "-a", "stdout", rootfsDir, "true"},
		{"create", "-a", "stdout", rootfsDir, "true"},
	} {
		if r := e.run(args...); r.code != 125 || len(lines(r.stderr)) != 1 || r.stdout != "" {
			t.Errorf("want 125 and one line:\n%s", r)
		}
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("containers left: %q", r.stdout)
	}
}

// TestRunSigProxy: a foreground run passes SIGTERM to its container (the
// trap's status is run's); with --sig-proxy=false SIGTERM ends sdocker,
// and the container with it.
func TestRunSigProxy(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	script := `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done`
	for _, tc := range []struct {
		flag string
		code int // of sdocker
		out  string
	}{
		{"--sig-proxy=true", 3, "ready\ngot TERM\n"},
		{"--sig-proxy=false", 128 + int(syscall.SIGTERM), "ready\n"},
	} {
		name := strings.TrimPrefix(strings.ReplaceAll(tc.flag, "=", "-"), "--")
		cmd := e.command("run", "--name", name, tc.flag, rootfsDir, "sh", "-c", script)
		out := &testutil.SyncBuffer{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.remove(name) })
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		testutil.WaitFor(t, timeout(10*time.Second), "the container to be ready", func() bool { return out.String() == "ready\n" })
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(timeout(20 * time.Second)):
			_ = cmd.Process.Kill()
			t.Fatalf("run %s did not end after SIGTERM", tc.flag)
		}
		if code := statusOf(err); code != tc.code || out.String() != tc.out {
			t.Errorf("run %s after SIGTERM: exit %d, output %q; want %d, %q", tc.flag, statusOf(err), out, tc.code, tc.out)
		}
		// The container has ended either way (killed with its sdocker).
		e.waitStatus(name, "exited", timeout(10*time.Second))
	}
}
