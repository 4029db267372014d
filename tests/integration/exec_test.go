package integration

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestExec checks `sdocker exec` against a running container: it sees
// the container's processes and hostname, passes the exit status through,
// finds the container by id, prefix and name, and joins every namespace
// and cgroup of it.
func TestExec(t *testing.T) {
	e := newEnv(t)
	name := uniqueName(t, "ex")
	b, c := e.runBg(name, "-n", "box", rootfsDir, "sleep", "1000")

	t.Run("ps shows init and itself", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(0, "exec", name, "ps", "-e", "-o", "pid=,args=")
		lines := nonEmptyLines(r.stdout)
		if len(lines) != 2 {
			t.Fatalf("ps in exec shows %d processes, want 2:\n%s", len(lines), r.stdout)
		}
		if f := strings.Fields(lines[0]); f[0] != "1" || strings.Join(f[1:], " ") != "sleep 1000" {
			t.Errorf("first process %q, want PID 1 sleep 1000", lines[0])
		}
		if f := strings.Fields(lines[1]); strings.Join(f[1:], " ") != "ps -e -o pid=,args=" {
			t.Errorf("second process %q, want ps itself", lines[1])
		}
		if strings.Contains(r.stderr, "[+]") {
			t.Errorf("exec prints a start line: %q", r.stderr)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(0, "exec", name, "hostname")
		if got, want := strings.TrimSpace(r.stdout), "box@"+c.short(); got != want {
			t.Errorf("hostname in exec = %q, want %q", got, want)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		e := e.sub(t)
		e.mustRun(7, "exec", name, "sh", "-c", "exit 7")
		r := e.mustRun(127, "exec", name, "no-such-command")
		if len(errorLines(r.stderr)) != 1 {
			t.Errorf("want one error line, got %q", r.stderr)
		}
		e.mustRun(126, "exec", name, "/etc/passwd")
	})
	t.Run("id, prefix, name", func(t *testing.T) {
		e := e.sub(t)
		for _, ref := range []string{c.id, c.short(), c.id[:5], name} {
			r := e.mustRun(0, "exec", ref, "hostname")
			if got := strings.TrimSpace(r.stdout); got != "box@"+c.short() {
				t.Errorf("exec %s: hostname %q", ref, got)
			}
		}
	})
	t.Run("env, workdir, stdin", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(0, "exec", "-e", "FOO=bar", "-w", "/etc", name, "sh", "-c", `echo "$FOO $(pwd)"`)
		if got := strings.TrimSpace(r.stdout); got != "bar /etc" {
			t.Errorf("exec -e FOO=bar -w /etc: %q", got)
		}
		r = e.runWith(runOpts{stdin: "hi\n"}, "exec", "-i", name, "cat")
		if r.code != 0 || r.stdout != "hi\n" {
			t.Errorf("echo hi | sdocker exec -i: %s", r)
		}
	})
	t.Run("joins namespaces and cgroups", func(t *testing.T) {
		e := e.sub(t)
		x := e.start("exec", name, "sleep", "999")
		var pid int
		testutil.WaitFor(t, 30*time.Second, "the exec'd sleep 999 in the container's cgroup", func() bool {
			if x.exited() {
				t.Fatalf("exec ended early: %s", x)
			}
			for _, p := range cgroupPids(t, c.id) {
				if cmdline(p) == "sleep 999" {
					pid = p
					return true
				}
			}
			return false
		})
		for _, ns := range []string{"uts", "ipc", "mnt", "net", "pid", "cgroup"} {
			if got, want := nsInode(t, pid, ns), nsInode(t, c.pid, ns); got != want {
				t.Errorf("exec'd process: %s namespace %s, the container's is %s", ns, got, want)
			}
		}
		init, mine := procCgroups(t, c.pid), procCgroups(t, pid)
		ctrls := []string{""}
		if cgroupMode == 1 {
			ctrls = usedControllers()
		}
		for _, ctrl := range ctrls {
			if mine[ctrl] != init[ctrl] || !strings.HasSuffix(mine[ctrl], c.id) {
				t.Errorf("exec'd process: cgroup %q is %q, the container's is %q", ctrl, mine[ctrl], init[ctrl])
			}
		}
		unix.Kill(pid, unix.SIGKILL)
		if code := x.wait(timeout(30 * time.Second)); code != 137 {
			t.Errorf("exec of a process killed by SIGKILL: exit %d, want 137", code)
		}
	})
	t.Run("no such container", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(125, "exec", "no-such-container", "true")
		if l := errorLines(r.stderr); len(l) != 1 || !strings.Contains(l[0], "no-such-container") {
			t.Errorf("want one error line naming the container, got %q", r.stderr)
		}
	})
	t.Run("stopped container", func(t *testing.T) {
		e := e.sub(t)
		// Kill the init from the host: the container stops, its record stays.
		unix.Kill(c.pid, unix.SIGKILL)
		if code := b.wait(timeout(30 * time.Second)); code != 137 {
			t.Errorf("sdocker run of a container killed by SIGKILL: exit %d, want 137", code)
		}
		r := e.mustRun(125, "exec", name, "true")
		if l := errorLines(r.stderr); len(l) != 1 || !regexp.MustCompile(`not running|stopped|exited`).MatchString(l[0]) {
			t.Errorf("want one error line saying the container is not running, got %q", r.stderr)
		}
		assertNoCgroups(t, c.id)
	})
}

// TestIDsAndPrefixes runs several containers: their ids are distinct, 64
// hex digits in the store and 12 shown; a prefix two ids share is refused
// as ambiguous.
func TestIDsAndPrefixes(t *testing.T) {
	e := newEnv(t)
	var short []string
	byFirst := map[byte][]string{}
	ambiguous := ""
	// Runs until two ids share their first digit (at most 17 runs).
	for i := 0; i < 17 && (ambiguous == "" || i < 5); i++ {
		r := e.mustRun(0, "run", rootfsDir, "true")
		id := r.shortID()
		if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(id) {
			t.Fatalf("start line id %q: want 12 hex digits", id)
		}
		if slices.Contains(short, id) {
			t.Errorf("id %s given twice", id)
		}
		short = append(short, id)
		byFirst[id[0]] = append(byFirst[id[0]], id)
		if len(byFirst[id[0]]) == 2 && ambiguous == "" {
			ambiguous = id[:1]
		}
	}
	full := nonEmptyLines(e.mustRun(0, "ps", "-a", "-q", "--no-trunc").stdout)
	if len(full) != len(short) {
		t.Errorf("ps -a -q --no-trunc lists %d ids, want %d", len(full), len(short))
	}
	for _, id := range full {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Errorf("full id %q: want 64 hex digits", id)
		}
		if !slices.Contains(short, id[:12]) {
			t.Errorf("full id %s matches no start line", id)
		}
	}
	shown := nonEmptyLines(e.mustRun(0, "ps", "-a", "-q").stdout)
	slices.Sort(shown)
	slices.Sort(short)
	if !slices.Equal(shown, short) {
		t.Errorf("ps -a -q = %q, want %q", shown, short)
	}
	if ambiguous == "" {
		t.Fatalf("no two ids of 17 share a first digit?")
	}
	r := e.mustRun(125, "exec", ambiguous, "true")
	if l := errorLines(r.stderr); len(l) != 1 || !strings.Contains(l[0], "ambiguous") {
		t.Errorf("exec with the ambiguous prefix %q: want one error line saying so, got %q", ambiguous, r.stderr)
	}
}

// TestPs checks the table of `sdocker ps` and its -a and -q flags.
func TestPs(t *testing.T) {
	e := newEnv(t)
	up := uniqueName(t, "up")
	_, c := e.runBg(up, rootfsDir, "sleep", "1000")
	down := uniqueName(t, "down")
	r := e.mustRun(3, "run", "--name", down, rootfsDir, "sh", "-c", "exit 3")
	downID := r.shortID()

	list := e.ps()
	if len(list) != 1 {
		t.Fatalf("ps lists %d containers, want the running one: %+v", len(list), list)
	}
	p := list[0]
	if p.id != c.short() || p.name != up || p.pid != c.pid || p.command != "sleep 1000" ||
		!strings.HasPrefix(p.status, "Up ") || !strings.HasSuffix(p.line, " ago") {
		t.Errorf("ps line %q: want id %s, name %s, pid %d, command \"sleep 1000\", status Up, created ... ago", p.line, c.short(), up, c.pid)
	}
	if !testutil.ProcessRunning(p.pid) || cmdline(p.pid) != "sleep 1000" {
		t.Errorf("ps: pid %d is not the container's sleep (%q)", p.pid, cmdline(p.pid))
	}

	all := e.ps("-a")
	if len(all) != 2 {
		t.Fatalf("ps -a lists %d containers, want 2: %+v", len(all), all)
	}
	var found bool
	for _, p := range all {
		if p.id == downID {
			found = true
			if p.name != down || p.pid != 0 || !strings.HasPrefix(p.status, "Exited (3)") {
				t.Errorf("ps -a line %q: want name %s, pid -, Exited (3)", p.line, down)
			}
		}
	}
	if !found {
		t.Errorf("ps -a does not list the exited container %s", downID)
	}
	if q := nonEmptyLines(e.mustRun(0, "ps", "-q").stdout); !slices.Equal(q, []string{c.short()}) {
		t.Errorf("ps -q = %q, want [%s]", q, c.short())
	}
	q := nonEmptyLines(e.mustRun(0, "ps", "-a", "-q").stdout)
	slices.Sort(q)
	want := []string{c.short(), downID}
	slices.Sort(want)
	if !slices.Equal(q, want) {
		t.Errorf("ps -a -q = %q, want %q", q, want)
	}
}
