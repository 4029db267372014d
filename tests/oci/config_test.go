package oci

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// hostEnvMarker is in the environment of every runtime command: it must
// never reach a container.
const hostEnvMarker = "OCI_TEST_HOST_ENV"

func init() { os.Setenv(hostEnvMarker, "leaked") }

// process.args, env and cwd, exactly as given.
func TestProcessArgsEnvCwd(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.Args = []string{"sh", "-c", `echo "args:$0:$1"; env; echo "cwd:$(pwd)"`, "first arg", "second"}
	b.spec.Process.Env = []string{"PATH=/bin", "GREETING=hello world", "EMPTY="}
	b.spec.Process.Cwd = "/etc"
	out := b.mustRun()
	ls := lines(out)
	if len(ls) == 0 || ls[0] != "args:first arg:second" {
		t.Errorf("args not passed as given: %q", out)
	}
	if !contains(ls, "GREETING=hello world") || !contains(ls, "PATH=/bin") || !contains(ls, "EMPTY=") {
		t.Errorf("env lacks the config's variables: %q", out)
	}
	if strings.Contains(out, hostEnvMarker) {
		t.Errorf("the runtime's own environment reached the container: %q", out)
	}
	if !contains(ls, "cwd:/etc") {
		t.Errorf("cwd is not /etc: %q", out)
	}
}

// A cwd that does not exist in the rootfs is created there.
func TestProcessCwdCreated(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.Cwd = "/new/work/dir"
	b.sh("pwd")
	if out := strings.TrimSpace(b.mustRun()); out != "/new/work/dir" {
		t.Errorf("pwd = %q, want /new/work/dir", out)
	}
	if st, err := os.Stat(filepath.Join(b.rootfs, "new/work/dir")); err != nil || !st.IsDir() {
		t.Errorf("the cwd was not created in the rootfs: %v", err)
	}
}

// process.user: uid, gid, additionalGids, umask.
func TestProcessUser(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 2000}, Umask: ptr(uint32(0o027))}
	b.sh("cat /proc/self/status; touch /tmp/f; echo mode:$(stat -c %a /tmp/f); echo umask:$(umask)")
	out := b.mustRun()
	if got := strings.Fields(testutil.StatusField(out, "Uid")); strings.Join(got, ",") != "1000,1000,1000,1000" {
		t.Errorf("Uid %v, want 1000 x4", got)
	}
	if got := strings.Fields(testutil.StatusField(out, "Gid")); strings.Join(got, ",") != "1001,1001,1001,1001" {
		t.Errorf("Gid %v, want 1001 x4", got)
	}
	groups := strings.Fields(testutil.StatusField(out, "Groups"))
	if !contains(groups, "10") || !contains(groups, "2000") || len(groups) > 3 {
		t.Errorf("Groups %v, want 10 and 2000", groups)
	}
	if got := testutil.StatusField(out, "Umask"); got != "0027" {
		t.Errorf("Umask %q, want 0027", got)
	}
	if !contains(lines(out), "mode:640") {
		t.Errorf("a file created with umask 027 is not 640: %q", out)
	}
	if !contains(lines(out), "umask:0027") {
		t.Errorf("umask in the shell: %q", out)
	}
}

// The five capability sets. As root, execve makes effective = permitted =
// bounding (+ inheritable): the sets are only told apart for a non-root
// user, where permitted = effective = ambient after execve.
func TestCapabilities(t *testing.T) {
	t.Run("root", func(t *testing.T) {
		b := newBundle(t)
		three := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
		b.spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: three, Effective: three, Permitted: three}
		b.sh("cat /proc/self/status")
		out := b.mustRun()
		want := map[string]string{"CapBnd": capMask(three...), "CapEff": capMask(three...), "CapPrm": capMask(three...),
			"CapInh": capMask(), "CapAmb": capMask()}
		for k, v := range want {
			if got := testutil.StatusField(out, k); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
	})
	t.Run("non-root all five", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Process.User = specs.User{UID: 1000, GID: 1000}
		b.spec.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
			Effective:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
			Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
			Inheritable: []string{"CAP_NET_BIND_SERVICE"},
			Ambient:     []string{"CAP_NET_BIND_SERVICE"},
		}
		b.sh("cat /proc/self/status")
		out := b.mustRun()
		nbs := capMask("CAP_NET_BIND_SERVICE")
		want := map[string]string{
			"CapBnd": capMask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
			"CapInh": nbs, "CapAmb": nbs, "CapPrm": nbs, "CapEff": nbs,
		}
		for k, v := range want {
			if got := testutil.StatusField(out, k); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
	})
	t.Run("no capabilities", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Process.Capabilities = &specs.LinuxCapabilities{}
		b.sh("cat /proc/self/status; chown 1 /tmp && echo chown-worked")
		r := b.run()
		for _, k := range []string{"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"} {
			if got := testutil.StatusField(r.stdout, k); got != capMask() {
				t.Errorf("%s = %s with no capabilities", k, got)
			}
		}
		if strings.Contains(r.stdout, "chown-worked") {
			t.Errorf("chown worked without CAP_CHOWN")
		}
	})
}

// process.rlimits (NOFILE below the host's hard limit of 20000: this
// machine lacks CAP_SYS_RESOURCE).
func TestRlimits(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.Rlimits = []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1234, Hard: 5678},
		{Type: "RLIMIT_CORE", Soft: 4096, Hard: 8192},
	}
	b.sh("echo soft:$(ulimit -n); cat /proc/self/limits")
	out := b.mustRun()
	if !contains(lines(out), "soft:1234") {
		t.Errorf("ulimit -n: %q", out)
	}
	for _, l := range lines(out) {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "Max open files") && (len(f) < 5 || f[3] != "1234" || f[4] != "5678"):
			t.Errorf("limits line %q, want 1234 5678", l)
		case strings.HasPrefix(l, "Max core file size") && (len(f) < 6 || f[4] != "4096" || f[5] != "8192"):
			t.Errorf("limits line %q, want 4096 8192", l)
		}
	}
}

func TestNoNewPrivileges(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		t.Run(strconv.FormatBool(nnp), func(t *testing.T) {
			b := newBundle(t)
			b.spec.Process.NoNewPrivileges = nnp
			b.sh("cat /proc/self/status")
			want := "0"
			if nnp {
				want = "1"
			}
			if got := testutil.StatusField(b.mustRun(), "NoNewPrivs"); got != want {
				t.Errorf("NoNewPrivs: %q, want %s", got, want)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.OOMScoreAdj = ptr(123)
	b.sh("cat /proc/self/oom_score_adj")
	if got := strings.TrimSpace(b.mustRun()); got != "123" {
		t.Errorf("oom_score_adj = %q, want 123", got)
	}
}

// root.path relative to the bundle, and root.readonly.
func TestRoot(t *testing.T) {
	t.Run("relative readonly", func(t *testing.T) {
		b := newBundle(t)
		if err := os.Rename(b.rootfs, filepath.Join(b.dir, "myroot")); err != nil {
			t.Fatal(err)
		}
		b.rootfs = filepath.Join(b.dir, "myroot")
		os.WriteFile(filepath.Join(b.rootfs, "marker"), []byte("the bundle's own rootfs\n"), 0o644)
		b.spec.Root = &specs.Root{Path: "myroot", Readonly: true}
		// A mount point missing in a readonly root is still made.
		b.addMount(specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"})
		b.sh("cat /marker; touch /x 2>&1 || echo touch-failed; touch /scratch/y && echo scratch-writable")
		out := b.mustRun()
		if !strings.Contains(out, "the bundle's own rootfs") {
			t.Errorf("root.path myroot was not the root: %q", out)
		}
		if !strings.Contains(out, "touch-failed") || !strings.Contains(out, "Read-only file system") {
			t.Errorf("a readonly root could be written: %q", out)
		}
		if !strings.Contains(out, "scratch-writable") {
			t.Errorf("the tmpfs on a mount point made in the readonly root is not writable: %q", out)
		}
		if _, err := os.Stat(filepath.Join(b.rootfs, "x")); err == nil {
			t.Errorf("/x was created in a readonly root")
		}
	})
	t.Run("absolute writable", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Root = &specs.Root{Path: b.rootfs, Readonly: false}
		b.sh("touch /x && echo touched")
		if out := b.mustRun(); !strings.Contains(out, "touched") {
			t.Errorf("touch in a writable root: %q", out)
		}
		if _, err := os.Stat(filepath.Join(b.rootfs, "x")); err != nil {
			t.Errorf("/x not in the rootfs: %v", err)
		}
	})
}

func TestHostnameDomainname(t *testing.T) {
	b := newBundle(t)
	b.spec.Hostname = "oci-host"
	b.spec.Domainname = "example.org"
	b.sh("hostname; cat /proc/sys/kernel/domainname")
	hostBefore, _ := os.Hostname()
	out := lines(b.mustRun())
	wantDomain := "example.org"
	if runcBefore(1, 2) {
		wantDomain = "(none)" // domainname came in runc 1.2: runc 1.1 ignores it
	}
	if len(out) != 2 || out[0] != "oci-host" || out[1] != wantDomain {
		t.Errorf("hostname, domainname = %q, want oci-host, %s", out, wantDomain)
	}
	if h, _ := os.Hostname(); h != hostBefore {
		t.Errorf("the host's hostname changed: %q -> %q", hostBefore, h)
	}
}

// mountOptions returns the mount options and super options of the mount
// at point in a mountinfo text.
func mountOptions(mountinfo, point string) (opts []string, fstype string, super []string, ok bool) {
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, post, found := strings.Cut(l, " - ")
		f, tail := strings.Fields(pre), strings.Fields(post)
		if found && len(f) >= 6 && f[4] == point && len(tail) >= 3 {
			opts, fstype, super, ok = strings.Split(f[5], ","), tail[0], strings.Split(tail[2], ","), true
		}
	}
	return
}

// mounts: bind and rbind with ro/nosuid/nodev/noexec, tmpfs with size and
// mode, the special file systems, a destination missing in the rootfs.
func TestMounts(t *testing.T) {
	b := newBundle(t)
	src := filepath.Join(b.dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "hello"), []byte("bind-content\n"), 0o644)
	os.WriteFile(filepath.Join(src, "script"), []byte("#!/bin/sh\necho script-ran\n"), 0o755)
	// A submount, which rbind carries and bind does not.
	if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(src, "sub", "subfile"), []byte("in-submount\n"), 0o644)
	b.addMount(specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: src, Options: []string{"bind", "ro"}})
	b.addMount(specs.Mount{Destination: "/mnt/flags", Type: "bind", Source: src, Options: []string{"rbind", "nosuid", "nodev", "noexec"}})
	b.addMount(specs.Mount{Destination: "/mnt/bind", Source: src, Options: []string{"bind"}})
	b.addMount(specs.Mount{Destination: "/mnt/tmpfs", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1770"}})
	b.addMount(specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
	b.addMount(specs.Mount{Destination: "/new/deep/dir", Type: "tmpfs", Source: "tmpfs"})
	// A file bound on a file missing in the rootfs.
	b.addMount(specs.Mount{Destination: "/etc/bound/file.txt", Type: "bind", Source: filepath.Join(src, "hello"), Options: []string{"bind", "ro"}})
	os.MkdirAll(filepath.Join(b.rootfs, "mnt"), 0o755)
	b.sh(`cat /mnt/ro/hello
echo "file:$(cat /etc/bound/file.txt)"
touch /mnt/ro/x 2>/dev/null && echo ro-writable
cat /mnt/flags/sub/subfile
ls /mnt/bind/sub | grep -q subfile && echo bind-carried-submount
/mnt/flags/script 2>/dev/null && echo noexec-ran
/mnt/bind/script
echo tmpfs-mode:$(stat -c %a /mnt/tmpfs)
ls /sys/fs/cgroup
cat /proc/self/mountinfo`)
	out := b.mustRun()
	ls := lines(out)
	for _, want := range []string{"bind-content", "in-submount", "script-ran", "tmpfs-mode:1770", "file:bind-content"} {
		if !contains(ls, want) {
			t.Errorf("missing %q in the output", want)
		}
	}
	for _, bad := range []string{"ro-writable", "bind-carried-submount", "noexec-ran"} {
		if contains(ls, bad) {
			t.Errorf("%s", bad)
		}
	}
	if opts, _, _, ok := mountOptions(out, "/mnt/ro"); !ok || !contains(opts, "ro") {
		t.Errorf("/mnt/ro options %v, want ro", opts)
	}
	if opts, _, _, ok := mountOptions(out, "/mnt/flags"); !ok || !contains(opts, "nosuid") || !contains(opts, "nodev") || !contains(opts, "noexec") {
		t.Errorf("/mnt/flags options %v, want nosuid,nodev,noexec", opts)
	}
	if _, _, _, ok := mountOptions(out, "/mnt/flags/sub"); !ok {
		t.Errorf("rbind did not carry the submount to /mnt/flags/sub")
	}
	if _, typ, super, ok := mountOptions(out, "/mnt/tmpfs"); !ok || typ != "tmpfs" || !contains(super, "size=1024k") || !contains(super, "mode=1770") {
		t.Errorf("/mnt/tmpfs: %s %v, want tmpfs size=1024k mode=1770", typ, super)
	}
	for point, typ := range map[string]string{"/proc": "proc", "/sys": "sysfs", "/dev/pts": "devpts", "/dev/mqueue": "mqueue", "/dev": "tmpfs", "/new/deep/dir": "tmpfs"} {
		if _, got, _, ok := mountOptions(out, point); !ok || got != typ {
			t.Errorf("%s: type %q, want %s", point, got, typ)
		}
	}
	cgroupMounted := false
	for _, l := range strings.Split(out, "\n") {
		if _, post, ok := strings.Cut(l, " - "); ok && strings.Contains(l, " /sys/fs/cgroup") && (strings.HasPrefix(post, "cgroup ") || strings.HasPrefix(post, "cgroup2 ")) {
			cgroupMounted = true
		}
	}
	if !cgroupMounted {
		t.Errorf("no cgroup file system under /sys/fs/cgroup")
	}
	if cgroupV1() && !contains(ls, "memory") {
		t.Errorf("ls /sys/fs/cgroup lacks memory: %q", out)
	}
	if st, err := os.Stat(filepath.Join(b.rootfs, "new/deep/dir")); err != nil || !st.IsDir() {
		t.Errorf("the missing destination /new/deep/dir was not created in the rootfs: %v", err)
	}
	if _, err := os.Stat("/new/deep/dir"); err == nil {
		t.Errorf("/new/deep/dir was created on the host")
	}
}

// linux.namespaces: new ones are not the host's; one given by path is joined.
func TestNamespaces(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		b := newBundle(t)
		b.sh("echo pid:$$; for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done")
		out := lines(b.mustRun())
		if len(out) == 0 || out[0] != "pid:1" {
			t.Errorf("the process is not pid 1 of its namespace: %q", out)
		}
		for _, n := range []string{"pid", "net", "ipc", "uts", "mnt"} {
			host, _ := os.Readlink("/proc/self/ns/" + n)
			if contains(out, host) {
				t.Errorf("the container is in the host's %s namespace %s", n, host)
			}
		}
	})
	t.Run("shared with the host when not listed", func(t *testing.T) {
		b := newBundle(t)
		b.withoutNamespace(specs.NetworkNamespace)
		b.sh("readlink /proc/self/ns/net")
		host, _ := os.Readlink("/proc/self/ns/net")
		if got := strings.TrimSpace(b.mustRun()); got != host {
			t.Errorf("without a network namespace in the config the container is in %s, the host in %s", got, host)
		}
	})
	t.Run("joined by path", func(t *testing.T) {
		b := newBundle(t)
		// A network namespace made by `ip netns add` (as CNI plugins
		// find them, under /run/netns), or where iproute2 is missing by
		// `unshare --net=FILE`.
		name := fmt.Sprintf("oci-%d-%s", os.Getpid(), b.id)
		netnsPath := "/run/netns/" + name
		withIP := false
		if _, err := exec.LookPath("ip"); err == nil {
			// (BusyBox's ip has no netns: then as below.)
			if exec.Command("ip", "netns", "add", name).Run() == nil {
				t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
				withIP = true
				if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "add", "ocidummy0", "type", "dummy").CombinedOutput(); err != nil {
					t.Logf("no dummy link in the namespace (%v %s): checking the inode only", err, out)
				}
			}
		}
		if !withIP {
			netnsPath = filepath.Join(b.dir, "netns")
			namespaceFile(t, netnsPath, unix.CLONE_NEWNET, nil)
		}
		var st unix.Stat_t
		if err := unix.Stat(netnsPath, &st); err != nil {
			t.Fatal(err)
		}
		// And an UTS namespace with a hostname of its own, bind-mounted on
		// a file.
		utsFile := filepath.Join(b.dir, "utsns")
		namespaceFile(t, utsFile, unix.CLONE_NEWUTS, func() error { return unix.Sethostname([]byte("joined-uts")) })
		for i, n := range b.spec.Linux.Namespaces {
			switch n.Type {
			case specs.NetworkNamespace:
				b.spec.Linux.Namespaces[i].Path = netnsPath
			case specs.UTSNamespace:
				b.spec.Linux.Namespaces[i].Path = utsFile
			}
		}
		b.spec.Hostname = "" // the joined namespace has its own
		b.sh("readlink /proc/self/ns/net; hostname; cat /proc/net/dev")
		out := b.mustRun()
		if want := fmt.Sprintf("net:[%d]", st.Ino); !contains(lines(out), want) {
			t.Errorf("the container is not in the network namespace %s (%s): %q", netnsPath, want, out)
		}
		if !contains(lines(out), "joined-uts") {
			t.Errorf("the container is not in the UTS namespace of %s: %q", utsFile, out)
		}
		if withIP && exec.Command("ip", "netns", "exec", name, "ip", "link", "show", "ocidummy0").Run() == nil && !strings.Contains(out, "ocidummy0") {
			t.Errorf("the joined namespace's dummy link is not seen: %q", out)
		}
	})
}

// linux.devices makes nodes with their type, numbers, mode and owner.
func TestDevices(t *testing.T) {
	b := newBundle(t)
	b.spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o666)), UID: ptr(uint32(0)), GID: ptr(uint32(0))},
		{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.FileMode(0o626)), UID: ptr(uint32(1000)), GID: ptr(uint32(5))},
		{Path: "/dev/sub/myloop", Type: "b", Major: 7, Minor: 0, FileMode: ptr(os.FileMode(0o600))},
	}
	b.spec.Linux.Resources.Devices = append(b.spec.Linux.Resources.Devices,
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"})
	b.sh("stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /dev/mynull /dev/sub/myloop; echo x > /dev/mynull && echo mynull-writable")
	out := lines(b.mustRun())
	for _, want := range []string{
		"/dev/fuse character special file a:e5 666 0:0",
		"/dev/mynull character special file 1:3 626 1000:5",
		"/dev/sub/myloop block special file 7:0 600 0:0",
		"mynull-writable",
	} {
		if !contains(out, want) {
			t.Errorf("want %q in %q", want, out)
		}
	}
}

// linux.cgroupsPath: the container's processes are in that cgroup (on v1
// in every hierarchy the runtime uses, which the init joins itself), which
// goes away with the container.
func TestCgroupsPath(t *testing.T) {
	b := newBundle(t)
	b.cgPath = cgroupParent + "/custom/" + b.id + "-cg"
	b.spec.Linux.CgroupsPath = b.cgPath
	b.long()
	b.createStart()
	pid := b.state().Pid
	if !contains(strings.Fields(readCgroupFile(t, "pids", b.cgPath, "cgroup.procs")), strconv.Itoa(pid)) {
		t.Errorf("init %d is not in %s", pid, cgroupFile("pids", b.cgPath, "cgroup.procs"))
	}
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range lines(string(data)) {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && (usedV1Hierarchy(parts[1]) || !cgroupV1() && parts[0] == "0") && parts[2] != b.cgPath {
			t.Errorf("/proc/%d/cgroup: %q, want %s", pid, l, b.cgPath)
		}
	}
	mustRT(t, "delete", "--force", b.id)
	waitGone(pid, pollTimeout)
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		t.Errorf("cgroups left after delete: %v", dirs)
	}
}

// usedV1Hierarchy reports whether a /proc/PID/cgroup line's controllers
// ("cpu,cpuacct") name one that the runtime puts every container in.
func usedV1Hierarchy(ctrls string) bool {
	for _, c := range strings.Split(ctrls, ",") {
		switch c {
		case "memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices":
			return true
		}
	}
	return false
}

// linux.resources become the cgroup files.
func TestResources(t *testing.T) {
	if !cgroupV1() {
		t.Skip("the cgroup files checked are v1's")
	}
	b := newBundle(t)
	r := b.spec.Linux.Resources
	r.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(32 << 20)), Swappiness: ptr(uint64(10))}
	hasSwap := fileExists(cgroupFile("memory", "", "memory.memsw.limit_in_bytes"))
	if hasSwap {
		r.Memory.Swap = ptr(int64(128 << 20))
	}
	r.CPU = &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"}
	r.Pids = &specs.LinuxPids{Limit: ptr(int64(77))}
	weightFile := ""
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if fileExists(cgroupFile("blkio", "", f)) {
			weightFile = f
			break
		}
	}
	if weightFile != "" {
		r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(300))}
	} else {
		t.Logf("no blkio.weight on this machine: blockIO.weight not checked")
	}
	// The spec's deny-all first, then one device allowed.
	r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"})
	b.long()
	b.createStart()
	want := map[[2]string]string{
		{"memory", "memory.limit_in_bytes"}:      strconv.Itoa(64 << 20),
		{"memory", "memory.soft_limit_in_bytes"}: strconv.Itoa(32 << 20),
		{"memory", "memory.swappiness"}:          "10",
		{"cpu", "cpu.shares"}:                    "512",
		{"cpu", "cpu.cfs_quota_us"}:              "50000",
		{"cpu", "cpu.cfs_period_us"}:             "100000",
		{"cpuset", "cpuset.cpus"}:                "0",
		{"cpuset", "cpuset.mems"}:                "0",
		{"pids", "pids.max"}:                     "77",
	}
	if hasSwap {
		want[[2]string{"memory", "memory.memsw.limit_in_bytes"}] = strconv.Itoa(128 << 20)
	}
	if weightFile != "" {
		want[[2]string{"blkio", weightFile}] = "300"
	}
	for k, v := range want {
		if got := readCgroupFile(t, k[0], b.cgPath, k[1]); got != v && !(k[1] == "blkio.bfq.weight" && strings.HasSuffix(got, " "+v)) {
			t.Errorf("%s = %q, want %q", k[1], got, v)
		}
	}
	devs := lines(readCgroupFile(t, "devices", b.cgPath, "devices.list"))
	if contains(devs, "a *:* rwm") {
		t.Errorf("devices.list allows every device: %v", devs)
	}
	if !contains(devs, "c 1:3 rwm") {
		t.Errorf("devices.list lacks c 1:3 rwm: %v", devs)
	}
	for _, d := range devs {
		if strings.HasPrefix(d, "b ") && strings.HasSuffix(d, "rw") || strings.HasPrefix(d, "b ") && strings.HasSuffix(d, "rwm") {
			t.Errorf("devices.list gives access to a block device: %q", d)
		}
	}
}

// linux.sysctl is written in the container's namespaces, not the host's.
func TestSysctl(t *testing.T) {
	b := newBundle(t)
	b.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
	hostFwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	hostShm, _ := os.ReadFile("/proc/sys/kernel/shm_rmid_forced")
	b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced")
	if out := lines(b.mustRun()); strings.Join(out, ",") != "1,1" {
		t.Errorf("in the container ip_forward, shm_rmid_forced = %q, want 1, 1", out)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostFwd) {
		t.Errorf("the host's ip_forward changed: %q -> %q", hostFwd, now)
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/shm_rmid_forced"); string(now) != string(hostShm) {
		t.Errorf("the host's shm_rmid_forced changed: %q -> %q", hostShm, now)
	}
}

// linux.rootfsPropagation sets the propagation of the container's /.
func TestRootfsPropagation(t *testing.T) {
	for _, c := range []struct{ prop, want, notWant string }{
		{"shared", "shared:", ""},
		{"private", "", "shared:"},
	} {
		t.Run(c.prop, func(t *testing.T) {
			if c.prop == "shared" && runcBefore(1, 2) {
				// runc 1.1 applies rootfsPropagation to the namespace's old
				// root, then makes the rootfs's parent private before
				// binding it: the container's / is never shared.
				t.Skip("runc 1.1 does not make the container's / shared")
			}
			b := newBundle(t)
			b.spec.Linux.RootfsPropagation = c.prop
			b.sh("awk '$5 == \"/\"' /proc/self/mountinfo")
			out := b.mustRun()
			if c.want != "" && !strings.Contains(out, c.want) {
				t.Errorf("rootfsPropagation %s: / is %q, want %s", c.prop, out, c.want)
			}
			if c.notWant != "" && strings.Contains(out, c.notWant) {
				t.Errorf("rootfsPropagation %s: / is %q", c.prop, out)
			}
		})
	}
}

// maskedPaths: a masked file reads empty (it is /dev/null), a masked
// directory is an empty read-only tmpfs.
func TestMaskedPaths(t *testing.T) {
	b := newBundle(t)
	os.WriteFile(filepath.Join(b.rootfs, "etc/secret"), []byte("top-secret\n"), 0o644)
	os.MkdirAll(filepath.Join(b.rootfs, "secretdir"), 0o755)
	os.WriteFile(filepath.Join(b.rootfs, "secretdir/key"), []byte("key-material\n"), 0o644)
	b.spec.Linux.MaskedPaths = []string{"/etc/secret", "/secretdir", "/proc/kcore", "/does/not/exist"}
	b.sh(`echo "secret:[$(cat /etc/secret)]"
echo "dir:[$(ls -A /secretdir)]"
echo "kcore:[$(head -c 16 /proc/kcore | wc -c)]"
stat -c 'file:%F %t:%T' /etc/secret
stat -f -c 'dirfs:%T' /secretdir
touch /secretdir/new 2>/dev/null && echo masked-dir-writable
echo x > /etc/secret 2>/dev/null; cat /etc/secret`)
	out := lines(b.mustRun())
	for _, want := range []string{"secret:[]", "dir:[]", "kcore:[0]", "file:character special file 1:3", "dirfs:tmpfs"} {
		if !contains(out, want) {
			t.Errorf("want %q in %q", want, out)
		}
	}
	for _, l := range out {
		if strings.Contains(l, "top-secret") || strings.Contains(l, "key") || l == "masked-dir-writable" {
			t.Errorf("masking failed: %q", l)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(b.rootfs, "etc/secret")); string(data) != "top-secret\n" {
		t.Errorf("the masked file in the rootfs changed: %q", data)
	}
}

// readonlyPaths cannot be written.
func TestReadonlyPaths(t *testing.T) {
	b := newBundle(t)
	os.MkdirAll(filepath.Join(b.rootfs, "rodir"), 0o755)
	os.WriteFile(filepath.Join(b.rootfs, "rodir/file"), []byte("original\n"), 0o644)
	b.spec.Linux.ReadonlyPaths = []string{"/rodir", "/proc/sys", "/proc/sysrq-trigger"}
	b.sh(`touch /rodir/new 2>&1 || echo touch-refused
echo changed > /rodir/file 2>&1 || echo write-refused
echo 1 > /proc/sys/kernel/domainname 2>&1 || echo sysctl-refused
cat /rodir/file`)
	out := b.mustRun()
	for _, want := range []string{"touch-refused", "write-refused", "sysctl-refused", "original"} {
		if !contains(lines(out), want) {
			t.Errorf("want %q in %q", want, out)
		}
	}
	if !strings.Contains(out, "Read-only file system") {
		t.Errorf("the writes did not fail with EROFS: %q", out)
	}
}

// linux.personality LINUX32: uname -m says i686.
func TestPersonality(t *testing.T) {
	if runcBefore(1, 2) {
		t.Skipf("runc %d.%d ignores linux.personality (runc supports it from 1.2)", runcVersion[0], runcVersion[1])
	}
	b := newBundle(t)
	b.spec.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	b.sh("uname -m")
	if got := strings.TrimSpace(b.mustRun()); got != "i686" {
		t.Errorf("uname -m = %q with personality LINUX32, want i686", got)
	}
}

// namespaceFile makes a namespace of type flag (CLONE_NEW*), runs setup in
// it, and bind-mounts it on path, as `ip netns add` or `unshare --net=FILE`
// do, without either tool (the cgroup2 VM has neither).
func namespaceFile(t *testing.T, path string, flag int, setup func() error) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread goes back to its own namespace before it is unlocked;
		// if it cannot, it stays locked and dies with the goroutine (unless
		// it is the main thread, which the runtime keeps: /proc/self would
		// then show this namespace, hence the way back).
		runtime.LockOSThread()
		kind := map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWUTS: "uts"}[flag]
		own, err := unix.Open(fmt.Sprintf("/proc/thread-self/ns/%s", kind), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer unix.Close(own)
		if err := unix.Unshare(flag); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = nil
		if setup != nil {
			err = setup()
		}
		if err == nil {
			src := fmt.Sprintf("/proc/self/task/%d/ns/%s", unix.Gettid(), kind)
			err = unix.Mount(src, path, "", unix.MS_BIND, "")
		}
		if unix.Setns(own, flag) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("namespace on %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Unmount(path, unix.MNT_DETACH) })
}

// linux.resources.pids.limit N lets the container's program have exactly N
// tasks alive, however many threads the runtime's init had before its
// execve; N = 1, 2, 3 start (run, create and start) without a word from a Go
// runtime, and the limit is in place from create on. exec works in such a
// container, its process counting against the limit, even at the limit.
func TestPidsLimitCountsTheContainer(t *testing.T) {
	// Each line is a fork that worked; the shell is one task itself.
	forks := "for i in 1 2 3 4 5; do sleep 5 >/dev/null 2>&1 & echo started; done"
	noRuntimeNoise := func(t *testing.T, out string) {
		for _, bad := range []string{"goroutine", "fatal error", "runtime:", "panic"} {
			if strings.Contains(out, bad) {
				t.Errorf("%q in the output:\n%s", bad, out)
			}
		}
	}
	limited := func(t *testing.T, n int64, args ...string) *bundle {
		b := newBundle(t)
		b.spec.Process.Args = args
		b.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(n)}
		return b
	}
	for _, n := range []int64{1, 2, 3} {
		t.Run(strconv.FormatInt(n, 10), func(t *testing.T) {
			r := limited(t, n, "sh", "-c", forks).run()
			if got := strings.Count(r.stdout, "started"); got != int(n)-1 {
				t.Errorf("run: %d forks worked, want %d\n%v", got, n-1, r)
			}
			noRuntimeNoise(t, r.stderr)

			b := limited(t, n, "sh", "-c", forks+"; echo done")
			b.save()
			b.mustCreate()
			if got := readCgroupFile(t, "pids", b.cgPath, "pids.max"); got != strconv.FormatInt(n, 10) {
				t.Errorf("pids.max after create = %s, want %d", got, n)
			}
			b.start()
			b.waitStatus("stopped")
			if got := strings.Count(b.output(), "started"); got != int(n)-1 {
				t.Errorf("create, start: %d forks worked, want %d\n%s", got, n-1, b.output())
			}
			errOut, _ := os.ReadFile(b.ctrErr())
			noRuntimeNoise(t, string(errOut))
		})
	}
	t.Run("exec", func(t *testing.T) {
		b := limited(t, 3, "sleep", "1000")
		b.save()
		b.createStart()
		r := b.exec("sh", "-c", forks)
		if got := strings.Count(r.stdout, "started"); got != 1 {
			t.Errorf("exec: %d forks worked, want 1 (the container's sleep and the shell are 2 of 3)\n%v", got, r)
		}
		noRuntimeNoise(t, r.stderr)
	})
	t.Run("exec at the limit", func(t *testing.T) {
		b := limited(t, 1, "sleep", "1000")
		b.save()
		b.createStart()
		r := b.exec("echo", "in")
		if r.code != 0 || r.stdout != "in\n" {
			t.Errorf("exec into a container at its pids limit: %v", r)
		}
		noRuntimeNoise(t, r.stderr)
	})
}

// A bind mount of a shared host directory with rslave or rshared sees what
// the host mounts there after the container started (the container's
// mounts are slaves of the host's, as with runc, not private copies); with
// rprivate it does not. What the container mounts there reaches the host
// with rshared only, and a shared rootfsPropagation (the mount stays in the
// host's peer group). A CRI
// pod's HostToContainer and Bidirectional volumes are such mounts.
func TestBindMountPropagation(t *testing.T) {
	for _, c := range []struct {
		prop       string
		seen, back bool
	}{{"rslave", true, false}, {"rshared", true, true}, {"rprivate", false, false}} {
		t.Run(c.prop, func(t *testing.T) {
			src := t.TempDir()
			if err := unix.Mount(src, src, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
			if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"fromhost", "fromctr"} {
				if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			b := newBundle(t)
			b.addMount(specs.Mount{Destination: "/shared", Type: "bind", Source: src, Options: []string{"rbind", c.prop}})
			if c.prop == "rshared" {
				b.spec.Linux.RootfsPropagation = "rshared" // as containerd sets it for such a volume
			}
			caps := b.spec.Process.Capabilities // to mount in the container
			caps.Bounding = append(caps.Bounding, "CAP_SYS_ADMIN")
			caps.Effective = append(caps.Effective, "CAP_SYS_ADMIN")
			caps.Permitted = append(caps.Permitted, "CAP_SYS_ADMIN")
			b.long()
			b.createStart()
			b.waitOutput("ready")

			fromHost := filepath.Join(src, "fromhost")
			if err := unix.Mount("tmpfs", fromHost, "tmpfs", 0, "size=64k"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Unmount(fromHost, unix.MNT_DETACH) })
			if err := os.WriteFile(filepath.Join(fromHost, "flag"), []byte("from-host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := b.mustExec("sh", "-c", "cat /shared/fromhost/flag 2>/dev/null || echo none")
			if got := strings.TrimSpace(out); (got == "from-host") != c.seen {
				t.Errorf("%s bind mount: the container reads %q in the host's new mount, want it seen: %v", c.prop, got, c.seen)
			}

			b.mustExec("sh", "-c", "mount -t tmpfs -o size=64k tmpfs /shared/fromctr && echo x > /shared/fromctr/flag")
			fromCtr := filepath.Join(src, "fromctr")
			t.Cleanup(func() { _ = unix.Unmount(fromCtr, unix.MNT_DETACH) })
			_, err := os.Stat(filepath.Join(fromCtr, "flag"))
			if (err == nil) != c.back {
				t.Errorf("%s bind mount: the container's mount reached the host: %v, want %v", c.prop, err == nil, c.back)
			}
		})
	}
}
