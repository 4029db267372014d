package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestConcurrentRuns: 20 `run -d` at once get 20 distinct ids and names,
// all listed by ps; rm -f of them all at once leaves nothing.
func TestConcurrentRuns(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	const n = 20
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := e.command("run", "-d", rootfsDir, "sleep", "100")
			var out, errOut strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			results[i] = result{args: cmd.Args[1:], stdout: out.String(), stderr: errOut.String()}
			if err != nil {
				results[i].code = -1
				if cmd.ProcessState != nil {
					results[i].code = cmd.ProcessState.ExitCode()
				}
			}
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		id := strings.TrimSpace(r.stdout)
		if r.code != 0 || !idRE.MatchString(id) {
			t.Errorf("concurrent run -d:\n%s", r)
			continue
		}
		ids[id] = true
		t.Cleanup(func() { e.remove(id) })
	}
	if len(ids) != n {
		t.Fatalf("%d distinct ids from %d runs", len(ids), n)
	}
	names := map[string]bool{}
	for _, l := range lines(e.mustRun(0, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}").stdout) {
		f := strings.Fields(l)
		if len(f) != 3 || !ids[f[0]] || f[2] != "running" {
			t.Errorf("ps line %q", l)
			continue
		}
		if names[f[1]] {
			t.Errorf("name %s given twice", f[1])
		}
		names[f[1]] = true
	}
	if len(names) != n {
		t.Errorf("ps lists %d distinct names of running containers, want %d", len(names), n)
	}

	// rm -f, all at once.
	var rms []result
	var mu sync.Mutex
	for id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := e.command("rm", "-f", id)
			out, err := cmd.CombinedOutput()
			if err != nil {
				mu.Lock()
				rms = append(rms, result{args: cmd.Args[1:], stdout: string(out), code: cmd.ProcessState.ExitCode()})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, r := range rms {
		t.Errorf("concurrent rm -f:\n%s", r)
	}
	for id := range ids {
		e.assertGone(id)
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("ps -a after rm -f of all: %q", r.stdout)
	}
}

// TestRunKilled: `run -d` killed (SIGKILL) at various points leaves
// nothing that breaks the next command: ps -a works, and rm -f of whatever
// it left works and leaves no cgroup, mount or record.
func TestRunKilled(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("killme:1")
	e.mustRun(0, "import", rootfsDir, "killme:1")
	delays := []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 6 * time.Millisecond,
		10 * time.Millisecond, 15 * time.Millisecond, 25 * time.Millisecond, 40 * time.Millisecond,
		60 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	for i, d := range delays {
		img := rootfsDir
		if i%2 == 1 {
			img = "killme:1"
		}
		cmd := e.command("run", "-d", "--name", fmt.Sprintf("killed%d", i), img, "sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The next command works, and shows no record half-written: each
		// with its command.
		r := e.run("ps", "-a", "--format", "{{.Names}} {{.Command}}")
		if r.code != 0 || strings.Contains(r.stderr, "warning") {
			t.Errorf("ps -a after run -d killed after %s:\n%s", d, r)
		}
		for _, l := range lines(r.stdout) {
			if !strings.Contains(l, "sleep 100") {
				t.Errorf("ps -a after run -d killed after %s lists %q", d, l)
			}
		}
		// The name is taken or free, never half-taken: a new run with it
		// either works or says the name is in use.
		if r := e.run("inspect", "-f", "{{.State.Status}}", fmt.Sprintf("killed%d", i)); r.code == 0 {
			st := strings.TrimSpace(r.stdout)
			if st != "running" && st != "exited" && st != "created" {
				t.Errorf("run -d killed after %s: the container is %q", d, st)
			}
		}
	}
	// rm -f of everything listed.
	left := lines(e.mustRun(0, "ps", "-a", "-q", "--no-trunc").stdout)
	t.Logf("%d of %d killed runs left a container", len(left), len(delays))
	for _, id := range left {
		if r := e.run("rm", "-f", id); r.code != 0 {
			t.Errorf("rm -f of what a killed run left:\n%s", r)
		}
		e.assertGone(id)
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("ps -a after rm -f: %q", r.stdout)
	}
	// Nothing else: no directory ps does not show, no cgroup, no mount. A
	// run killed between creating a container's directory and renaming its
	// first record into it leaves a directory without container.json (empty,
	// or with .container.json.tmp): that garbage is TestKilledRunGarbage's
	// business, not this test's.
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, ent := range ents {
		dir := filepath.Join(e.root, "containers", ent.Name())
		if _, err := os.Stat(filepath.Join(dir, "container.json")); err == nil {
			t.Errorf("a killed run left %s, which ps -a does not list (entries: %v)", ent.Name(), testutil.DirNames(dir))
		} else {
			t.Logf("a killed run left a directory without a record: %s %v", ent.Name(), testutil.DirNames(dir))
		}
		for _, d := range cgroupDirs(ent.Name()) {
			t.Errorf("cgroup left: %s", d)
		}
		os.RemoveAll(dir)
	}
	e.checkNoMounts()
	// And a normal run still works.
	id := e.runDetached("--name", "killed0", rootfsDir, "true")
	e.mustRun(0, "wait", id)
}

// TestRunKilledForeground: a foreground `run` killed with SIGKILL takes its
// container with it, and the next command collects what it left.
func TestRunKilledForeground(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("fg:1")
	e.mustRun(0, "import", rootfsDir, "fg:1")
	for _, img := range []string{rootfsDir, "fg:1"} {
		cmd := e.command("run", "--name", "fg", img, "sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var id string
		var pid int
		testutil.WaitFor(t, 20*time.Second, "the foreground container to run", func() bool {
			for _, l := range lines(e.mustRun(0, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Pid}}").stdout) {
				if f := strings.Fields(l); len(f) == 3 && f[1] == "fg" {
					id = f[0]
					fmt.Sscan(f[2], &pid)
					return pid > 0
				}
			}
			return false
		})
		trackPid(pid)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		testutil.WaitFor(t, 10*time.Second, "the container's init to die with sdocker run", func() bool { return processGone(pid) })
		if got := e.state("fg", "{{.State.Status}} {{.State.Running}}"); got != "exited false" {
			t.Errorf("after its run was killed: %q", got)
		}
		if d := cgroupDirs(id); len(d) > 0 {
			t.Errorf("cgroups left after collection: %q", d)
		}
		e.checkNoMountsOf(id)
		e.rmf(id)
	}
}

// TestKilledRunGarbage: a `run` killed right after it created a
// container's directory, before its first record was renamed into it
// (TestRunKilled sees it now and then), leaves a directory without
// container.json (empty, or holding .container.json.tmp) that no command
// lists or can remove. The next command that collects dead containers must
// remove it: under the store lock, nobody is creating it.
func TestKilledRunGarbage(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.mustRun(0, "ps", "-a") // creates the store
	// Killed after mkdir: an empty directory; killed before the rename of
	// the first record: the temporary file only.
	var dirs []string
	for i, tmp := range []bool{false, true} {
		dir := filepath.Join(e.root, "containers", strings.Repeat(fmt.Sprintf("a%d", i), 32))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if tmp {
			os.WriteFile(filepath.Join(dir, ".container.json.tmp"), []byte(`{"id":"`), 0o600)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		dirs = append(dirs, dir)
	}
	for _, args := range [][]string{{"ps", "-a"}, {"run", "--rm", rootfsDir, "true"}} {
		e.mustRun(0, args...)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("the directory a killed run left without a record is still there after ps -a and run: %s %v", dir, testutil.DirNames(dir))
		}
	}
}
