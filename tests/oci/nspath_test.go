package oci

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// nsHolder is a process in namespaces of its own (made by unshare), whose
// /proc/PID/ns files a container joins by path.
type nsHolder struct {
	pid int // the holder's pid on the host (unshare's child)
}

func (h nsHolder) path(t specs.LinuxNamespaceType) string {
	name := map[specs.LinuxNamespaceType]string{specs.MountNamespace: "mnt", specs.NetworkNamespace: "net"}[t]
	if name == "" {
		name = string(t)
	}
	return fmt.Sprintf("/proc/%d/ns/%s", h.pid, name)
}

// inode is the holder's namespace of type t as readlink shows it.
func (h nsHolder) inode(t *testing.T, typ specs.LinuxNamespaceType) string {
	t.Helper()
	l, err := os.Readlink(h.path(typ))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newNSHolder starts `unshare FLAGS sh -c SETUP; sleep` and returns once
// SETUP ran; the holder is killed and reaped when the test ends.
func newNSHolder(t *testing.T, setup string, flags ...string) nsHolder {
	t.Helper()
	args := append(append([]string{"--fork", "--kill-child"}, flags...), "sh", "-c", setup+" && echo ready && exec sleep 600")
	cmd := exec.Command(tool(t, "unshare"), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("unshare %v: %q %v", args, line, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the child of unshare: %q: %v", b, err)
	}
	// Killed first; once unshare is gone the test binary (a subreaper)
	// is its parent: the reaper collects it.
	trackPid(pid)
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, pollTimeout) {
			t.Errorf("the namespace holder %d did not end", pid)
		}
	})
	return nsHolder{pid: pid}
}

// joinByPath sets the path of the spec's namespace of type typ, adding it
// when missing.
func (b *bundle) joinByPath(typ specs.LinuxNamespaceType, p string) {
	for i, n := range b.spec.Linux.Namespaces {
		if n.Type == typ {
			b.spec.Linux.Namespaces[i].Path = p
			return
		}
	}
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: p})
}

// Every namespace type given by path is joined (the mount namespace
// included), alone or all at once: the container's namespace is the
// holder's, and what only that namespace has is seen. The rootfs is
// resolved in the joined mount namespace (on the host its path is an empty
// directory), and joining a pid namespace puts the container's process in
// it, not as its pid 1.
func TestNamespaceJoinedByPath(t *testing.T) {
	types := []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace, specs.MountNamespace, specs.CgroupNamespace}
	procName := map[specs.LinuxNamespaceType]string{specs.MountNamespace: "mnt", specs.NetworkNamespace: "net"}
	// Each subtest has a holder of its own: a container that joins a
	// mount namespace pivots its root there.
	run := func(t *testing.T, join ...specs.LinuxNamespaceType) (nsHolder, map[string]string) {
		b := newBundle(t)
		emptyRoot, marker := filepath.Join(b.dir, "root"), filepath.Join(b.dir, "marker")
		for _, d := range []string{emptyRoot, marker} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		setup := fmt.Sprintf("hostname joined-uts && mount -t tmpfs none %s && echo only-in-the-joined-ns > %s/file && mount --rbind %s %s",
			marker, marker, b.rootfs, emptyRoot)
		h := newNSHolder(t, setup, "--mount", "--propagation", "private", "--uts", "--ipc", "--net", "--pid", "--cgroup")
		script := "for n in net ipc uts pid mnt cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; echo host=$(hostname); echo self=$$; echo pid1=$(cat /proc/1/comm)"
		b.spec.Hostname = ""
		for _, typ := range join {
			b.joinByPath(typ, h.path(typ))
			if typ == specs.MountNamespace {
				b.spec.Root.Path = emptyRoot
				b.addMount(specs.Mount{Destination: "/marker", Type: "bind", Source: marker, Options: []string{"rbind", "ro"}})
				script += "; cat /marker/file"
			}
		}
		b.sh(script)
		got := map[string]string{}
		for _, l := range lines(b.mustRun()) {
			if k, v, ok := strings.Cut(l, "="); ok {
				got[k] = v
			} else {
				got[l] = "seen"
			}
		}
		return h, got
	}
	check := func(t *testing.T, h nsHolder, got map[string]string, typ specs.LinuxNamespaceType) {
		name := procName[typ]
		if name == "" {
			name = string(typ)
		}
		if want := h.inode(t, typ); got[name] != want {
			t.Errorf("%s namespace of the container %q, want the holder's %q", typ, got[name], want)
		}
		switch typ {
		case specs.UTSNamespace:
			if got["host"] != "joined-uts" {
				t.Errorf("hostname %q, want the joined namespace's", got["host"])
			}
		case specs.PIDNamespace:
			if got["self"] == "1" || got["pid1"] != "sleep" {
				t.Errorf("in the joined pid namespace the container is pid %s and pid 1 is %q, want the holder's sleep", got["self"], got["pid1"])
			}
		case specs.MountNamespace:
			if got["only-in-the-joined-ns"] != "seen" {
				t.Errorf("the joined mount namespace's tmpfs is not seen in the container: %v", got)
			}
		}
	}
	for _, typ := range types {
		t.Run(string(typ), func(t *testing.T) {
			h, got := run(t, typ)
			check(t, h, got, typ)
		})
	}
	t.Run("all", func(t *testing.T) {
		h, got := run(t, types...)
		for _, typ := range types {
			check(t, h, got, typ)
		}
	})
}

// A time namespace given by path is joined, by the init and by exec: the
// container's clocks carry its offsets (a day on the boot-time clock,
// which /proc/uptime shows, and on the monotonic one).
func TestTimeNamespaceJoinedByPath(t *testing.T) {
	requireTimeNamespaces(t)
	b := newBundle(t)
	h := newTimeHolder(t)
	b.joinByPath(specs.TimeNamespace, h.path(specs.TimeNamespace))
	want := h.inode(t, specs.TimeNamespace)
	checkJoinedTime(t, "run", want, func() string { return b.sh(timeScript).mustRun() })
	b2 := newBundle(t)
	b2.joinByPath(specs.TimeNamespace, h.path(specs.TimeNamespace))
	b2.long()
	b2.createStart()
	checkJoinedTime(t, "exec", want, func() string { return b2.mustExec("sh", "-c", timeScript) })
}

// With a user namespace given by path too, the init and exec join both
// (the time namespace, owned by the host's user namespace, first) and are
// root in the user namespace.
func TestTimeNamespaceWithUsernsByPath(t *testing.T) {
	requireTimeNamespaces(t)
	a := newBundle(t).long()
	a.userns(usernsHost)
	a.createStart()
	pid := a.state().Pid
	h := newTimeHolder(t)
	b := newBundle(t)
	b.chownRootfs(usernsHost)
	b.withoutNamespace(specs.PIDNamespace)
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces,
		specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)},
		specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pid)},
		specs.LinuxNamespace{Type: specs.TimeNamespace, Path: h.path(specs.TimeNamespace)})
	b.spec.Linux.UIDMappings, b.spec.Linux.GIDMappings = a.spec.Linux.UIDMappings, a.spec.Linux.GIDMappings
	b.sh("id -u; " + timeScript + "; echo ready; exec sleep 600")
	want := h.inode(t, specs.TimeNamespace)
	checkJoinedTime(t, "init", want, func() string {
		b.createStart()
		b.waitOutput("ready")
		return strings.TrimSuffix(b.output(), "ready\n")
	})
	checkJoinedTime(t, "exec", want, func() string { return b.mustExec("sh", "-c", "id -u; "+timeScript) })
}

// timeScript prints the time namespace and the boot-time clock.
const timeScript = "readlink /proc/self/ns/time; cut -d' ' -f1 /proc/uptime"

// timeOffset is the offset of newTimeHolder's clocks, a day.
const timeOffset = 86400

// requireTimeNamespaces skips a test of time namespaces on runc 1.1 and
// on a kernel without them.
func requireTimeNamespaces(t *testing.T) {
	t.Helper()
	if isRunc {
		t.Skip("runc 1.1 does not know time namespaces")
	}
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("no time namespaces on this kernel")
	}
}

// newTimeHolder starts a holder of a time namespace whose boot-time and
// monotonic clocks are timeOffset ahead of the host's.
func newTimeHolder(t *testing.T) nsHolder {
	t.Helper()
	off := strconv.Itoa(timeOffset)
	return newNSHolder(t, "true", "--time", "--monotonic", off, "--boottime", off)
}

// checkJoinedTime checks what timeScript printed in a container (after an
// optional "id -u" line, which must be 0): the time namespace want, and an
// uptime timeOffset ahead of the host's around the run.
func checkJoinedTime(t *testing.T, what, want string, run func() string) {
	t.Helper()
	before := hostUptime(t)
	out := lines(run())
	after := hostUptime(t)
	if len(out) == 3 {
		if out[0] != "0" {
			t.Errorf("%s: uid %s, want 0 in the user namespace", what, out[0])
		}
		out = out[1:]
	}
	if len(out) != 2 || out[0] != want {
		t.Fatalf("%s: %q, want the time namespace %s and an uptime", what, out, want)
	}
	up, err := strconv.ParseFloat(out[1], 64)
	if err != nil {
		t.Fatalf("%s: uptime %q: %v", what, out[1], err)
	}
	t.Logf("%s: uptime %.2f s, the host's %.2f to %.2f s", what, up, before, after)
	if up-timeOffset < before-1 || up-timeOffset > after+1 {
		t.Errorf("%s: uptime %.2f s, want %d s more than the host's (%.2f to %.2f s)", what, up, timeOffset, before, after)
	}
}

// hostUptime is the host's boot-time clock in seconds (/proc/uptime).
func hostUptime(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatalf("/proc/uptime %q: %v", b, err)
	}
	return up
}

// A new time namespace takes linux.timeOffsets: the container's program
// (the init's execve is the first to enter it) and exec read its clocks;
// without offsets it is a namespace of its own with the host's clocks.
func TestTimeNamespaceNew(t *testing.T) {
	requireTimeNamespaces(t)
	host, err := os.Readlink("/proc/self/ns/time")
	if err != nil {
		t.Fatal(err)
	}
	offsets := func(t *testing.T, userns bool) {
		b := newBundle(t)
		if userns {
			b.userns(usernsHost)
		}
		b.joinByPath(specs.TimeNamespace, "")
		b.spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: timeOffset}, "boottime": {Secs: timeOffset}}
		b.sh(timeScript + "; echo ready; exec sleep 600")
		b.mustCreate()
		pid := b.state().Pid
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/time_for_children", pid))
		if err != nil {
			t.Fatal(err)
		}
		if ns == host {
			t.Fatalf("the container's time namespace is the host's %s", host)
		}
		checkJoinedTime(t, "init", ns, func() string {
			b.start()
			b.waitOutput("ready")
			return strings.TrimSuffix(b.output(), "ready\n")
		})
		checkJoinedTime(t, "exec", ns, func() string { return b.mustExec("sh", "-c", timeScript) })
	}
	t.Run("offsets", func(t *testing.T) { offsets(t, false) })
	// Made by the root of the container's new user namespace, which owns it.
	t.Run("offsets in a user namespace", func(t *testing.T) { offsets(t, true) })
	t.Run("no offsets", func(t *testing.T) {
		b := newBundle(t)
		b.joinByPath(specs.TimeNamespace, "")
		b.sh(timeScript)
		before := hostUptime(t)
		out := lines(b.mustRun())
		after := hostUptime(t)
		if len(out) != 2 || out[0] == host {
			t.Fatalf("%q: want a time namespace not the host's %s and an uptime", out, host)
		}
		if up, err := strconv.ParseFloat(out[1], 64); err != nil || up < before-1 || up > after+1 {
			t.Errorf("uptime %q (%v), want the host's (%.2f to %.2f s)", out[1], err, before, after)
		}
	})
}

// A time namespace given by path with a new user namespace is refused with
// a message that names it: that user namespace would hold no privilege
// over it.
func TestTimeNamespaceRefused(t *testing.T) {
	requireTimeNamespaces(t)
	h := newTimeHolder(t)
	b := newBundle(t)
	b.joinByPath(specs.TimeNamespace, h.path(specs.TimeNamespace))
	b.joinByPath(specs.UserNamespace, "")
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	b.spec.Linux.UIDMappings, b.spec.Linux.GIDMappings = m, m
	r := b.run()
	if r.code == 0 || !strings.Contains(r.stderr, "linux.namespaces") || !strings.Contains(r.stderr, "time namespace") {
		t.Errorf("want a refusal naming linux.namespaces and the time namespace: %v", r)
	}
}

// Without a mount namespace the container runs in the caller's (as with
// runc): its root is its rootfs with the spec's mounts, which the caller
// sees none of, neither while it runs nor after delete; exec enters the
// same root; the caller's mounts are left as they were.
func TestNoMountNamespace(t *testing.T) {
	b := newBundle(t)
	if isRunc {
		t.Skip("runc makes the container's mounts in the caller's tree and leaves them there")
	}
	b.withoutNamespace(specs.MountNamespace)
	out := b.outDir()
	if err := os.WriteFile(filepath.Join(b.rootfs, "marker"), []byte("in-the-rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostRoot := rootMountinfo(t)
	b.sh("readlink /proc/self/ns/mnt; cat /marker /../../marker; ls /proc/1/ >/dev/null && echo proc; echo x > /dev/null && echo null; echo w > /out/file; echo ready; while :; do sleep 1; done")
	b.createStart()
	got := lines(b.output())
	host, _ := os.Readlink("/proc/self/ns/mnt")
	for _, want := range []string{host, "in-the-rootfs", "proc", "null"} {
		if !contains(got, want) {
			t.Errorf("want %q in the container's output: %q", want, got)
		}
	}
	if n := strings.Count(strings.Join(got, "\n"), "in-the-rootfs"); n != 2 {
		t.Errorf("/../../marker is not the rootfs's marker: %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(out, "file")); err != nil || string(b) != "w\n" {
		t.Errorf("the bind mount of the spec is not the host's directory: %q %v", b, err)
	}
	if m := testutil.MountsUnder(b.rootfs); len(m) > 0 {
		t.Errorf("the container's mounts are in the caller's mount table: %v", m)
	}
	if got := strings.TrimSpace(b.mustExec("cat", "/marker")); got != "in-the-rootfs" {
		t.Errorf("exec does not run in the container's root: %q", got)
	}
	mustRT(t, "delete", "--force", b.id)
	testutil.WaitFor(t, pollTimeout, "the container's init gone", func() bool {
		return len(testutil.CgroupProcs(b.cgPath)) == 0
	})
	if m := testutil.MountsUnder(b.rootfs); len(m) > 0 {
		t.Errorf("mounts left after delete: %v", m)
	}
	if now := rootMountinfo(t); now != hostRoot {
		t.Errorf("the caller's / changed:\nbefore %s\nafter  %s", hostRoot, now)
	}
}

// A container without a mount namespace that fails to start leaves no
// mount behind in the caller's.
func TestNoMountNamespaceFailure(t *testing.T) {
	if isRunc {
		t.Skip("runc makes the container's mounts in the caller's tree and leaves them there")
	}
	b := newBundle(t)
	b.withoutNamespace(specs.MountNamespace)
	b.outDir()
	b.addMount(specs.Mount{Destination: "/bad", Type: "nosuchfs", Source: "none"})
	if r := b.run(); r.code == 0 || !strings.Contains(r.stderr, "/bad") {
		t.Errorf("want a failure naming /bad: %v", r)
	}
	if m := testutil.MountsUnder(b.rootfs); len(m) > 0 {
		t.Errorf("mounts left after a failed start: %v", m)
	}
}

// rootMountinfo is the mountinfo line of / without its mount id.
func rootMountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" {
			return strings.Join(f[2:], " ")
		}
	}
	return ""
}

// Without a mount namespace a terminal works (its /dev/console bind mount
// is the last mount made before the root leaves the caller's mount
// table), and nothing is left in the caller's.
func TestNoMountNamespaceTerminal(t *testing.T) {
	if isRunc {
		t.Skip("runc makes the container's mounts in the caller's tree and leaves them there")
	}
	b := newBundle(t)
	b.withoutNamespace(specs.MountNamespace)
	master := b.startShellOnTerminal(t)
	ptyExpectLine(t, master, "[ -t 0 ] && [ -c /dev/console ] && echo tty-ok\n", "tty-ok")
	if m := testutil.MountsUnder(b.rootfs); len(m) > 0 {
		t.Errorf("the container's mounts are in the caller's mount table: %v", m)
	}
	master.Write([]byte("exit\n"))
	b.waitStatus("stopped")
}

// exec enters a container whose mount and pid namespaces were joined by
// path: it sees the joined namespace's mounts.
func TestExecJoinedMountNamespace(t *testing.T) {
	b := newBundle(t)
	marker := filepath.Join(b.dir, "marker")
	if err := os.Mkdir(marker, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newNSHolder(t, fmt.Sprintf("mount -t tmpfs none %s && echo joined > %s/file", marker, marker),
		"--mount", "--propagation", "private", "--pid")
	b.joinByPath(specs.MountNamespace, h.path(specs.MountNamespace))
	b.joinByPath(specs.PIDNamespace, h.path(specs.PIDNamespace))
	b.addMount(specs.Mount{Destination: "/marker", Type: "bind", Source: marker, Options: []string{"rbind"}})
	b.long()
	b.createStart()
	out := lines(b.mustExec("sh", "-c", "readlink /proc/self/ns/mnt; cat /marker/file"))
	if want := h.inode(t, specs.MountNamespace); !contains(out, want) || !contains(out, "joined") {
		t.Errorf("exec: %q, want the mount namespace %s and its tmpfs", out, want)
	}
}
