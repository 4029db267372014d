package engine

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCreateStart: create makes a container (of an image or a rootfs
// directory) that stays created, with no process or cgroup, through ps's
// collection, until start runs it detached; bad input leaves nothing.
func TestCreateStart(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("createimg:1")
	e.mustRun(0, "import", rootfsDir, "createimg:1")
	for _, src := range []string{"createimg:1", rootfsDir} {
		name := "c" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r
			}
			return -1
		}, src)[:6]
		r := e.mustRun(0, "create", "--name", name, "--label", "k=v", src, "sh", "-c", "echo hello $0; sleep 100", name)
		id := strings.TrimSpace(r.stdout)
		if !idRE.MatchString(id) {
			t.Fatalf("create printed %q:\n%s", id, r)
		}
		t.Cleanup(func() { e.remove(id) })
		for range 2 { // the second time after ps's collection
			if got := e.state(id, "{{.State.Status}} {{.State.Pid}} {{.Config.Labels.k}}"); got != "created 0 v" {
				t.Errorf("%s after create: %q", src, got)
			}
			if got := e.psNames("-a", "-f", "status=created"); !slices.Equal(got, []string{name}) {
				t.Errorf("ps -a -f status=created: %q", got)
			}
			if got := e.psNames(); slices.Contains(got, name) {
				t.Errorf("ps lists a created container: %q", got)
			}
			if got := e.mustRun(0, "ps", "-a", "--format", "{{.Status}}", "-f", "name="+name).stdout; got != "Created\n" {
				t.Errorf("ps -a status: %q", got)
			}
		}
		if src == "createimg:1" { // nothing runs yet: its rootfs is not left mounted either
			e.checkNoMounts()
		}
		if d := cgroupDirs(id); len(d) != 0 {
			t.Errorf("a created container has cgroups: %q", d)
		}
		e.mustRun(0, "start", name)
		e.waitStatus(id, "running", timeout(10*time.Second))
		if got := e.waitLog(id, 1, timeout(10*time.Second)); got[0] != "hello "+name {
			t.Errorf("log of the started container: %q", got)
		}
	}
	before := e.mustRun(0, "ps", "-a", "-q").stdout
	for _, args := range [][]string{
		{"create", "--rm", "--restart", "always", "createimg:1", "true"},
		{"create", "-a", "stdout", "createimg:1", "true"},
		{"create", "--name", "bad/name", "createimg:1", "true"},
		{"create", "--pull", "never", "nosuchimage:1", "true"},
		{"create", "--memory", "abc", "createimg:1", "true"},
	} {
		r := e.run(args...)
		if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 {
			t.Errorf("want 125 and one line:\n%s", r)
		}
	}
	if after := e.mustRun(0, "ps", "-a", "-q").stdout; after != before {
		t.Errorf("refused creates left containers: %q, before %q", after, before)
	}
}
