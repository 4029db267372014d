package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// Corrupt state: a container's state.json truncated, emptied, filled with
// garbage, JSON null or an array, or missing. Every command refuses it with one line
// naming the file (no Go stack), list shows it as damaged, delete without
// --force leaves a container whose cgroup holds processes, and
// delete --force leaves no process, cgroup or directory behind.

// damagedStateCommands are the commands run on a container whose state is
// damaged: each must fail, naming the file.
var damagedStateCommands = [][]string{
	{"state"}, {"start"}, {"kill", "ID", "KILL"}, {"pause"}, {"resume"}, {"ps"},
	{"exec", "ID", "true"}, {"update", "--pids-limit", "50"}, {"events", "--stats"},
}

func TestCorruptState(t *testing.T) {
	requireRoot(t)
	if isRunc {
		t.Skip("how a damaged state is reported and recovered is sdocker-runc's own")
	}
	cases := 0
	for _, started := range []bool{true, false} {
		for _, d := range testutil.Damages {
			name := d.Name + "/created"
			if started {
				name = d.Name + "/running"
			}
			t.Run(name, func(t *testing.T) {
				b := newBundle(t)
				b.long()
				if started {
					b.createStart()
				} else {
					b.mustCreate()
				}
				init := b.state().Pid
				b.addPids(init)
				p := filepath.Join(stateRoot, b.id, "state.json")
				if err := d.Apply(p); err != nil {
					t.Fatal(err)
				}
				reason := "missing"
				if d.Do != nil {
					reason = p + ": "
				}
				for _, args := range damagedStateCommands {
					full := testutil.WithID(args, b.id)
					r := rt(t, full...)
					checkStateRefusal(t, r, reason)
					cases++
				}
				// list still lists the others, and this one as damaged.
				r := rt(t, "list")
				if r.code != 0 || !strings.Contains(r.stdout, b.id) || !strings.Contains(r.stdout, "damaged") {
					t.Errorf("list: %v", r)
				}
				cases++
				// Without --force, a container that still has processes stays.
				r = rt(t, "delete", b.id)
				checkStateRefusal(t, r, reason)
				if _, err := os.Stat(filepath.Join(stateRoot, b.id)); err != nil || len(testutil.CgroupProcs(b.cgPath)) == 0 {
					t.Errorf("delete without --force removed a container that runs: %v, pids %v", err, testutil.CgroupProcs(b.cgPath))
				}
				cases++
				// --force cleans up whatever the state says.
				r = rt(t, "delete", "--force", b.id)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("delete --force: %v", r)
				}
				if !waitGone(init, 10*time.Second) {
					t.Errorf("init %d still runs after delete --force", init)
				}
				if pids := testutil.CgroupProcs(b.cgPath); len(pids) > 0 {
					t.Errorf("processes left in the cgroup: %v", pids)
				}
				if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
					t.Errorf("cgroups left: %v", dirs)
				}
				if _, err := os.Stat(filepath.Join(stateRoot, b.id)); !os.IsNotExist(err) {
					t.Errorf("state directory left: %v", err)
				}
				cases++
			})
		}
	}
	t.Logf("%d (state.json damage x container state x command) cases", cases)
}

// checkRefusal checks that r failed with one line of error that contains
// want.
func checkStateRefusal(t *testing.T, r result, want string) {
	t.Helper()
	if p := testutil.RefusalProblem(r.code, r.stderr, want); p != "" {
		t.Errorf("%s: %v", p, r)
	}
}
