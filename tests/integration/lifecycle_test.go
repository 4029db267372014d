package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestExitStatus checks Docker's exit statuses: the container's own, 126
// not executable, 127 not found, 128+N for a signal.
func TestExitStatus(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "exit 130"}, 130},
		{[]string{"no-such-command"}, 127},
		{[]string{"/no/such/file"}, 127},
		{[]string{"/etc/passwd"}, 126},
		{[]string{"/etc"}, 126},
		{[]string{""}, 127}, // as Docker: exec: "": executable file not found
	} {
		t.Run(fmt.Sprintf("%q", tc.args), func(t *testing.T) {
			e := e.sub(t)
			r := e.run(append([]string{"run", rootfsDir}, tc.args...)...)
			if r.code != tc.want {
				t.Errorf("want exit %d, got:\n%s", tc.want, r)
			}
			if tc.want >= 126 && tc.want <= 127 && len(errorLines(r.stderr)) != 1 {
				t.Errorf("want one sdocker: line on stderr, got %q", r.stderr)
			}
			assertNoCgroups(t, r.shortID())
		})
	}
	t.Run("killed by a signal", func(t *testing.T) {
		e := e.sub(t)
		b, c := e.runBg(uniqueName(t, "sig"), rootfsDir, "sleep", "1000")
		unix.Kill(c.pid, unix.SIGKILL)
		if code := b.wait(timeout(30 * time.Second)); code != 128+int(unix.SIGKILL) {
			t.Errorf("init killed by SIGKILL: exit %d, want 137", code)
		}
		assertNoCgroups(t, c.id)
	})
}

// TestSignalsForwarded sends SIGTERM, SIGINT and SIGHUP to `sdocker run`:
// each reaches the container, whose trap decides the exit status.
func TestSignalsForwarded(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{unix.SIGTERM, "TERM", 42},
		{unix.SIGINT, "INT", 43},
		{unix.SIGHUP, "HUP", 44},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.sub(t)
			script := fmt.Sprintf(`trap "exit %d" %s; echo ready; while :; do sleep 0.1; done`, tc.code, tc.name)
			b := e.start("run", rootfsDir, "sh", "-c", script)
			b.waitOutput("ready\n", 30*time.Second)
			if err := b.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := b.wait(timeout(30 * time.Second)); code != tc.code {
				t.Errorf("SIG%s to sdocker run: exit %d, want %d (the trap's)\n%s", tc.name, code, tc.code, b)
			}
			if m := startLine.FindStringSubmatch(b.stderr.String()); m != nil {
				assertNoCgroups(t, m[1])
			}
		})
	}
}

// TestEverySignalForwarded sends a foreground `sdocker run` and `sdocker
// exec` each catchable signal in turn (SIGQUIT, SIGUSR1, job control,
// SIGWINCH without a terminal, real-time ones...): each reaches the
// container's process, whose traps print it, while the command keeps
// running and dumps nothing of its own; SIGTERM then ends the process with
// its trap's status.
func TestEverySignalForwarded(t *testing.T) {
	e := newEnv(t)
	sigs := []struct {
		sig  syscall.Signal
		trap string
	}{
		{unix.SIGQUIT, "QUIT"}, {unix.SIGUSR1, "USR1"}, {unix.SIGUSR2, "USR2"}, {unix.SIGHUP, "HUP"},
		{unix.SIGINT, "INT"}, {unix.SIGWINCH, "WINCH"}, {unix.SIGALRM, "ALRM"}, {unix.SIGTSTP, "TSTP"},
		{unix.SIGTTIN, "TTIN"}, {unix.SIGTTOU, "TTOU"}, {unix.SIGCONT, "CONT"}, {unix.SIGABRT, "ABRT"},
		{unix.SIGSEGV, "SEGV"}, {syscall.Signal(35), "35"}, {syscall.Signal(64), "64"},
	}
	var traps []string
	for _, s := range sigs {
		traps = append(traps, fmt.Sprintf(`trap "echo got %s" %s;`, s.trap, s.trap))
	}
	script := strings.Join(traps, " ") + ` trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done`
	check := func(t *testing.T, b *bgProc) {
		b.waitOutput("ready\n", 30*time.Second)
		for _, s := range sigs {
			if err := b.cmd.Process.Signal(s.sig); err != nil {
				t.Fatal(err)
			}
			b.waitOutput("got "+s.trap+"\n", 30*time.Second)
		}
		if err := b.cmd.Process.Signal(unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := b.wait(timeout(30 * time.Second)); code != 42 {
			t.Errorf("exit %d, want 42 (the TERM trap's)\n%s", code, b)
		}
		if strings.Contains(b.stderr.String(), "goroutine") {
			t.Errorf("a goroutine dump on stderr:\n%s", b)
		}
	}
	t.Run("run", func(t *testing.T) {
		e := e.sub(t)
		check(t, e.start("run", "--rm", rootfsDir, "sh", "-c", script))
	})
	t.Run("exec", func(t *testing.T) {
		e := e.sub(t)
		name := uniqueName(t, "sigexec")
		b, _ := e.runBg(name, rootfsDir, "sleep", "1000")
		check(t, e.start("exec", name, "sh", "-c", script))
		e.mustRun(0, "rm", "-f", name)
		b.wait(timeout(30 * time.Second))
	})
}

// TestQuitEndsQuietly: SIGQUIT to a command that proxies no signals ends it
// with status 131, without the Go runtime's goroutine dump.
func TestQuitEndsQuietly(t *testing.T) {
	e := newEnv(t)
	b := e.start("stats")
	testutil.WaitFor(t, 30*time.Second, "stats to print its header", func() bool {
		return strings.Contains(b.stdout.String(), "CONTAINER")
	})
	if err := b.cmd.Process.Signal(unix.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(timeout(30 * time.Second)); code != 131 {
		t.Errorf("exit %d, want 131\n%s", code, b)
	}
	if strings.Contains(b.stderr.String(), "goroutine") {
		t.Errorf("a goroutine dump on stderr:\n%s", b)
	}
}

// TestRunKilled SIGKILLs `sdocker run`: the container dies with it, and the
// next sdocker command collects what was left (cgroups removed, container
// marked exited, or removed with --rm).
func TestRunKilled(t *testing.T) {
	e := newEnv(t)
	for _, rm := range []bool{false, true} {
		t.Run(fmt.Sprintf("rm=%v", rm), func(t *testing.T) {
			e := e.sub(t)
			name := uniqueName(t, "killed")
			args := []string{"run", "--name", name}
			if rm {
				args = append(args, "--rm")
			}
			b := e.start(append(args, rootfsDir, "sleep", "1000")...)
			c := e.waitRunning(b, name)
			if err := b.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if code := b.wait(timeout(30 * time.Second)); code != 137 {
				t.Errorf("sdocker run killed: exit %d, want 137", code)
			}
			// The init is ours now (subreaper): it must die without help.
			if !reapPid(c.pid, timeout(10*time.Second)) {
				t.Errorf("the container's init %d outlived its sdocker run process", c.pid)
			}
			r := e.mustRun(0, "ps")
			if strings.Contains(r.stdout, name) {
				t.Errorf("ps after the kill still lists %s as running:\n%s", name, r.stdout)
			}
			assertNoCgroups(t, c.id)
			var line string
			for _, p := range e.ps("-a") {
				if p.name == name {
					line = p.line
					if !strings.HasPrefix(p.status, "Exited (137)") {
						t.Errorf("ps -a: %q, want Exited (137)", p.line)
					}
				}
			}
			_, err := os.Stat(filepath.Join(e.root, "containers", c.id))
			switch {
			case rm && (line != "" || err == nil):
				t.Errorf("--rm: container %s left (ps -a: %q, record: %v)", name, line, err)
			case !rm && line == "":
				t.Errorf("container %s not listed by ps -a after the kill", name)
			}
		})
	}
}
