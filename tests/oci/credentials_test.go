package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// saveUser writes config.json with process.user given as raw JSON (ids no
// uint32 holds, negative ones).
func (b *bundle) saveUser(user string) {
	b.t.Helper()
	b.save()
	p := filepath.Join(b.dir, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		b.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		b.t.Fatal(err)
	}
	m["process"].(map[string]any)["user"] = json.RawMessage(user)
	if data, err = json.Marshal(m); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkRefusal checks a refused command: non-zero exit; sdocker-runc's
// message is one line that has field in it, runc's has runcWord.
func checkRefusal(t *testing.T, r result, field, runcWord string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("accepted, want a refusal naming %s:\n%v", field, r)
	}
	msg := strings.TrimSpace(r.stderr)
	if isRunc {
		if !strings.Contains(strings.ToLower(msg), runcWord) {
			t.Errorf("runc's message does not mention %q: %q", runcWord, msg)
		}
		return
	}
	if !strings.Contains(msg, field) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
		t.Errorf("want one line naming %q: %q", field, msg)
	}
}

// checkNothingLeft checks that a refused create or run left no container,
// cgroup or process.
func (b *bundle) checkNothingLeft() {
	b.t.Helper()
	if st, err := b.stateErr(); err == nil {
		b.t.Errorf("the refused container exists (%s)", st.Status)
	}
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		b.t.Errorf("cgroups left: %v", dirs)
	}
	if kids := childProcesses(); len(kids) > 0 {
		b.t.Errorf("processes left: %v", kids)
	}
}

// Every uid and gid of process.user outside 0-2147483647 is refused by
// create and run, naming the field, and leaves nothing behind: uid
// 4294967295 is setresuid's "unchanged", which ran the process as root.
func TestCredentialBoundsCreate(t *testing.T) {
	cases := []struct {
		name, user, field string
		runcWord          string // runc's message has it
	}{
		{"uid 4294967295", `{"uid":4294967295,"gid":0}`, "process.user.uid: 4294967295 is out of range (0-2147483647)", "range"},
		{"uid and gid 4294967295", `{"uid":4294967295,"gid":4294967295}`, "process.user.uid: 4294967295 is out of range", "range"},
		{"gid 4294967295", `{"uid":1000,"gid":4294967295}`, "process.user.gid: 4294967295 is out of range", "range"},
		{"uid 2147483648", `{"uid":2147483648,"gid":0}`, "process.user.uid: 2147483648 is out of range", "range"},
		{"gid 2147483648", `{"uid":0,"gid":2147483648}`, "process.user.gid: 2147483648 is out of range", "range"},
		{"additionalGids 4294967295", `{"uid":0,"gid":0,"additionalGids":[4294967295]}`, "process.user.additionalGids[0]: 4294967295 is out of range", "range"},
		{"additionalGids 2147483648", `{"uid":1000,"gid":1000,"additionalGids":[5,2147483648]}`, "process.user.additionalGids[1]: 2147483648 is out of range", "range"},
		// No uint32 holds these: the config does not parse.
		{"uid -1", `{"uid":-1,"gid":0}`, "process.user.uid", "uid"},
		{"gid -5", `{"uid":1,"gid":-5}`, "process.user.gid", "gid"},
		{"uid 4294967296", `{"uid":4294967296,"gid":0}`, "process.user.uid", "uid"},
		{"gid 99999999999", `{"uid":0,"gid":99999999999}`, "process.user.gid", "gid"},
		{"additionalGids -1", `{"uid":0,"gid":0,"additionalGids":[-1]}`, "process.user.additionalGids", "additionalgids"},
	}
	for _, c := range cases {
		for _, verb := range []string{"create", "run"} {
			t.Run(verb+" "+c.name, func(t *testing.T) {
				b := newBundle(t)
				b.sh("id")
				b.saveUser(c.user)
				args := []string{verb, "--bundle", b.dir, b.id}
				checkRefusal(t, b.withFiles(runOpts{}, args...), c.field, c.runcWord)
				if verb == "run" && strings.Contains(b.output(), "uid=") {
					t.Errorf("the process ran: %q", b.output())
				}
				b.checkNothingLeft()
			})
		}
	}
}

// linux.devices owners out of range: chown reads 4294967295 as
// "unchanged" (the device would stay root's). runc accepts them.
func TestCredentialBoundsDevice(t *testing.T) {
	if isRunc {
		t.Skip("runc does not check the owners of linux.devices: the refusal is sdocker-runc's")
	}
	for _, field := range []string{"uid", "gid"} {
		t.Run(field, func(t *testing.T) {
			b := newBundle(t)
			d := specs.LinuxDevice{Path: "/dev/xnull", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.FileMode(0o666))}
			if field == "uid" {
				d.UID = ptr(uint32(4294967295))
			} else {
				d.GID = ptr(uint32(4294967295))
			}
			b.spec.Linux.Devices = append(b.spec.Linux.Devices, d)
			checkRefusal(t, b.create(), "linux.devices[0]."+field+": 4294967295 is out of range (0-2147483647)", "")
			b.checkNothingLeft()
		})
	}
}

// In range, the process has exactly the ids asked for: what id says and
// what the kernel shows in /proc/PID/status, from inside and from the host.
func TestCredentialBoundsInRange(t *testing.T) {
	b := newBundle(t)
	b.spec.Process.User = specs.User{UID: 2147483647, GID: 2147483646, AdditionalGids: []uint32{2147483645, 7}}
	b.sh("id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status")
	want := "2147483647\n2147483646\n" + statusIDs(2147483647, 2147483646, "7 2147483645") + "\n"
	if out := b.mustRun(); out != want {
		t.Errorf("run: got\n%q\nwant\n%q", out, want)
	}

	b = newBundle(t)
	b.spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}}
	b.long()
	b.createStart()
	pid := b.state().Pid
	got, _ := testutil.ProcIDs(pid)
	if want := statusIDs(1000, 1000, "10 20"); got != want {
		t.Errorf("the init, from the host: got\n%q\nwant\n%q", got, want)
	}
	// exec --user replaces the uid and gid, --additional-gids adds groups
	// to the container's (as runc).
	script := "grep -E '^(Uid|Gid|Groups):' /proc/self/status"
	if out := b.mustExec("--user", "2147483647:0", "-g", "2147483647", "-g", "3", "--", "sh", "-c", script); out != statusIDs(2147483647, 0, "3 10 20 2147483647")+"\n" {
		t.Errorf("exec --user 2147483647:0 -g 2147483647 -g 3: %q", out)
	}
	p := specs.Process{Args: []string{"sh", "-c", script}, Env: []string{"PATH=/bin"}, Cwd: "/",
		User: specs.User{UID: 65534, GID: 65533, AdditionalGids: []uint32{1, 2}}}
	pf := filepath.Join(b.dir, "process.json")
	data, _ := json.Marshal(p)
	if err := os.WriteFile(pf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := b.mustExec("--process", pf, "--"); out != statusIDs(65534, 65533, "1 2")+"\n" {
		t.Errorf("exec --process with uid 65534 gid 65533 groups 1 2: %q", out)
	}
}

// exec refuses the same ids through --user, --additional-gids and
// --process, naming them, and starts nothing in the container.
func TestCredentialBoundsExec(t *testing.T) {
	b := newBundle(t)
	// One process that never changes (not long's loop, whose sleep is a
	// new process every second): what an exec would add shows.
	b.sh("echo ready; exec sleep 100000")
	b.createStart()
	kids := childProcesses()
	pids := testutil.CgroupProcs(b.cgPath)
	processFile := func(user string) string {
		pf := filepath.Join(b.dir, "process.json")
		data := `{"args":["id"],"env":["PATH=/bin"],"cwd":"/","user":` + user + `}`
		if err := os.WriteFile(pf, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return pf
	}
	cases := []struct {
		name     string
		flags    func() []string
		field    string
		runcWord string // "" : runc accepts it
	}{
		{"--user 4294967295", func() []string { return []string{"--user", "4294967295"} }, `--user "4294967295": uid: 4294967295 is out of range (0-2147483647)`, "range"},
		{"--user 4294967295:4294967295", func() []string { return []string{"--user", "4294967295:4294967295"} }, "uid: 4294967295 is out of range", "range"},
		{"--user 0:4294967295", func() []string { return []string{"--user", "0:4294967295"} }, "gid: 4294967295 is out of range", "range"},
		{"--user 2147483648", func() []string { return []string{"--user", "2147483648"} }, "uid: 2147483648 is out of range", "range"},
		{"--user -1", func() []string { return []string{"--user", "-1"} }, "uid: -1 is out of range", "range"},
		{"--user 1:-5", func() []string { return []string{"--user", "1:-5"} }, "gid: -5 is out of range", "range"},
		// runc cuts it to 32 bits and runs the process as 1215752191.
		{"--user 99999999999", func() []string { return []string{"--user", "99999999999"} }, "uid: 99999999999 is out of range", ""},
		{"--user 1000:", func() []string { return []string{"--user", "1000:"} }, "gid: empty id", "gid"},
		{"--user nobody", func() []string { return []string{"--user", "nobody"} }, `uid: "nobody" is not a number`, "uid"},
		{"--additional-gids 4294967295", func() []string { return []string{"--additional-gids", "4294967295"} }, "--additional-gids: 4294967295 is out of range", "range"},
		{"-g 1 -g 2147483648", func() []string { return []string{"-g", "1", "-g", "2147483648"} }, "--additional-gids: 2147483648 is out of range", "range"},
		{"--additional-gids -1", func() []string { return []string{"--additional-gids", "-1"} }, `"-1": not a number`, "-1"},
		{"--process uid 4294967295", func() []string { return []string{"--process", processFile(`{"uid":4294967295,"gid":0}`)} }, "process.user.uid: 4294967295 is out of range (0-2147483647)", "range"},
		{"--process gid 4294967295", func() []string { return []string{"--process", processFile(`{"uid":0,"gid":4294967295}`)} }, "process.user.gid: 4294967295 is out of range", "range"},
		{"--process additionalGids", func() []string {
			return []string{"--process", processFile(`{"uid":0,"gid":0,"additionalGids":[3,4294967295]}`)}
		}, "process.user.additionalGids[1]: 4294967295 is out of range", "range"},
		{"--process uid -1", func() []string { return []string{"--process", processFile(`{"uid":-1,"gid":0}`)} }, "uid", "uid"},
		{"--process uid 4294967296", func() []string { return []string{"--process", processFile(`{"uid":4294967296,"gid":0}`)} }, "uid", "uid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(c.flags(), "--")
			if !slices.Contains(args, "--process") {
				args = append(args, "id")
			}
			r := b.exec(args...)
			if isRunc && c.runcWord == "" {
				t.Logf("runc accepts %s: %v", c.name, r)
			} else {
				checkRefusal(t, r, c.field, c.runcWord)
			}
			if st := b.state(); st.Status != "running" {
				t.Errorf("the container is %s", st.Status)
			}
			if got := testutil.CgroupProcs(b.cgPath); !slices.Equal(got, pids) {
				t.Errorf("the container's processes: %v, before %v", got, pids)
			}
			if got := childProcesses(); !slices.Equal(got, kids) {
				t.Errorf("child processes: %v, before %v", got, kids)
			}
		})
	}
}

// statusIDs is the Uid, Gid and Groups lines /proc/PID/status shows for a
// process with one uid, one gid and these groups (as the kernel sorts them).
func statusIDs(uid, gid uint32, groups string) string {
	u, g := strconv.FormatUint(uint64(uid), 10), strconv.FormatUint(uint64(gid), 10)
	return "Uid:\t" + strings.Repeat(u+"\t", 3) + u + "\nGid:\t" + strings.Repeat(g+"\t", 3) + g + "\nGroups:\t" + groups + " "
}

// fakeSuccess is a seccomp profile under which the named system calls do
// nothing and return 0: a set*id call that claims success and changes
// nothing, as setresuid(-1) does.
func fakeSuccess(names ...string) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActErrno, ErrnoRet: ptr(uint(0))}},
	}
}

// The init reads the credentials back before execve: when setresuid,
// setresgid or setgroups claim success without doing it (a seccomp filter
// installed before them, without no_new_privs, fakes that here), the
// process is refused instead of run with the wrong ids (as root). runc
// does not read them back and runs the process as root (logged).
func TestCredentialCheckBeforeExec(t *testing.T) {
	uidCalls, gidCalls := []string{"setuid", "setreuid", "setresuid"}, []string{"setgid", "setregid", "setresgid"}
	cases := []struct {
		name     string
		syscalls []string
		user     specs.User
		msg      string
	}{
		// (The message is made before the filter goes in: it names the
		// ids asked for, not those read back.)
		{"setresuid", uidCalls, specs.User{UID: 1000, GID: 1000}, "process.user.uid: asked for 1000, the uid read back differs"},
		{"setresgid", gidCalls, specs.User{UID: 1000, GID: 1000}, "process.user.gid: asked for 1000, the gid read back differs"},
		{"setgroups", []string{"setgroups"}, specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 6}}, "process.user.additionalGids: asked for [5 6], the groups read back differ"},
	}
	for _, c := range cases {
		t.Run("run "+c.name, func(t *testing.T) {
			b := newBundle(t)
			b.sh("id")
			b.spec.Process.NoNewPrivileges = false
			b.spec.Process.User = c.user
			b.spec.Linux.Seccomp = fakeSuccess(c.syscalls...)
			r := b.run()
			if isRunc {
				t.Logf("runc: %v", r)
				return
			}
			checkRefusal(t, r, c.msg, "")
			if strings.Contains(r.stdout, "uid=") {
				t.Errorf("the process ran: %q", r.stdout)
			}
			b.checkNothingLeft()
		})
	}
	// exec: the container's filter applies to the exec'd process too.
	b := newBundle(t)
	b.sh("echo ready; exec sleep 100000") // one process that never changes
	b.spec.Process.NoNewPrivileges = false
	b.spec.Linux.Seccomp = fakeSuccess(append(append(uidCalls, gidCalls...), "setgroups")...)
	b.createStart() // as root: the faked calls change nothing, nothing to change
	var kids []string
	testutil.WaitFor(t, 10*time.Second, "the container's sh to become sleep", func() bool {
		kids = childProcesses()
		return slices.ContainsFunc(kids, func(k string) bool { return strings.Contains(k, " (sleep) ") })
	})
	pids := testutil.CgroupProcs(b.cgPath)
	for _, user := range []string{"1000:0", "0:1000"} {
		t.Run("exec --user "+user, func(t *testing.T) {
			r := b.exec("--user", user, "--", "id")
			if isRunc {
				t.Logf("runc: %v", r)
				return
			}
			field := map[string]string{"1000:0": "process.user.uid: asked for 1000", "0:1000": "process.user.gid: asked for 1000"}[user]
			checkRefusal(t, r, field, "")
			if strings.Contains(r.stdout, "uid=") {
				t.Errorf("the process ran: %q", r.stdout)
			}
			if got := testutil.CgroupProcs(b.cgPath); !slices.Equal(got, pids) {
				t.Errorf("the container's processes: %v, before %v", got, pids)
			}
			if got := childProcesses(); !slices.Equal(got, kids) {
				t.Errorf("child processes: %v, before %v", got, kids)
			}
		})
	}
}
