package launch

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCredentialsMismatch(t *testing.T) {
	same := func(id uint32) [4]uint32 { return [4]uint32{id, id, id, id} }
	for _, c := range []struct {
		name string
		have credentials
		u    specs.User
		err  string // "" : a match
	}{
		{"root", credentials{uid: same(0), gid: same(0)}, specs.User{}, ""},
		{"groups in another order", credentials{uid: same(1000), gid: same(100), groups: []uint32{20, 10, 30}},
			specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{30, 20, 10}}, ""},
		{"setresuid(-1) left root", credentials{uid: same(0), gid: same(0)}, specs.User{UID: 4294967295, GID: 4294967295},
			"process.user.uid: asked for 4294967295, the process has 0 (real), 0 (effective), 0 (saved), 0 (file system)"},
		{"gid left", credentials{uid: same(1000), gid: same(0)}, specs.User{UID: 1000, GID: 4294967295},
			"process.user.gid: asked for 4294967295, the process has 0 (real)"},
		{"saved uid", credentials{uid: [4]uint32{1000, 1000, 0, 1000}, gid: same(0)}, specs.User{UID: 1000},
			"process.user.uid: asked for 1000, the process has 1000 (real), 1000 (effective), 0 (saved)"},
		{"file system gid", credentials{uid: same(5), gid: [4]uint32{5, 5, 5, 0}}, specs.User{UID: 5, GID: 5},
			"process.user.gid: asked for 5"},
		{"a group kept", credentials{uid: same(5), gid: same(5), groups: []uint32{0}}, specs.User{UID: 5, GID: 5},
			"process.user.additionalGids: asked for [], the process has the groups [0]"},
		{"a group missing", credentials{uid: same(5), gid: same(5), groups: []uint32{1}}, specs.User{UID: 5, GID: 5, AdditionalGids: []uint32{1, 2}},
			"process.user.additionalGids: asked for [1 2], the process has the groups [1]"},
		{"a group doubled", credentials{uid: same(5), gid: same(5), groups: []uint32{1, 2}}, specs.User{UID: 5, GID: 5, AdditionalGids: []uint32{1, 1}},
			"process.user.additionalGids"},
	} {
		err := c.have.mismatch(c.u)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("%s: %v; want %q", c.name, err, c.err)
		}
	}
}

// readCredentials reads what the kernel says of this process.
func TestReadCredentials(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := readCredentials()
	if err != nil {
		t.Fatal(err)
	}
	r, e, s := unix.Getresuid()
	if want := [4]uint32{uint32(r), uint32(e), uint32(s), uint32(e)}; c.uid != want {
		t.Errorf("uid %v, want %v", c.uid, want)
	}
	r, e, s = unix.Getresgid()
	if want := [4]uint32{uint32(r), uint32(e), uint32(s), uint32(e)}; c.gid != want {
		t.Errorf("gid %v, want %v", c.gid, want)
	}
	groups, _ := os.Getgroups()
	var want []uint32
	for _, g := range groups {
		want = append(want, uint32(g))
	}
	if !slices.Equal(c.groups, want) && !(len(c.groups) == 0 && len(want) == 0) {
		t.Errorf("groups %v, want %v", c.groups, want)
	}
}

// setUser on a real thread: an id of -1 (4294967295) makes setresuid and
// setresgid change nothing, and the check refuses the root that is left;
// ids in range are set and pass.
func TestSetUserChecksTheResult(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: setresuid, setresgid, setgroups")
	}
	for _, c := range []struct {
		u   specs.User
		err string
	}{
		{specs.User{UID: 4294967295, GID: 4294967295}, "process.user.uid: asked for 4294967295, the process has 0 (real), 0 (effective), 0 (saved), 0 (file system)"},
		{specs.User{UID: 0, GID: 4294967295}, "process.user.gid: asked for 4294967295, the process has 0 (real)"},
		{specs.User{UID: 65534, GID: 65533, AdditionalGids: []uint32{7, 2147483647, 3}}, ""},
	} {
		done := make(chan error)
		go func() {
			// The thread's credentials change: it is never unlocked, so
			// it ends with this goroutine.
			runtime.LockOSThread()
			done <- setUser(c.u)
		}()
		err := <-done
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("setUser(%+v) = %v; want %q", c.u, err, c.err)
		}
	}
	if os.Geteuid() != 0 || os.Getegid() != 0 {
		t.Fatalf("the test process's own credentials changed")
	}
}

// Every step of privileges.applyRaw that can fail under the seccomp filter
// has its message made before the filter goes in, a mismatch of the ids
// read back included (sealedFailures.exit then only writes it).
func TestSealedFailuresRendered(t *testing.T) {
	p, err := newPrivileges(&specs.Process{User: specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{7, 5}}})
	if err != nil {
		t.Fatal(err)
	}
	f := newSealedFailures(p)
	for s := privKeepcaps; s <= privAmbient; s++ {
		m, err := unmarshalSyncMessage(f.steps[s&15])
		if err != nil || m.Type != "error" || m.Code != 125 || !strings.HasPrefix(m.Error, "linux.seccomp: after the filter: ") {
			t.Errorf("step %d: %+v %v", s, m, err)
		}
	}
	for s, want := range map[privStep]string{
		privMismatch:       "process.user.uid: asked for 1000, the uid read back differs",
		privMismatchGid:    "process.user.gid: asked for 1001, the gid read back differs",
		privMismatchGroups: "process.user.additionalGids: asked for [7 5], the groups read back differ",
	} {
		m, _ := unmarshalSyncMessage(f.steps[s&15])
		if !strings.Contains(m.Error, want) || !strings.HasSuffix(m.Error, "refused to run it") {
			t.Errorf("step %d: %q, want %q", s, m.Error, want)
		}
	}
	if privAmbient > 15 {
		t.Errorf("%d steps: sealedFailures has room for 16", privAmbient+1)
	}
}
