package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestRunInitExitStatus: --init runs the command behind sdocker-tini, PID
// 1 of the container, and passes its exit status through: its code, or
// 128+N for a death by signal N.
func TestRunInitExitStatus(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	r := e.mustRun(0, "run", "--rm", "--init", "--network", "none", rootfsDir,
		"sh", "-c", `tr '\0' ' ' </proc/1/cmdline; echo; echo $$`)
	if got := lines(r.stdout); len(got) != 2 || !strings.HasPrefix(got[0], "/sbin/docker-init -- sh -c") || got[1] == "1" {
		t.Errorf("with --init, PID 1 and the command's pid: %q, want /sbin/docker-init first and the command not PID 1", got)
	}
	e.mustRun(3, "run", "--rm", "--init", "--network", "none", rootfsDir, "sh", "-c", "exit 3")
	e.mustRun(137, "run", "--rm", "--init", "--network", "none", rootfsDir, "sh", "-c", "kill -KILL $$")
	// The init is read-only in the container.
	e.mustRun(0, "run", "--rm", "--init", "--network", "none", rootfsDir,
		"sh", "-c", "! sh -c ': > /sbin/docker-init' 2>/dev/null")
	// inspect and ps show the command as given, and the init apart.
	id := e.runDetached("--init", "--network", "none", "--ulimit", "nofile=100:200", "--stop-signal", "HUP", "--stop-timeout", "3",
		"--oom-score-adj", "10", "--group-add", "20", rootfsDir, "sleep", "100")
	want := "sleep [sleep 100] true [20] 10 [{nofile 100 200}] HUP 3"
	if got := e.state(id, "{{.Path}} {{.Config.Cmd}} {{.HostConfig.Init}} {{.HostConfig.GroupAdd}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.Ulimits}} {{.Config.StopSignal}} {{.Config.StopTimeout}}"); got != want {
		t.Errorf("inspect of a container with --init and process options: %q, want %q", got, want)
	}
	if r := e.mustRun(0, "ps"); !strings.Contains(r.stdout, "sleep 100") || strings.Contains(r.stdout, "docker-init") {
		t.Errorf("ps of a container with --init:\n%s", r.stdout)
	}
	r = e.mustRun(127, "run", "--rm", "--init", "--network", "none", rootfsDir, "no-such-command")
	if !strings.Contains(r.stderr, "no-such-command") {
		t.Errorf("--init of a missing command: %s", r)
	}
}

// TestRunInitStop: a program that sets no SIGTERM handler ignores stop as
// PID 1 (the kernel drops the signal) and dies of it behind --init (143,
// not the 137 of the SIGKILL after the timeout). A program that ignores
// SIGTERM itself still needs the SIGKILL, as with Docker's init.
func TestRunInitStop(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	cases := []struct {
		init bool
		cmd  string
		want string
	}{
		{false, "exec sleep 100", "137"},
		{true, "exec sleep 100", "143"},
		{true, `trap "" TERM; sleep 100`, "137"},
	}
	for _, c := range cases {
		args := []string{"--network", "none", rootfsDir, "sh", "-c", c.cmd}
		if c.init {
			args = append([]string{"--init"}, args...)
		}
		id := e.runDetached(args...)
		waitForCommand(t, e, id, "sleep")
		e.mustRun(0, "stop", "-t", "2", id)
		if got := e.state(id, "{{.State.ExitCode}}"); got != c.want {
			t.Errorf("init %v, %s: stopped with %s, want %s", c.init, c.cmd, got, c.want)
		}
	}
	// Any signal goes to the command's process group: kill -s USR1
	// reaches the shell's trap, whose status the init passes on.
	id := e.runDetached("--init", "--network", "none", rootfsDir, "sh", "-c", `trap "exit 9" USR1; touch /ready; while :; do sleep 0.1; done`)
	testutil.WaitFor(t, 20*time.Second, "the trap to be set", func() bool {
		return e.run("exec", id, "test", "-e", "/ready").code == 0
	})
	e.mustRun(0, "kill", "-s", "USR1", id)
	if got := e.mustRun(0, "wait", id).stdout; got != "9\n" {
		t.Errorf("kill -s USR1 behind --init: exit %q, want 9", got)
	}
}

// TestRunInitReapsOrphans: an orphan ends up the child of PID 1; without
// --init PID 1 (here sleep) never waits for it and it stays a zombie, with
// --init it is reaped.
func TestRunInitReapsOrphans(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	orphan := "(sleep 0.2 &); exec sleep 100"
	bare := e.runDetached("--network", "none", rootfsDir, "sh", "-c", orphan)
	testutil.WaitFor(t, 20*time.Second, "a zombie in the container without --init", func() bool {
		return zombies(t, e, bare) > 0
	})
	withInit := e.runDetached("--init", "--network", "none", rootfsDir, "sh", "-c", orphan)
	testutil.WaitFor(t, 20*time.Second, "the orphan to be gone with --init", func() bool {
		return len(containerProcesses(t, e, withInit)) == 2 // the init and sleep 100
	})
	if n := zombies(t, e, withInit); n != 0 {
		t.Errorf("%d zombies with --init", n)
	}
}

// containerProcesses are "COMM STATE" of the processes of the container
// but the exec's own.
func containerProcesses(t *testing.T, e *env, id string) []string {
	t.Helper()
	r := e.mustRun(0, "exec", id, "sh", "-c", `for f in /proc/[0-9]*/stat; do [ "${f#/proc/$$/}" = stat ] || cat $f 2>/dev/null; echo; done`)
	var out []string
	for _, l := range lines(r.stdout) {
		open, end := strings.Index(l, "("), strings.LastIndex(l, ")")
		if open < 0 || end < open || end+3 > len(l) {
			continue
		}
		comm, state := l[open+1:end], l[end+2:end+3]
		if comm == "cat" {
			continue
		}
		out = append(out, comm+" "+state)
	}
	return out
}

func zombies(t *testing.T, e *env, id string) int {
	n := 0
	for _, p := range containerProcesses(t, e, id) {
		if strings.HasSuffix(p, " Z") {
			n++
		}
	}
	return n
}

// waitForCommand waits until a process of the container runs comm.
func waitForCommand(t *testing.T, e *env, id, comm string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, comm+" to run in "+id[:12], func() bool {
		for _, p := range containerProcesses(t, e, id) {
			if strings.HasPrefix(p, comm+" ") {
				return true
			}
		}
		return false
	})
}

// TestRunUlimit: --ulimit sets the soft and hard limits; a soft limit above
// the hard one, an unknown name, and a hard limit the host cannot give
// are refused with exit 125 and leave no container.
func TestRunUlimit(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	r := e.mustRun(0, "run", "--rm", "--network", "none", "--ulimit", "nofile=1000:2000", "--ulimit", "core=0",
		rootfsDir, "sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -c")
	if r.stdout != "1000\n2000\n0\n" {
		t.Errorf("--ulimit nofile=1000:2000 core=0: %q", r.stdout)
	}
	bad := []string{"nofile=10:5", "bogus=1", "nofile=abc", "nofile", "=1"}
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err == nil && own.Max < 1<<20 && !hasCapSysResource() {
		bad = append(bad, "nofile=1048576")
	}
	for _, u := range bad {
		r := e.mustRun(125, "run", "--rm", "--network", "none", "--ulimit", u, rootfsDir, "true")
		if !strings.Contains(r.stderr, "--ulimit") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("--ulimit %s: want a one-line error naming --ulimit\n%s", u, r)
		}
	}
	if r := e.mustRun(0, "ps", "-aq"); r.stdout != "" {
		t.Errorf("containers left by refused runs: %q", r.stdout)
	}
}

func hasCapSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	return unix.Capget(&hdr, &data[0]) == nil && data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}

// TestRunProcessOptions: --oom-score-adj, --group-add (a gid and a name of
// the container's /etc/group), --label-file under --label, --cidfile.
func TestRunProcessOptions(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	r := e.mustRun(0, "run", "--rm", "--network", "none", "--oom-score-adj", "500", "--group-add", "1234", "--group-add", "tty",
		rootfsDir, "sh", "-c", "cat /proc/self/oom_score_adj; grep ^Groups: /proc/self/status")
	if got := lines(r.stdout); len(got) != 2 || got[0] != "500" || strings.Join(strings.Fields(got[1]), " ") != "Groups: 5 1234" {
		t.Errorf("--oom-score-adj 500 --group-add 1234 --group-add tty: %q", got)
	}
	e.mustRun(125, "run", "--rm", "--network", "none", "--oom-score-adj", "1001", rootfsDir, "true")
	e.mustRun(125, "run", "--rm", "--network", "none", "--group-add", "nosuchgroup", rootfsDir, "true")

	dir := t.TempDir()
	labels := filepath.Join(dir, "labels")
	if err := os.WriteFile(labels, []byte("# a comment\na=1\n\nb=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cid := filepath.Join(dir, "cid")
	id := e.runDetached("--network", "none", "--label-file", labels, "--label", "b=3", "--cidfile", cid, rootfsDir, "sleep", "100")
	if got := e.state(id, "{{.Config.Labels}}"); got != "map[a:1 b:3]" {
		t.Errorf("--label-file a=1 b=2, --label b=3: labels %s", got)
	}
	if b, err := os.ReadFile(cid); err != nil || string(b) != id {
		t.Errorf("--cidfile: %q, %v; want %s", b, err, id)
	}
	// The file exists: refused, nothing made.
	r = e.mustRun(125, "run", "-d", "--network", "none", "--cidfile", cid, rootfsDir, "sleep", "100")
	if !strings.Contains(r.stderr, "--cidfile") {
		t.Errorf("a second run with the same --cidfile: %s", r)
	}
	if r := e.mustRun(0, "ps", "-aq", "--no-trunc"); strings.TrimSpace(r.stdout) != id {
		t.Errorf("containers after the refused run: %q, want %s only", r.stdout, id)
	}
	e.mustRun(125, "run", "--rm", "--network", "none", "--label-file", filepath.Join(dir, "missing"), rootfsDir, "true")
}

// TestRunStopSignalAndTimeout: stop sends --stop-signal first, and waits
// the container's --stop-timeout unless given -t.
func TestRunStopSignalAndTimeout(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--network", "none", "--stop-signal", "USR1", rootfsDir,
		"sh", "-c", `trap "exit 7" USR1; trap "" TERM; touch /ready; while :; do sleep 0.1; done`)
	testutil.WaitFor(t, 20*time.Second, "the traps to be set", func() bool {
		return e.run("exec", id, "test", "-e", "/ready").code == 0
	})
	e.mustRun(0, "stop", "-t", "30", id)
	if got := e.state(id, "{{.State.ExitCode}}"); got != "7" {
		t.Errorf("stop with --stop-signal USR1: exit %s, want 7 (the USR1 trap's)", got)
	}
	e.mustRun(125, "run", "--rm", "--network", "none", "--stop-signal", "NOSUCH", rootfsDir, "true")
	e.mustRun(125, "run", "--rm", "--network", "none", "--stop-timeout", "-2", rootfsDir, "true")

	// --stop-timeout 0: SIGKILL at once, well before stop's default 10 s.
	id = e.runDetached("--network", "none", "--stop-timeout", "0", rootfsDir, "sh", "-c", ignoreTerm)
	start := time.Now()
	e.mustRun(0, "stop", id)
	if took := time.Since(start); took > 9*time.Second {
		t.Errorf("stop of a container with --stop-timeout 0 took %s", took)
	}
	if got := e.state(id, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("stop with --stop-timeout 0: exit %s, want 137", got)
	}
}
