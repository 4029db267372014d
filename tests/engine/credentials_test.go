package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The users and groups of the credentials image: ids at the edges of
// 0-2147483647 and beyond, and group memberships.
const (
	credsPasswd = `root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/sh
edge:x:2147483647:2147483647::/:/bin/sh
huge:x:4294967295:0::/:/bin/sh
minus:x:-1:0::/:/bin/sh
biggid:x:1001:2147483648::/:/bin/sh
joiner:x:1002:1002::/:/bin/sh
`
	credsGroup = `root:x:0:
tty:x:5:
staff:x:50:alice
wheel:x:10:bob,alice
toobig:x:4294967295:joiner
nogroup:x:65534:
`
)

// credsImage loads the image creds:1 (the test rootfs with credsPasswd and
// credsGroup), and creds:baduser, the same with User 4294967295 in its
// config.
func credsImage(e *env) {
	e.t.Helper()
	layers := [][]byte{layerTar(e.t, rootfsDir, nil), layerTar(e.t, "", []tarEntry{
		{name: "etc", dir: true},
		{name: "etc/passwd", body: credsPasswd},
		{name: "etc/group", body: credsGroup},
	})}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	archive := filepath.Join(e.t.TempDir(), "creds.tar")
	writeDockerArchive(e.t, archive, []dockerImage{
		{tags: []string{"creds:1"}, config: imageConfig{Env: env, Cmd: []string{"id"}}, layers: layers},
		{tags: []string{"creds:baduser"}, config: imageConfig{Env: env, Cmd: []string{"id"}, User: "4294967295"}, layers: layers},
	})
	e.cleanupImage("creds:1")
	e.cleanupImage("creds:baduser")
	e.mustRun(0, "load", "-i", archive)
}

// assertRefused checks a refusal: exit 125, one line on stderr with want in
// it, nothing on stdout, and no container record, cgroup or mount left.
func (e *env) assertRefused(r result, want string) {
	e.t.Helper()
	e.assertRefusal(r, want)
	e.checkNoMounts()
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, ent := range ents {
		e.t.Errorf("%q left container %s", r.args, ent.Name())
		e.rmf(ent.Name())
	}
}

// assertRefusal checks the answer of a refusal alone: exit 125, nothing
// on stdout, one line on stderr with want in it, no Go stack.
func (e *env) assertRefusal(r result, want string) {
	e.t.Helper()
	if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, want) ||
		strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
		e.t.Errorf("want exit 125 and one line on stderr with %q:\n%s", want, r)
	}
}

// sdockerCgroups lists the containers' cgroups of every test on the machine.
func sdockerCgroups() map[string]bool {
	m, _ := filepath.Glob("/sys/fs/cgroup/pids/sdocker/*")
	set := map[string]bool{}
	for _, d := range m {
		set[d] = true
	}
	return set
}

// checkNoNewCgroups fails if a container cgroup made since before is still
// there: one with no process in it that does not go away. (Other suites
// may run containers meanwhile: theirs hold processes or are removed when
// they end.)
func checkNoNewCgroups(t *testing.T, before map[string]bool) {
	t.Helper()
	var left []string
	testutil.Poll(5*time.Second, func() bool {
		left = left[:0]
		for d := range sdockerCgroups() {
			if !before[d] && len(testutil.CgroupDirProcs(d)) == 0 {
				left = append(left, d)
			}
		}
		return len(left) == 0
	})
	if len(left) > 0 {
		t.Errorf("refused commands left cgroups: %q", left)
	}
}

// TestCredentialBoundsRun: sdocker run refuses every uid and gid outside
// 0-2147483647 (-u, the image's User, /etc/passwd and /etc/group of the
// image) and a user or group that does not resolve, naming it; in range,
// the container's process has exactly the ids asked for.
func TestCredentialBoundsRun(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	credsImage(e)
	cgroupsBefore := sdockerCgroups()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-u", "4294967295", "creds:1"}, `user "4294967295": uid 4294967295 is out of range (0-2147483647)`},
		{[]string{"-u", "4294967295:4294967295", rootfsDir, "id"}, "uid 4294967295 is out of range"},
		{[]string{"-d", "-u", "0:4294967295", "creds:1"}, "gid 4294967295 is out of range"},
		{[]string{"--rm", "-u", "2147483648", "creds:1"}, "uid 2147483648 is out of range"},
		{[]string{"-u", "4294967296", "creds:1"}, "uid 4294967296 is out of range"}, // 0 in 32 bits
		{[]string{"-u", "99999999999", "creds:1"}, "uid 99999999999 is out of range"},
		{[]string{"-u", "-1", "creds:1"}, "uid -1 is out of range"},
		{[]string{"-u", "1:-5", "creds:1"}, "gid -5 is out of range"},
		{[]string{"-u", "1000:", "creds:1"}, "no group name or gid after the colon"},
		{[]string{"-u", ":1000", "creds:1"}, "no user name or uid before the colon"},
		{[]string{"creds:baduser"}, `user "4294967295": uid 4294967295 is out of range`},
		{[]string{"-u", "huge", "creds:1"}, `user "huge": the container's /etc/passwd: uid 4294967295 is out of range`},
		{[]string{"-u", "minus", "creds:1"}, "the container's /etc/passwd: uid -1 is out of range"},
		{[]string{"-u", "biggid", "creds:1"}, "the container's /etc/passwd: gid 2147483648 is out of range"},
		{[]string{"-u", "joiner", "creds:1"}, "the container's /etc/group: group toobig (of joiner): gid 4294967295 is out of range"},
		{[]string{"-u", "alice:toobig", "creds:1"}, "group toobig: gid 4294967295 is out of range"},
		{[]string{"-u", "nosuchuser", "creds:1"}, `user "nosuchuser": no such user in the container's /etc/passwd`},
		{[]string{"-d", "-u", "alice:nosuchgroup", "creds:1"}, `no such group "nosuchgroup" in the container's /etc/group`},
	} {
		e.assertRefused(e.run(append([]string{"run"}, c.args...)...), c.want)
	}
	checkNoNewCgroups(t, cgroupsBefore)

	// In range: what id says and what the kernel has.
	for _, c := range []struct {
		user   string
		id     string // id's output
		status string // the Uid, Gid and Groups lines of /proc/PID/status
	}{
		{"alice", "uid=1000(alice) gid=1000 groups=1000,10(wheel),50(staff)",
			"Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t10 50 "},
		{"edge", "uid=2147483647(edge) gid=2147483647 groups=2147483647",
			"Uid:\t2147483647\t2147483647\t2147483647\t2147483647\nGid:\t2147483647\t2147483647\t2147483647\t2147483647\nGroups:\t "},
		{"2147483647:0", "uid=2147483647(edge) gid=0(root) groups=0(root)",
			"Uid:\t2147483647\t2147483647\t2147483647\t2147483647\nGid:\t0\t0\t0\t0\nGroups:\t "},
		{"1000:staff", "uid=1000(alice) gid=50(staff) groups=50(staff)",
			"Uid:\t1000\t1000\t1000\t1000\nGid:\t50\t50\t50\t50\nGroups:\t "},
		{"12345:54321", "uid=12345 gid=54321 groups=54321",
			"Uid:\t12345\t12345\t12345\t12345\nGid:\t54321\t54321\t54321\t54321\nGroups:\t "},
	} {
		out := e.runOut(0, "-u", c.user, "creds:1", "sh", "-c", "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status")
		if want := c.id + "\n" + c.status + "\n"; out != want {
			t.Errorf("-u %s: got\n%q\nwant\n%q", c.user, out, want)
		}
	}
	// Seen from the host, a detached container's process: the same.
	id := e.runDetached("-u", "2147483647:2147483646", "creds:1", "sleep", "100")
	got, _ := testutil.ProcIDs(e.record(id).Pid)
	if want := "Uid:\t2147483647\t2147483647\t2147483647\t2147483647\nGid:\t2147483646\t2147483646\t2147483646\t2147483646\nGroups:\t "; got != want {
		t.Errorf("-u 2147483647:2147483646, /proc/PID/status on the host:\n%q, want\n%q", got, want)
	}
}

// TestCredentialBoundsExec: exec -u refuses the same ids and names, leaves
// no process in the container, and in range gives exactly the ids asked for.
func TestCredentialBoundsExec(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	credsImage(e)
	id := e.runDetached("--name", "credsx", "creds:1", "sleep", "100")
	before := len(containerPids(id))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-u", "4294967295"}, `user "4294967295": uid 4294967295 is out of range (0-2147483647)`},
		{[]string{"-u", "4294967295:4294967295"}, "uid 4294967295 is out of range"},
		{[]string{"-u", "0:4294967295"}, "gid 4294967295 is out of range"},
		{[]string{"-d", "-u", "2147483648"}, "uid 2147483648 is out of range"},
		{[]string{"-u", "-1"}, "uid -1 is out of range"},
		{[]string{"-u", "1:-5"}, "gid -5 is out of range"},
		{[]string{"-u", "99999999999"}, "uid 99999999999 is out of range"},
		{[]string{"-u", "1000:"}, "no group name or gid after the colon"},
		{[]string{"-u", "huge"}, "the container's /etc/passwd: uid 4294967295 is out of range"},
		{[]string{"-u", "joiner"}, "group toobig (of joiner): gid 4294967295 is out of range"},
		{[]string{"-u", "nosuchuser"}, `user "nosuchuser": no such user in the container's /etc/passwd`},
		{[]string{"-u", "root:nosuchgroup"}, `no such group "nosuchgroup"`},
	} {
		r := e.run(append(append([]string{"exec"}, c.args...), "credsx", "id")...)
		if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("want exit 125 and one line on stderr with %q:\n%s", c.want, r)
		}
		if n := len(containerPids(id)); n != before {
			t.Errorf("exec %q: the container has %d processes, %d before", c.args, n, before)
		}
	}
	for _, c := range []struct{ user, want string }{
		{"alice", "uid=1000(alice) gid=1000 groups=1000,10(wheel),50(staff)\nGroups:\t10 50 \n"},
		{"2147483647:2147483647", "uid=2147483647(edge) gid=2147483647 groups=2147483647\nGroups:\t \n"},
		{"65534", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\nGroups:\t \n"},
	} {
		if r := e.mustRun(0, "exec", "-u", c.user, "credsx", "sh", "-c", "id; grep ^Groups: /proc/self/status"); r.stdout != c.want {
			t.Errorf("exec -u %s: %q, want %q", c.user, r.stdout, c.want)
		}
	}
	// An exec'd process seen from the host.
	e.mustRun(0, "exec", "-d", "-u", "alice", "credsx", "sleep", "99")
	pid := waitContainerProcess(t, id, "sleep\x0099\x00")
	got, _ := testutil.ProcIDs(pid)
	if want := "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t10 50 "; got != want {
		t.Errorf("exec -d -u alice, /proc/PID/status on the host:\n%q, want\n%q", got, want)
	}
}

// TestCredentialBoundsStart: a container whose stored spec has a uid out of
// range (written by another version, or edited) is refused by start, the
// runtime's own check, and never runs (as root).
func TestCredentialBoundsStart(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	out := t.TempDir()
	os.Chmod(out, 0o777)
	id := e.runDetached("-u", "1000", "-v", out+":/out", rootfsDir, "sh", "-c", "id -u >> /out/ids")
	e.waitStatus(id, "exited", timeout(30*time.Second))
	p := filepath.Join(e.root, "containers", id, "spec.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec["process"].(map[string]any)["user"] = map[string]any{"uid": 4294967295, "gid": 4294967295}
	if err := os.WriteFile(p, mustJSON(t, spec), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("start", id)
	if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "process.user.uid: 4294967295 is out of range (0-2147483647)") {
		t.Errorf("start of a spec with uid 4294967295: want exit 125 and one line naming process.user.uid:\n%s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "ids")); string(b) != "1000\n" {
		t.Errorf("the container ran again: its uids are %q", b)
	}
	// A container that ran before stays, as in Docker, until rm removes it.
	if r := e.run("inspect", "--format", "{{.State.Status}}", id); r.code != 0 || strings.TrimSpace(r.stdout) != "exited" {
		t.Errorf("after the refused start: want the container kept as exited:\n%s", r)
	}
	if r := e.run("rm", id); r.code != 0 {
		t.Errorf("rm: %s", r)
	}
	e.assertGone(id)
}
