package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runNoNet runs a --rm container without a network (runOut) that must
// exit 0, and returns its stdout.
func (e *env) runNoNet(args ...string) string {
	e.t.Helper()
	return e.runOut(0, append([]string{"--network", "none"}, args...)...)
}

// TestRunSecurityOpt: no-new-privileges, a seccomp profile in Docker's form
// (an archMap, an entry kept only with a capability the container lacks),
// seccomp=unconfined, and the accepted and refused label= and apparmor=.
func TestRunSecurityOpt(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	if got := e.runNoNet("--security-opt", "no-new-privileges", rootfsDir, "grep", "^NoNewPrivs", "/proc/self/status"); strings.Fields(got)[1] != "1" {
		t.Errorf("no-new-privileges: %q", got)
	}
	if got := e.runNoNet("--security-opt", "no-new-privileges:false", rootfsDir, "grep", "^NoNewPrivs", "/proc/self/status"); strings.Fields(got)[1] != "0" {
		t.Errorf("no-new-privileges:false: %q", got)
	}
	// mkdir fails with EPERM; chmod too, unless the container had
	// CAP_SYS_ADMIN (it has not).
	profile := filepath.Join(t.TempDir(), "profile.json")
	err := os.WriteFile(profile, []byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
		"syscalls": [
			{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "comment": "no new directories"},
			{"names": ["fchmodat", "chmod", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "includes": {"caps": ["CAP_SYS_ADMIN"]}}
		]}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(0, "run", "--rm", "--network", "none", "--security-opt", "seccomp="+profile, rootfsDir,
		"sh", "-c", "mkdir /tmp/d 2>&1; echo mkdir $?; touch /tmp/f && chmod 600 /tmp/f; echo chmod $?")
	if !strings.Contains(r.stdout, "Operation not permitted") || !strings.Contains(r.stdout, "mkdir 1") || !strings.Contains(r.stdout, "chmod 0") {
		t.Errorf("seccomp profile denying mkdir (and chmod only with CAP_SYS_ADMIN):\n%s", r)
	}
	if got := e.runNoNet("--security-opt", "seccomp=unconfined", "--security-opt", "label=disable", "--security-opt", "apparmor=unconfined",
		rootfsDir, "grep", "^Seccomp:", "/proc/self/status"); strings.Fields(got)[1] != "0" {
		t.Errorf("seccomp=unconfined: %q", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "unknownKey": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"label=user:foo", "apparmor=docker-default", "seccomp=" + filepath.Join(t.TempDir(), "missing.json"), "seccomp=" + bad, "no-new-privileges:maybe", "bogus"} {
		r := e.mustRun(125, "run", "--rm", "--network", "none", "--security-opt", opt, rootfsDir, "true")
		if !strings.Contains(r.stderr, "--security-opt") {
			t.Errorf("--security-opt %s: want an error naming it\n%s", opt, r)
		}
	}
	if r := e.mustRun(0, "ps", "-aq"); r.stdout != "" {
		t.Errorf("containers left by refused runs: %q", r.stdout)
	}
}

// TestRunDevice: --device makes a host device in the container with the
// permissions given, enforced by the device cgroup; --device-cgroup-rule
// allows more. /dev/loop7 (block
// 7:7; unbound, so nothing is read or written) is not among a container's
// default devices.
func TestRunDevice(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	if _, err := os.Stat("/dev/loop7"); err != nil {
		t.Skip("no /dev/loop7 on this host")
	}
	got := e.runNoNet("--device", "/dev/loop7:/dev/k:r", rootfsDir, "sh", "-c",
		`stat -c '%F %t:%T' /dev/k; : < /dev/k && echo read; (: >> /dev/k) 2>/dev/null || echo nowrite`)
	if got != "block special file 7:7\nread\nnowrite\n" {
		t.Errorf("--device /dev/loop7:/dev/k:r: %q, want the block device 7:7, readable, not writable", got)
	}
	// The rule adds w to the r of --device.
	got = e.runNoNet("--device", "/dev/loop7:/dev/k:r", "--device-cgroup-rule", "b 7:7 w", rootfsDir, "sh", "-c",
		`(: >> /dev/k) 2>/dev/null && echo write || echo nowrite`)
	if got != "write\n" {
		t.Errorf("--device /dev/loop7:/dev/k:r --device-cgroup-rule 'b 7:7 w': %q", got)
	}
	for _, a := range [][]string{
		{"--device", "/dev/no-such-device"},
		{"--device", "/etc/hostname"},
		{"--device", "/dev/null:/dev/n:rwx"},
		{"--device", "dev/null"},
		{"--device-cgroup-rule", "c 1:11"},
		{"--device-cgroup-rule", "x 1:11 r"},
		{"--device-cgroup-rule", "c a:11 r"},
	} {
		r := e.mustRun(125, append(append([]string{"run", "--rm", "--network", "none"}, a...), rootfsDir, "true")...)
		if !strings.Contains(r.stderr, a[0]) {
			t.Errorf("%s %s: want an error naming it\n%s", a[0], a[1], r)
		}
	}
	if r := e.mustRun(0, "ps", "-aq"); r.stdout != "" {
		t.Errorf("containers left by refused runs: %q", r.stdout)
	}
}

// TestRunSysctl: namespaced sysctls are set in the container's own
// namespaces; a host-only key, and a key of a namespace the container
// shares with the host, are refused.
func TestRunSysctl(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	hostShmmax, _ := os.ReadFile("/proc/sys/kernel/shmmax")
	got := e.runNoNet("--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456", "--sysctl", "fs.mqueue.msg_max=20",
		"--sysctl", "net/ipv4/ip_default_ttl=33", rootfsDir,
		"cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax", "/proc/sys/fs/mqueue/msg_max", "/proc/sys/net/ipv4/ip_default_ttl")
	if got != "1\n123456\n20\n33\n" {
		t.Errorf("sysctls in the container: %q", got)
	}
	if after, _ := os.ReadFile("/proc/sys/kernel/shmmax"); string(after) != string(hostShmmax) {
		t.Errorf("the host's kernel.shmmax changed: %q -> %q", hostShmmax, after)
	}
	for _, a := range [][]string{
		{"--sysctl", "kernel.pid_max=100000"},
		{"--sysctl", "vm.swappiness=10"},
		{"--sysctl", "net.ipv4.ip_forward"},
		{"--sysctl", "net.ipv4.ip_forward=1", "--network", "host"},
		{"--sysctl", "kernel.shmmax=1", "--ipc", "host"},
	} {
		r := e.mustRun(125, append(append([]string{"run", "--rm", "--network", "none"}, a...), rootfsDir, "true")...)
		if !strings.Contains(r.stderr, "--sysctl") {
			t.Errorf("%q: want an error naming --sysctl\n%s", a, r)
		}
	}
}

// TestRunNamespaceModes: --ipc, --pid, --uts as host and as another
// container's (the same namespace, by inode; the same /dev/shm, of a
// shareable IPC namespace), --cgroupns host, --ipc none, --shm-size; and
// what is refused.
func TestRunNamespaceModes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	nsOf := func(pid, ns string) string {
		l, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	host, _ := os.Hostname()
	got := lines(e.runNoNet("--ipc", "host", "--pid", "host", "--uts", "host", "--cgroupns", "host", rootfsDir, "sh", "-c",
		"readlink /proc/self/ns/ipc /proc/self/ns/pid /proc/self/ns/uts /proc/self/ns/cgroup; hostname"))
	want := []string{nsOf("self", "ipc"), nsOf("self", "pid"), nsOf("self", "uts"), nsOf("self", "cgroup"), host}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("host namespaces: %q, want %q", got, want)
	}
	got = lines(e.runNoNet(rootfsDir, "sh", "-c", "readlink /proc/self/ns/ipc /proc/self/ns/pid /proc/self/ns/uts /proc/self/ns/cgroup"))
	for i, g := range got {
		if g == want[i] {
			t.Errorf("a default container shares %s with the host", g)
		}
	}

	id := e.runDetached("--name", "donor", "--network", "none", "--ipc", "shareable", "--shm-size", "3m", rootfsDir,
		"sh", "-c", "echo shared > /dev/shm/x; exec sleep 100")
	private := e.runDetached("--network", "none", rootfsDir, "sleep", "100")
	joiner := e.runDetached("--ipc", "container:donor", "--pid", "host", "--cgroupns", "host", "--sysctl", "net.core.somaxconn=99", "--network", "none", rootfsDir, "sleep", "100")
	if got := e.state(joiner, "{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}} {{.HostConfig.UTSMode}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.Sysctls}}"); got != "container:"+id+" host private host map[net.core.somaxconn:99]" {
		t.Errorf("inspect of the namespace modes: %q", got)
	}
	// A start joins the donor's namespace of now: after the donor's restart, its new one.
	e.mustRun(0, "restart", "-t", "0", "donor")
	e.mustRun(0, "restart", "-t", "0", joiner)
	pid := e.state(id, "{{.State.Pid}}")
	if got := nsOf(e.state(joiner, "{{.State.Pid}}"), "ipc"); got != nsOf(pid, "ipc") {
		t.Errorf("after restarts, the joiner's IPC namespace is %s, the donor's %s", got, nsOf(pid, "ipc"))
	}
	e.remove(joiner)
	got = lines(e.runNoNet("--ipc", "container:donor", "--pid", "container:"+id[:12], "--uts", "container:donor", rootfsDir, "sh", "-c",
		"readlink /proc/self/ns/ipc /proc/self/ns/pid /proc/self/ns/uts; hostname; cat /proc/1/comm /dev/shm/x; df -k /dev/shm | tail -1"))
	donorName := strings.TrimSpace(e.mustRun(0, "exec", "donor", "hostname").stdout)
	if len(got) == 7 {
		got[6] = strings.Fields(got[6])[1] // df's size in KiB
	}
	want = []string{nsOf(pid, "ipc"), nsOf(pid, "pid"), nsOf(pid, "uts"), donorName, "sleep", "shared", "3072"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("namespaces of container donor: %q, want %q", got, want)
	}

	if got := e.runNoNet("--ipc", "none", rootfsDir, "sh", "-c", "test -e /dev/shm && echo shm || echo none"); got != "none\n" {
		t.Errorf("--ipc none: %q", got)
	}
	if got := e.runNoNet("--shm-size", "2m", rootfsDir, "sh", "-c", "df -k /dev/shm | tail -1"); strings.Fields(got)[1] != "2048" {
		t.Errorf("--shm-size 2m: %q", got)
	}
	for _, a := range [][]string{
		{"--ipc", "bogus"}, {"--pid", "private:x"}, {"--uts", "none"}, {"--cgroupns", "container:donor"},
		{"--ipc", "container:no-such"}, {"--pid", "container:"}, {"--ipc", "container:" + private},
		{"--shm-size", "-1"}, {"--shm-size", "abc"}, {"--ipc", "host", "--shm-size", "1m"},
		{"--uts", "host", "--hostname", "x"},
	} {
		r := e.mustRun(125, append(append([]string{"run", "--rm", "--network", "none"}, a...), rootfsDir, "true")...)
		if !strings.Contains(r.stderr, a[0]) && !strings.Contains(r.stderr, a[len(a)-2]) {
			t.Errorf("%q: want an error naming the flag\n%s", a, r)
		}
	}
	e.remove(private)
	if r := e.mustRun(0, "ps", "-aq", "--no-trunc"); strings.TrimSpace(r.stdout) != id {
		t.Errorf("containers after the refused runs: %q, want the donor only", r.stdout)
	}
	// The shareable /dev/shm goes with the donor.
	shm := filepath.Join(e.root, "containers", id, "shm")
	e.remove(id)
	if _, err := os.Stat(shm); !os.IsNotExist(err) {
		t.Errorf("the donor's /dev/shm after rm: %v", err)
	}
}
