package oci

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

func apparmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}

// A field the runtime cannot honour fails create, with a message naming
// it, and leaves no container behind. (runc words its messages its own
// way: for runc the message must name the feature, not the field.)
func TestRefusals(t *testing.T) {
	cases := []struct {
		name     string
		mutate   func(b *bundle)
		field    string // sdocker-runc's message names it
		runcWord string // runc's message mentions it ("" : runc accepts the config)
	}{
		{name: "apparmor profile without AppArmor", field: "apparmorProfile", runcWord: "apparmor",
			mutate: func(b *bundle) { b.spec.Process.ApparmorProfile = "oci-test-profile" }},
		{name: "uid mappings without a user namespace", field: "uidMappings", runcWord: "", // runc 1.1 ignores them
			mutate: func(b *bundle) {
				b.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				b.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			}},
		{name: "intelRdt", field: "intelRdt", runcWord: "", // runc 1.1 ignores it here
			mutate: func(b *bundle) { b.spec.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "oci-test"} }},
		{name: "selinux process label", field: "process.selinuxLabel", runcWord: "selinux",
			mutate: func(b *bundle) { b.spec.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }},
		{name: "selinux mount label", field: "linux.mountLabel", runcWord: "",
			mutate: func(b *bundle) { b.spec.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }},
		{name: "missing rootfs", field: "root.path", runcWord: "",
			mutate: func(b *bundle) { b.spec.Root.Path = "no-such-rootfs" }},
		{name: "relative cwd", field: "process.cwd", runcWord: "",
			mutate: func(b *bundle) { b.spec.Process.Cwd = "relative" }},
		{name: "rlimit given twice", field: "process.rlimits[1].type", runcWord: "",
			mutate: func(b *bundle) {
				b.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}, {Type: "RLIMIT_NOFILE", Soft: 512, Hard: 512}}
			}},
		{name: "hook timeout zero", field: "hooks.poststop[0].timeout", runcWord: "",
			mutate: func(b *bundle) {
				b.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: ptr(0)}}}
			}},
		{name: "unknown rlimit", field: "rlimits", runcWord: "rlimit",
			mutate: func(b *bundle) {
				b.spec.Process.Rlimits = append(b.spec.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOSUCH", Soft: 1, Hard: 1})
			}},
		{name: "unknown capability", field: "capabilities", runcWord: "", // runc 1.1 warns and ignores it
			mutate: func(b *bundle) {
				b.spec.Process.Capabilities.Bounding = append(b.spec.Process.Capabilities.Bounding, "CAP_NO_SUCH")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.field == "apparmorProfile" && apparmorEnabled() {
				t.Skip("AppArmor is enabled on this machine")
			}
			b := newBundle(t)
			c.mutate(b)
			b.long()
			r := b.create()
			if r.code == 0 {
				if isRunc && c.runcWord == "" {
					return
				}
				t.Fatalf("create succeeded with %s", c.name)
			}
			msg := strings.ToLower(r.stderr)
			if isRunc {
				if !strings.Contains(msg, c.runcWord) {
					t.Errorf("runc's message does not mention %q: %q", c.runcWord, r.stderr)
				}
			} else if !strings.Contains(r.stderr, c.field) {
				t.Errorf("the message does not name the field %s: %q", c.field, r.stderr)
			}
			if st, err := b.stateErr(); err == nil && st.Status != "stopped" {
				t.Errorf("a refused create left a container %q", st.Status)
			}
			if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
				t.Errorf("a refused create left cgroups: %v", dirs)
			}
			// (sdocker-runc may have started the init before it read the
			// whole config: the refusal must end it.)
			if kids := childProcesses(); len(kids) > 0 {
				t.Errorf("a refused create left processes: %v", kids)
			}
		})
	}
}

// childProcesses lists this test binary's child processes, zombies
// included: the inits of the containers a runtime command left behind are
// adopted by the test binary (a subreaper) when the command exits.
func childProcesses() []string {
	var kids []string
	for _, pid := range testutil.Pids() {
		if st, ok := testutil.ReadProcStat(pid); ok && st.PPid == os.Getpid() {
			kids = append(kids, fmt.Sprintf("%d (%s) %c", pid, st.Comm, st.State))
		}
	}
	return kids
}

// A user namespace that maps the host's ids to themselves: both runtimes
// run it (see userns_test.go for real mappings).
func TestUserNamespaceIdentity(t *testing.T) {
	b := newBundle(t)
	b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	b.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
	b.sh("cat /proc/self/uid_map")
	if got := strings.Fields(b.mustRun()); !slices.Equal(got, []string{"0", "0", "65536"}) {
		t.Errorf("uid_map %q, want 0 0 65536", got)
	}
}

// Flags sdocker-runc refuses (the systemd cgroup driver, --no-pivot):
// refused with a message naming the flag. runc supports them.
func TestRefusedFlags(t *testing.T) {
	if isRunc {
		t.Skip("runc implements --systemd-cgroup and --no-pivot; the refusals are sdocker-runc's")
	}
	b := newBundle(t)
	b.long()
	b.save()
	r := rt(t, "--systemd-cgroup", "create", "--bundle", b.dir, b.id)
	if r.code == 0 || !strings.Contains(r.stderr, "--systemd-cgroup") {
		t.Errorf("--systemd-cgroup: want a refusal naming it:\n%v", r)
	}
	r = b.create("--no-pivot")
	if r.code == 0 || !strings.Contains(r.stderr, "--no-pivot") {
		t.Errorf("--no-pivot: want a refusal naming it:\n%v", r)
	}
	if st, err := b.stateErr(); err == nil {
		t.Errorf("a refused create left a container %q", st.Status)
	}
}
