package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// usernsHost is the first host id of the tests' user namespaces.
const usernsHost = 200000

// userns gives the container a user namespace mapping its ids 0-65535 to
// the host's host.., and the rootfs to the container's root (the runtime
// makes no copy of it).
func (b *bundle) userns(host uint32) {
	b.t.Helper()
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: 65536}}
	b.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: 65536}}
	b.chownRootfs(host)
}

// chownRootfs gives the rootfs to host, the root of a user namespace.
func (b *bundle) chownRootfs(host uint32) {
	b.t.Helper()
	// The container's root reaches its rootfs as any other host user.
	if err := os.Chmod(filepath.Dir(b.dir), 0o755); err != nil {
		b.t.Fatal(err)
	}
	err := filepath.Walk(b.rootfs, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(host), int(host))
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

// hostOwner is the uid and gid of p on the host.
func hostOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// A user-namespaced container: root inside is usernsHost outside, for its
// processes, its files in a volume and its cgroup; /proc and /sys are
// there, the devices work (bind-mounted from the host) and exec joins the
// same user namespace, as root of it.
func TestUsernsContainer(t *testing.T) {
	b := newBundle(t)
	out := b.outDir()
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	b.userns(usernsHost)
	b.sh(`id -u; id -g; touch /out/made; mkdir /out/dir
		grep -q '^Name:' /proc/self/status && echo proc-ok
		test -d /sys/kernel && echo sys-ok
		echo x >/dev/null && head -c 4 /dev/zero | wc -c
		echo ready; while :; do sleep 1; done`)
	b.createStart()
	got := lines(b.output())
	for _, want := range []string{"0", "proc-ok", "sys-ok", "4", "ready"} {
		if !contains(got, want) {
			t.Errorf("container output %q lacks %q", got, want)
		}
	}
	for _, p := range []string{"made", "dir"} {
		if uid, gid := hostOwner(t, filepath.Join(out, p)); uid != usernsHost || gid != usernsHost {
			t.Errorf("/out/%s is %d:%d on the host, want %d:%d", p, uid, gid, usernsHost, usernsHost)
		}
	}
	st := b.state()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Uid:\t%d\t%d", usernsHost, usernsHost); !strings.Contains(string(status), want) {
		t.Errorf("the host sees the container's process as\n%s\nwant a line starting %q", status, want)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	execOut := lines(b.mustExec("sh", "-c", "id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map; echo x >/dev/null && echo null-ok"))
	if len(execOut) < 4 || execOut[0] != "0" || execOut[1] != ns || !strings.HasPrefix(strings.Join(strings.Fields(execOut[2]), " "), "0 "+strconv.Itoa(usernsHost)+" 65536") || execOut[3] != "null-ok" {
		t.Errorf("exec printed %q, want uid 0, user namespace %s, its map, null-ok", execOut, ns)
	}
	if isRunc {
		return // runc chowns the cgroup on v2 only
	}
	dir := cgroupFile("pids", b.cgPath, "")
	if uid, _ := hostOwner(t, dir); uid != usernsHost {
		t.Errorf("cgroup %s belongs to uid %d, want the container's root %d", dir, uid, usernsHost)
	}
}

// Mappings the kernel would refuse, or that make no sense with the
// namespaces given, are refused before anything is made.
func TestUsernsBadMappings(t *testing.T) {
	m := func(c, h, n uint32) []specs.LinuxIDMapping {
		return []specs.LinuxIDMapping{{ContainerID: c, HostID: h, Size: n}}
	}
	for _, tc := range []struct {
		name   string
		userns bool
		uid    []specs.LinuxIDMapping
		gid    []specs.LinuxIDMapping
		want   string
	}{
		{"overlap inside", true, append(m(0, 300000, 1000), m(500, 400000, 10)...), m(0, 300000, 1000), "overlap"},
		{"overlap on the host", true, append(m(0, 300000, 1000), m(5000, 300500, 10)...), m(0, 300000, 1000), "overlap"},
		{"out of range", true, m(0, 4294967000, 1000), m(0, 300000, 1000), "linux.uidMappings"},
		{"empty range", true, m(0, 300000, 0), m(0, 300000, 1000), "size 0"},
		{"without a user namespace", false, m(0, 300000, 1000), m(0, 300000, 1000), "without a user namespace"},
		{"no gid mappings", true, m(0, 300000, 1000), nil, "gidMappings"},
		{"root not mapped", true, m(1, 300000, 1000), m(0, 300000, 1000), "not mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if isRunc && !tc.userns {
				t.Skip("runc 1.1 ignores mappings without a user namespace")
			}
			b := newBundle(t)
			if tc.userns {
				b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			}
			b.spec.Linux.UIDMappings, b.spec.Linux.GIDMappings = tc.uid, tc.gid
			r := b.run()
			if r.code == 0 {
				t.Fatalf("a container with %s ran: %v", tc.name, r)
			}
			if !isRunc && (!strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0) {
				t.Errorf("want one line naming %q: %v", tc.want, r)
			}
			if _, err := b.stateErr(); err == nil {
				t.Errorf("the refused container %s has a state", b.id)
			}
			if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
				t.Errorf("the refused container left cgroups: %v", dirs)
			}
		})
	}
}

// A user namespace given by path is joined (with the pid namespace of the
// container that made it: a new one inside it is refused), and the new
// namespaces belong to it.
func TestUsernsByPath(t *testing.T) {
	a := newBundle(t).long()
	a.userns(usernsHost)
	a.createStart()
	pid := a.state().Pid
	b := newBundle(t)
	b.chownRootfs(usernsHost)
	b.withoutNamespace(specs.PIDNamespace)
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces,
		specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)},
		specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pid)})
	// The namespace's own mappings, as containerd gives them (runc 1.1
	// needs them).
	b.spec.Linux.UIDMappings, b.spec.Linux.GIDMappings = a.spec.Linux.UIDMappings, a.spec.Linux.GIDMappings
	// Mounting needs CAP_SYS_ADMIN over the mount namespace: the user
	// namespace's, not the host's.
	caps := b.spec.Process.Capabilities
	caps.Bounding = append(caps.Bounding, "CAP_SYS_ADMIN")
	caps.Effective = append(caps.Effective, "CAP_SYS_ADMIN")
	caps.Permitted = append(caps.Permitted, "CAP_SYS_ADMIN")
	b.sh("id -u; readlink /proc/self/ns/user; mount -t tmpfs t /mnt && echo mounted")
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(b.mustRun()); len(got) != 3 || got[0] != "0" || got[1] != want || got[2] != "mounted" {
		t.Errorf("the joining container printed %q, want 0, %s, mounted", got, want)
	}
	if isRunc {
		return
	}
	c := newBundle(t)
	c.spec.Linux.Namespaces = append(c.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	if r := c.run(); r.code == 0 || !strings.Contains(r.stderr, "new pid namespace") {
		t.Errorf("a new pid namespace inside a joined user namespace: want a refusal naming it: %v", r)
	}
}

// Id-mapped mounts: a host directory of root's files is the container
// root's through the container's own mappings (the idmap option) and
// writable by it, its files written back as the host's root; a mount with
// mappings of its own shows the ids they give, in a container with or
// without a user namespace.
func TestUsernsIDMappedMounts(t *testing.T) {
	if isRunc {
		t.Skip("runc 1.1 has no id-mapped mounts")
	}
	vol := t.TempDir()
	if err := os.Chmod(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "host"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(vol, "host"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	b := newBundle(t)
	b.userns(usernsHost)
	b.addMount(specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "idmap"}})
	b.addMount(specs.Mount{Destination: "/ro", Type: "bind", Source: vol, Options: []string{"bind", "ro"},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: usernsHost + 7, Size: 1}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: usernsHost + 8, Size: 1}}})
	b.sh("stat -c '%u:%g' /vol /vol/host /ro/host; touch /vol/made && echo made; touch /ro/no 2>/dev/null || echo ro")
	r := b.run()
	if r.code != 0 && strings.Contains(r.stderr, "cannot be id-mapped on this kernel") {
		t.Skipf("the file system of %s cannot be id-mapped here: %s", vol, r.stderr)
	}
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	got := lines(r.stdout)
	if want := []string{"0:0", "1000:1000", "7:8", "made", "ro"}; !slices.Equal(got, want) {
		t.Errorf("the container printed %q, want %q", got, want)
	}
	if uid, gid := hostOwner(t, filepath.Join(vol, "made")); uid != 0 || gid != 0 {
		t.Errorf("a file the container's root made in the id-mapped mount is %d:%d on the host, want 0:0", uid, gid)
	}

	// Without a user namespace: the mount's own mappings.
	c := newBundle(t)
	c.addMount(specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind"},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 4000, Size: 1}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 5000, Size: 1}}})
	c.sh("stat -c '%u:%g' /vol/host")
	if got := strings.TrimSpace(c.mustRun()); got != "4000:5000" {
		t.Errorf("without a user namespace the id-mapped file is %s, want 4000:5000", got)
	}
}

// A container with a new user namespace joins a network namespace of the
// host's root by path (as the engine gives it its network): the runtime
// joins it before the user namespace exists; /sys, which the container
// could not mount for a network namespace it does not own, is the host's,
// read-only.
func TestUsernsJoinsHostNetwork(t *testing.T) {
	if isRunc {
		t.Skip("runc 1.1 mounts a sysfs for a network namespace its user namespace does not own, and fails")
	}
	// The holder says "ready" once in its own network namespace (comparing
	// with /proc/self would race its unshare when this process's main
	// thread is not in the initial one).
	holder := newNSHolder(t, "true", "--net")
	netns := holder.path(specs.NetworkNamespace)
	want := holder.inode(t, specs.NetworkNamespace)
	b := newBundle(t)
	b.userns(usernsHost)
	b.withoutNamespace(specs.NetworkNamespace)
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns})
	b.sh("id -u; readlink /proc/self/ns/net; test -d /sys/class/net && echo sys-ok; touch /sys/x 2>/dev/null || echo sys-ro")
	if got := lines(b.mustRun()); !slices.Equal(got, []string{"0", want, "sys-ok", "sys-ro"}) {
		t.Errorf("the container printed %q, want 0, %s, sys-ok, sys-ro", got, want)
	}
}
