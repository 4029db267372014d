package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// sections splits the output of a script that prints "== NAME" lines
// before each part into NAME -> text.
func sections(out string) map[string]string {
	m := map[string]string{}
	cur := ""
	for _, l := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimRight(l, "\n"), "== "); ok {
			cur = name
			m[cur] = ""
			continue
		}
		m[cur] += l
	}
	return m
}

// insideScript prints what TestRunInside checks, section by section.
const insideScript = `
echo "== pid"; echo $$
echo "== hostname"; hostname
echo "== ps"; ps -e -o pid=,ppid=,args=
echo "== caps"; grep '^Cap' /proc/self/status
echo "== ns"; for n in uts ipc mnt net pid cgroup; do echo "$n $(readlink /proc/self/ns/$n)"; done
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== dev"; ls -l /dev
echo "== net"; ls /sys/class/net
echo "== loflags"; cat /sys/class/net/lo/flags
echo "== cgroup"; cat /proc/self/cgroup
echo "== sysrw"; if touch /sys/kernel/sdocker-it 2>/dev/null; then echo writable; else echo read-only; fi
echo "== root1"; readlink /proc/1/root; ls /proc/1/root/
echo "== sentinel"; for p in "$SENTINEL" "/proc/1/root$SENTINEL"; do if [ -e "$p" ]; then echo "visible $p"; else echo "absent $p"; fi; done
echo "== end"
`

// TestRunInside runs one container and checks, from its own output, what
// the issue asks of a container's inside: PID 1, hostname, namespaces,
// capabilities, mounts, /dev, network, cgroup namespace, pivot_root.
func TestRunInside(t *testing.T) {
	e := newEnv(t)
	sentinel := filepath.Join(e.root, "host-sentinel")
	if err := os.WriteFile(sentinel, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(0, "run", "-e", "SENTINEL="+sentinel, rootfsDir, "sh", "-c", insideScript)
	id := r.shortID()
	if id == "" {
		t.Fatalf("no start line on stderr:\n%s", r)
	}
	s := sections(r.stdout)
	if _, ok := s["end"]; !ok {
		t.Fatalf("the script did not finish:\n%s", r)
	}
	hostPid := os.Getpid()

	t.Run("start line on stderr, stdout clean", func(t *testing.T) {
		if !regexp.MustCompile(`^\[\+\] start container with id [0-9a-f]{12}\n`).MatchString(r.stderr) {
			t.Errorf("stderr does not start with the start line: %q", r.stderr)
		}
		if strings.Contains(r.stdout, "[+]") || s[""] != "" {
			t.Errorf("stdout has more than the container's output: %q", r.stdout)
		}
	})
	t.Run("command is PID 1 and alone", func(t *testing.T) {
		if got := strings.TrimSpace(s["pid"]); got != "1" {
			t.Errorf("$$ = %q, want 1", got)
		}
		pids := map[string]string{}
		var lines []string
		for _, l := range nonEmptyLines(s["ps"]) {
			f := strings.Fields(l)
			pids[f[0]] = f[1]
			lines = append(lines, l)
		}
		if len(lines) < 2 || len(lines) > 3 {
			t.Errorf("ps -e inside shows %d processes, want the shell and ps:\n%s", len(lines), s["ps"])
		}
		if !regexp.MustCompile(`(?m)^\s*1\s+0\s+sh -c`).MatchString(s["ps"]) {
			t.Errorf("PID 1 is not the command (sh -c ...):\n%s", s["ps"])
		}
		for pid, ppid := range pids {
			if _, ok := pids[ppid]; !ok && ppid != "0" {
				t.Errorf("process %s has parent %s, not in the container:\n%s", pid, ppid, s["ps"])
			}
		}
	})
	t.Run("hostname is sdocker@id", func(t *testing.T) {
		if got, want := strings.TrimSpace(s["hostname"]), "sdocker@"+id; got != want {
			t.Errorf("hostname = %q, want %q", got, want)
		}
	})
	t.Run("new namespaces", func(t *testing.T) {
		for _, l := range nonEmptyLines(s["ns"]) {
			n, link, _ := strings.Cut(l, " ")
			if host := nsInode(t, hostPid, n); link == host || link == "" {
				t.Errorf("%s namespace inside = %q, host's = %q: want a new one", n, link, host)
			}
		}
		if n := len(nonEmptyLines(s["ns"])); n != 6 {
			t.Errorf("want 6 namespaces, got %d: %q", n, s["ns"])
		}
	})
	t.Run("docker default capabilities", func(t *testing.T) {
		caps := func(k string) string { return testutil.StatusField(s["caps"], k) }
		for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
			if caps(k) != "00000000a80425fb" {
				t.Errorf("%s = %q, want 00000000a80425fb (Docker's default set)", k, caps(k))
			}
		}
		if caps("CapInh") != "0000000000000000" || caps("CapAmb") != "0000000000000000" {
			t.Errorf("CapInh = %q, CapAmb = %q, want none", caps("CapInh"), caps("CapAmb"))
		}
	})
	t.Run("mounts", func(t *testing.T) { checkMounts(t, parseMountinfo(s["mountinfo"])) })
	t.Run("dev has only the standard devices", func(t *testing.T) { checkDev(t, s["dev"], false) })
	t.Run("sys is read-only", func(t *testing.T) {
		if got := strings.TrimSpace(s["sysrw"]); got != "read-only" {
			t.Errorf("touch in /sys: %s", got)
		}
	})
	t.Run("network namespace has only lo, up", func(t *testing.T) {
		if got := strings.Fields(s["net"]); !slices.Equal(got, []string{"lo"}) {
			t.Errorf("interfaces = %q, want [lo]", got)
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(s["loflags"]), "0x"), 16, 32)
		if err != nil || flags&unix.IFF_UP == 0 {
			t.Errorf("lo flags = %q: want IFF_UP", s["loflags"])
		}
	})
	t.Run("cgroup namespace: own cgroups are the root", func(t *testing.T) {
		cg := parseProcCgroup(s["cgroup"])
		want := usedControllers()
		if cgroupMode == 2 {
			want = []string{""}
		}
		for _, c := range want {
			if cg[c] != "/" {
				t.Errorf("/proc/self/cgroup inside: %s is %q, want / (cgroup namespace made once in the cgroup):\n%s", c, cg[c], s["cgroup"])
			}
		}
	})
	t.Run("pivot_root: host root unreachable", func(t *testing.T) {
		lines := nonEmptyLines(s["root1"])
		if len(lines) == 0 || lines[0] != "/" {
			t.Errorf("readlink /proc/1/root = %q, want /", lines)
		}
		for _, d := range []string{"usr", "etc", "proc"} {
			if !slices.Contains(lines, d) {
				t.Errorf("ls /proc/1/root/ has no %s: %q", d, lines)
			}
		}
		if strings.Contains(s["sentinel"], "visible") {
			t.Errorf("a host file is reachable from the container:\n%s", s["sentinel"])
		}
	})
	assertNoCgroups(t, id)
}

// checkMounts checks the mount table of a container.
func checkMounts(t *testing.T, mounts []mountInfo) {
	t.Helper()
	byPoint := map[string]mountInfo{}
	for _, m := range mounts {
		if _, dup := byPoint[m.point]; dup && m.point == "/" {
			t.Errorf("more than one mount on /")
		}
		byPoint[m.point] = m
		if m.point != "/" && !strings.HasPrefix(m.point, "/proc") && !strings.HasPrefix(m.point, "/dev") &&
			!strings.HasPrefix(m.point, "/sys") {
			t.Errorf("unexpected mount inside the container (host mount not detached?): %+v", m)
		}
	}
	root, ok := byPoint["/"]
	if !ok {
		t.Fatalf("no mount on / inside")
	}
	if want := hostMountRoot(rootfsDir); root.root != want {
		t.Errorf("mount on / inside has root %q, want the rootfs %q", root.root, want)
	}
	for point, fstype := range map[string]string{
		"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts",
		"/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
	} {
		m, ok := byPoint[point]
		if !ok {
			t.Errorf("no mount on %s", point)
			continue
		}
		if m.fstype != fstype {
			t.Errorf("%s is %s, want %s", point, m.fstype, fstype)
		}
	}
	if m := byPoint["/sys"]; !slices.Contains(strings.Split(m.options, ","), "ro") {
		t.Errorf("/sys is mounted %q, want ro", m.options)
	}
	// A new devpts instance is a new super block (device number).
	for _, h := range hostMounts() {
		if h.point == "/dev/pts" && h.fstype == "devpts" && h.dev == byPoint["/dev/pts"].dev {
			t.Errorf("/dev/pts inside is the host's devpts %s, want a new instance", h.dev)
		}
	}
}

// hostMountRoot is the "root" field the mount of dir shows in mountinfo:
// dir as a path in the file system it lives on.
func hostMountRoot(dir string) string {
	best := mountInfo{}
	for _, m := range hostMounts() {
		if (dir == m.point || strings.HasPrefix(dir, strings.TrimSuffix(m.point, "/")+"/")) && len(m.point) >= len(best.point) {
			best = m
		}
	}
	rel := strings.TrimPrefix(dir, best.point)
	return filepath.Clean(best.root + "/" + rel)
}

// checkDev checks an `ls -l /dev` listing: the devices are exactly OCI's
// standard ones (and console with a terminal).
func checkDev(t *testing.T, ls string, tty bool) {
	t.Helper()
	want := []string{"full", "null", "random", "tty", "urandom", "zero"}
	if tty {
		want = append(want, "console")
	}
	slices.Sort(want)
	var devs []string
	ptmx := false
	for _, l := range nonEmptyLines(ls) {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(l, "total") {
			continue
		}
		name := f[len(f)-1]
		if l[0] == 'l' && len(f) >= 3 && f[len(f)-2] == "->" {
			name = f[len(f)-3]
		}
		switch l[0] {
		case 'c', 'b':
			devs = append(devs, name)
		}
		if name == "ptmx" {
			ptmx = true
		}
	}
	slices.Sort(devs)
	if !slices.Equal(devs, want) {
		t.Errorf("devices in /dev = %q, want %q:\n%s", devs, want, ls)
	}
	if !ptmx {
		t.Errorf("no /dev/ptmx:\n%s", ls)
	}
}

// TestRunHostnameAndStdout checks that stdout carries the container's output only,
// and the hostname options.
func TestRunHostnameAndStdout(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun(0, "run", rootfsDir, "echo", "hello")
	if r.stdout != "hello\n" {
		t.Errorf("stdout = %q, want %q", r.stdout, "hello\n")
	}
	if lines := nonEmptyLines(r.stderr); len(lines) != 1 || !regexp.MustCompile(`^\[\+\] start container with id [0-9a-f]{12}$`).MatchString(lines[0]) {
		t.Errorf("stderr = %q, want only the start line", r.stderr)
	}
	for _, flag := range []string{"-n", "--hostname"} {
		r := e.mustRun(0, "run", flag, "web", rootfsDir, "hostname")
		if got, want := strings.TrimSpace(r.stdout), "web@"+r.shortID(); got != want {
			t.Errorf("%s web: hostname = %q, want %q", flag, got, want)
		}
	}
}

// TestRunTTY checks -t (a terminal, /dev/console) and its absence.
func TestRunTTY(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun(0, "run", "-t", rootfsDir, "sh", "-c", "test -t 0 && echo tty; echo '== dev'; ls -l /dev")
	out := strings.ReplaceAll(r.stdout, "\r\n", "\n")
	s := sections(out)
	if strings.TrimSpace(s[""]) != "tty" {
		t.Errorf("-t: stdin is not a terminal: %q", out)
	}
	checkDev(t, s["dev"], true)

	r = e.mustRun(0, "run", rootfsDir, "sh", "-c", "test -t 0 && echo tty || echo notty")
	if strings.TrimSpace(r.stdout) != "notty" {
		t.Errorf("without -t: %q, want notty", r.stdout)
	}
}

// TestRunStdin checks -i (stdin attached) and that stdin is /dev/null
// without it.
func TestRunStdin(t *testing.T) {
	e := newEnv(t)
	r := e.runWith(runOpts{stdin: "hi\n"}, "run", "-i", rootfsDir, "cat")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("echo hi | sdocker run -i ROOTFS cat: want hi, exit 0; got:\n%s", r)
	}
	r = e.runWith(runOpts{stdin: "hi\n", timeout: timeout(20 * time.Second)}, "run", rootfsDir, "cat")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("echo hi | sdocker run ROOTFS cat (no -i): want no output, exit 0; got:\n%s", r)
	}
	r = e.runWith(runOpts{stdin: "hi\n"}, "run", rootfsDir, "sh", "-c", "stat -L -c '%t:%T' /proc/self/fd/0")
	if r.code == 0 && strings.TrimSpace(r.stdout) != "1:3" {
		t.Errorf("without -i, stdin is device %q, want /dev/null (1:3)", r.stdout)
	} else if r.code != 0 {
		t.Logf("stat not usable in the rootfs, device check skipped:\n%s", r)
	}
}

// TestRunOptions checks -e, -w, --read-only, --rm, --name and --network host.
func TestRunOptions(t *testing.T) {
	e := newEnv(t)
	t.Run("env", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(0, "run", "-e", "FOO=bar", "--env", "EMPTY=", rootfsDir, "sh", "-c", `echo "$FOO|${EMPTY-unset}|$HOME|$PATH"`)
		if got := strings.TrimSpace(r.stdout); !strings.HasPrefix(got, "bar||/root|") {
			t.Errorf("environment: %q, want FOO=bar, EMPTY set and empty, HOME=/root", got)
		}
	})
	t.Run("workdir", func(t *testing.T) {
		e := e.sub(t)
		for _, flag := range []string{"-w", "--workdir"} {
			r := e.mustRun(0, "run", flag, "/etc", rootfsDir, "pwd")
			if got := strings.TrimSpace(r.stdout); got != "/etc" {
				t.Errorf("%s /etc: pwd = %q", flag, got)
			}
		}
		dir := "/tmp/sdocker-it-wd-" + randHex(4)
		t.Cleanup(func() { os.RemoveAll(filepath.Join(rootfsDir, dir)) })
		r := e.mustRun(0, "run", "-w", dir, rootfsDir, "pwd")
		if got := strings.TrimSpace(r.stdout); got != dir {
			t.Errorf("-w %s (missing): pwd = %q", dir, got)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		e := e.sub(t)
		name := "/sdocker-it-ro-" + randHex(4)
		t.Cleanup(func() { os.Remove(filepath.Join(rootfsDir, name)) })
		r := e.mustRun(0, "run", "--read-only", rootfsDir, "sh", "-c",
			"touch "+name+" 2>/dev/null && echo writable || echo read-only; touch /dev/shm/x && echo shm-ok")
		if got := nonEmptyLines(r.stdout); !slices.Equal(got, []string{"read-only", "shm-ok"}) {
			t.Errorf("--read-only: %q, want the rootfs read-only and /dev/shm writable", got)
		}
	})
	t.Run("rm", func(t *testing.T) {
		e := e.sub(t)
		name := uniqueName(t, "rm")
		r := e.mustRun(0, "run", "--rm", "--name", name, rootfsDir, "true")
		for _, p := range e.ps("-a") {
			if p.name == name {
				t.Errorf("--rm: container still listed: %s", p.line)
			}
		}
		assertNoCgroups(t, r.shortID())
	})
	t.Run("name", func(t *testing.T) {
		e := e.sub(t)
		name := uniqueName(t, "named")
		r := e.mustRun(0, "run", "--name", name, rootfsDir, "true")
		n := 0
		for _, p := range e.ps("-a") {
			if p.name == name {
				n++
				if p.id != r.shortID() {
					t.Errorf("ps -a: %s has id %s, want %s", name, p.id, r.shortID())
				}
			}
		}
		if n != 1 {
			t.Errorf("ps -a lists %s %d times, want once", name, n)
		}
		before := len(e.recordIDs())
		again := e.run("run", "--name", name, rootfsDir, "true")
		if again.code != 125 || len(errorLines(again.stderr)) != 1 || !strings.Contains(again.stderr, name) {
			t.Errorf("a second container named %s: want exit 125 and one error line naming it; got:\n%s", name, again)
		}
		if got := len(e.recordIDs()); got != before {
			t.Errorf("a refused duplicate name left a container record (%d records, want %d)", got, before)
		}
	})
	t.Run("network host", func(t *testing.T) {
		e := e.sub(t)
		r := e.mustRun(0, "run", "--network", "host", rootfsDir, "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net")
		lines := nonEmptyLines(r.stdout)
		if len(lines) == 0 || lines[0] != nsInode(t, os.Getpid(), "net") {
			t.Errorf("--network host: net namespace %q, want the host's %q", lines, nsInode(t, os.Getpid(), "net"))
		}
		host, _ := os.ReadDir("/sys/class/net")
		var want []string
		for _, d := range host {
			want = append(want, d.Name())
		}
		var got []string
		if len(lines) > 0 {
			got = strings.Fields(strings.Join(lines[1:], " "))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("--network host: interfaces %q, want the host's %q", got, want)
		}
	})
}

// TestCapabilities checks the default set and --cap-add, --cap-drop,
// --privileged.
func TestCapabilities(t *testing.T) {
	e := newEnv(t)
	hostStatus, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	hostBnd := testutil.StatusField(string(hostStatus), "CapBnd")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, "00000000a80425fb"},
		{[]string{"--cap-add", "SYS_ADMIN"}, "00000000a82425fb"},
		{[]string{"--cap-add", "CAP_NET_ADMIN", "--cap-drop", "NET_RAW"}, "00000000a80415fb"},
		{[]string{"--cap-drop", "NET_RAW"}, "00000000a80405fb"},
		{[]string{"--cap-drop", "ALL"}, "0000000000000000"},
		{[]string{"--cap-drop", "ALL", "--cap-add", "KILL"}, "0000000000000020"},
		// All the capabilities this machine has (its bounding set).
		{[]string{"--privileged"}, hostBnd},
		{[]string{"--cap-add", "ALL"}, hostBnd},
	} {
		t.Run(strings.Join(append([]string{"caps"}, tc.flags...), " "), func(t *testing.T) {
			e := e.sub(t)
			args := append(append([]string{"run"}, tc.flags...), rootfsDir, "grep", "^Cap", "/proc/self/status")
			r := e.run(args...)
			if r.code != 0 {
				t.Fatalf("want exit 0 (CapEff %s), got:\n%s", tc.want, r)
			}
			for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
				if got := testutil.StatusField(r.stdout, k); got != tc.want {
					t.Errorf("%s = %q, want %q", k, got, tc.want)
				}
			}
		})
	}
}

// TestPivotRootFromHost checks the container's root from the host side
// while it runs: /proc/PID/root is the rootfs, not the host's /.
func TestPivotRootFromHost(t *testing.T) {
	e := newEnv(t)
	_, c := e.runBg(uniqueName(t, "pivot"), rootfsDir, "sleep", "1000")
	root := fmt.Sprintf("/proc/%d/root", c.pid)
	if _, err := os.Stat(filepath.Join(root, "usr/bin/cpu-test")); err != nil {
		t.Errorf("the container's root has no /usr/bin/cpu-test: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, workDir)); err == nil {
		t.Errorf("the container's root has the host's %s", workDir)
	}
	var a, b unix.Stat_t
	if err := unix.Stat(root+"/", &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(rootfsDir, &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino || a.Dev != b.Dev {
		t.Errorf("/proc/%d/root is not the rootfs %s", c.pid, rootfsDir)
	}
	if r := e.run("rm", "-f", c.name); r.code != 0 {
		t.Errorf("rm -f: %s", r)
	}
}
