package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// Corrupt state: each state file of the engine — a container's
// container.json and spec.json, the image store's repositories.json and an
// image's manifest.json and config.json — truncated, emptied, filled with
// garbage, JSON null or an array, or missing (testutil.Damages). Every
// command gives a clear error (non-zero exit, one line naming the file, no
// Go stack) or, for the listings, flags what it cannot read; rm -f and
// rmi -f always clean up, leaving no process, cgroup, mount or directory.

// containerCommands are run on a running container whose state file is
// damaged; each must fail naming the file.
var containerCommands = [][]string{
	{"inspect"}, {"logs"}, {"start"}, {"stop", "-t", "1"}, {"kill"}, {"pause"}, {"unpause"},
	{"restart", "-t", "1"}, {"exec", "ID", "true"}, {"top"}, {"update", "--pids-limit", "50"},
	{"wait"}, {"stats", "--no-stream"}, {"rm"},
}

// refused checks that r failed with one line of error that contains want.
func refused(t *testing.T, r result, want string) {
	t.Helper()
	if p := testutil.RefusalProblem(r.code, r.stderr, want); p != "" {
		t.Errorf("%s:\n%s", p, r)
	}
}

func TestCorruptContainerState(t *testing.T) {
	cases := 0
	for _, file := range []string{"container.json", "spec.json"} {
		for _, d := range testutil.Damages {
			t.Run(file+"/"+d.Name, func(t *testing.T) {
				e := newEnv(t)
				e.trackRoot()
				e.mustRun(0, "import", rootfsDir, "corrupt:1")
				e.cleanupImage("corrupt:1")
				id := e.runDetached("--name", "victim", "corrupt:1", "sleep", "1000")
				pid := e.record(id).Pid
				trackPid(pid)
				p := filepath.Join(e.root, "containers", id, file)
				if err := d.Apply(p); err != nil {
					t.Fatal(err)
				}
				// ps -a shows it; a damaged record as such.
				r := e.mustRun(0, "ps", "-a", "--no-trunc")
				if !strings.Contains(r.stdout, id) || file == "container.json" && !strings.Contains(r.stdout, "Damaged (container.json: ") {
					t.Errorf("ps -a:\n%s", r)
				}
				cases++
				for _, args := range containerCommands {
					refused(t, e.run(testutil.WithID(args, id[:12])...), p)
					cases++
				}
				if processGone(pid) {
					t.Fatalf("the container's process %d ended before rm -f", pid)
				}
				// rm -f by the full id and by a prefix.
				ref := id
				if d.Name == "garbage" {
					ref = id[:7]
				}
				e.mustRun(0, "rm", "-f", ref)
				testutil.WaitFor(t, 10*time.Second, "the container's process to end", func() bool { return processGone(pid) })
				e.assertGone(id)
				cases++
			})
		}
	}
	t.Logf("%d (container file x damage x command) cases", cases)
}

// The monitor of a container whose state file became unreadable still
// releases its cgroups and rootfs when the process ends; the container
// stays listed (damaged) until rm -f.
func TestCorruptStateMonitor(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.mustRun(0, "import", rootfsDir, "corrupt:1")
	e.cleanupImage("corrupt:1")
	type victim struct {
		id, file string
		pid      int
	}
	var victims []victim
	for _, file := range []string{"container.json", "spec.json"} {
		for _, d := range testutil.Damages {
			id := e.runDetached("corrupt:1", "sleep", "1")
			v := victim{id: id, file: file, pid: e.record(id).Pid}
			trackPid(v.pid)
			if err := d.Apply(filepath.Join(e.root, "containers", id, file)); err != nil {
				t.Fatal(err)
			}
			victims = append(victims, v)
		}
	}
	for _, v := range victims {
		testutil.WaitFor(t, 30*time.Second, "container "+v.id[:12]+" to end and be released", func() bool {
			dir := filepath.Join(e.root, "containers", v.id)
			return processGone(v.pid) && len(cgroupDirs(v.id)) == 0 && len(testutil.MountsUnder(dir)) == 0
		})
	}
	r := e.mustRun(0, "ps", "-a", "--no-trunc")
	for _, v := range victims {
		if !strings.Contains(r.stdout, v.id) {
			t.Errorf("container %s (damaged %s) not listed:\n%s", v.id[:12], v.file, r)
		}
		e.rmf(v.id)
	}
}

// rm -fv removes the anonymous volumes of a damaged container that its
// readable file names.
func TestCorruptStateVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	for _, file := range []string{"container.json", "spec.json"} {
		id := e.runDetached("-v", "/data", rootfsDir, "sleep", "1000")
		vols, _ := filepath.Glob(filepath.Join(e.root, "volumes", "*"))
		if len(vols) != 1 {
			t.Fatalf("volumes %v", vols)
		}
		if err := os.WriteFile(filepath.Join(e.root, "containers", id, file), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.mustRun(0, "rm", "-fv", id)
		e.assertGone(id)
		if _, err := os.Stat(vols[0]); !os.IsNotExist(err) {
			t.Errorf("volume %s of a container with a damaged %s left after rm -fv: %v", vols[0], file, err)
		}
	}
}

func TestCorruptImageStore(t *testing.T) {
	cases := 0
	for _, file := range []string{"repositories.json", "manifest.json", "config.json"} {
		for _, d := range testutil.Damages {
			t.Run(file+"/"+d.Name, func(t *testing.T) {
				e := newEnv(t)
				e.trackRoot()
				src := t.TempDir()
				os.WriteFile(filepath.Join(src, "f"), []byte("a small image"), 0o644)
				good := strings.TrimSpace(e.mustRun(0, "import", src, "good:1").stdout)
				bad := strings.TrimSpace(e.mustRun(0, "import", src, "bad:1").stdout)
				store := filepath.Join(e.root, "image")
				p := filepath.Join(store, "images", strings.TrimPrefix(bad, "sha256:"), file)
				want := p
				if file == "repositories.json" {
					p = filepath.Join(store, file)
					want = p
					if d.Do == nil {
						want = "no such image" // a store without names
					}
				}
				if err := d.Apply(p); err != nil {
					t.Fatal(err)
				}
				// images lists what it can and flags the rest.
				r := e.mustRun(0, "images")
				if !strings.Contains(r.stdout, good[7:19]) || !strings.Contains(r.stdout, bad[7:19]) ||
					d.Do != nil && !strings.Contains(r.stderr, p) {
					t.Errorf("images:\n%s", r)
				}
				cases++
				refused(t, e.run("run", "--rm", "bad:1", "true"), want)
				cases++
				if file == "repositories.json" {
					byName := [][]string{{"rmi", "good:1"}, {"tag", "good:1", "other:1"}}
					if d.Do != nil {
						// What would rewrite the names refuses to; without
						// the file, every image is a nameless one.
						byName = append(byName, []string{"image", "prune"}, []string{"import", src, "new:1"})
					}
					for _, args := range byName {
						refused(t, e.run(args...), want)
						cases++
					}
				} else {
					// Another image's damage does not stop the removal of one.
					r := e.mustRun(0, "rmi", "good:1")
					if !strings.Contains(r.stdout, "Deleted: "+good) || r.stderr != "" {
						t.Errorf("rmi of the healthy image:\n%s", r)
					}
					cases++
				}
				// rmi -f removes it (by ID: names may be unreadable).
				r = e.mustRun(0, "rmi", "-f", bad[7:19])
				if !strings.Contains(r.stdout, "Deleted: "+bad) {
					t.Errorf("rmi -f:\n%s", r)
				}
				cases++
				for _, dir := range []string{"images", "tmp"} {
					names, _ := filepath.Glob(filepath.Join(store, dir, "*"))
					if file != "repositories.json" && len(names) > 0 {
						t.Errorf("%s left in the store: %v", dir, names)
					}
				}
				if _, err := os.Stat(filepath.Join(store, "images", strings.TrimPrefix(bad, "sha256:"))); !os.IsNotExist(err) {
					t.Errorf("image %s left: %v", bad[7:19], err)
				}
			})
		}
	}
	t.Logf("%d (image store file x damage x command) cases", cases)
}
