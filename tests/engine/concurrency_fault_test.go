package engine

// Concurrency faults: commands that meet a container while another command
// creates, starts or removes it.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// runWithin runs sdocker with args, killed when ctx ends; it returns what
// it printed and its status (-1: it did not end in time) and how long it
// took. It may be called from any goroutine.
func (e *env) runWithin(ctx context.Context, args ...string) (result, time.Duration) {
	cmd := e.command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{args: args, stderr: err.Error(), code: -2}, 0
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	took := time.Since(start)
	stop()
	r := result{args: args, stdout: out.String(), stderr: errOut.String()}
	switch {
	case ctx.Err() != nil:
		r.code = -1
	case err != nil:
		r.code = cmd.ProcessState.ExitCode()
	}
	return r, took
}

// importRootfs imports the test's rootfs as image ref, removed when the
// test ends.
func (e *env) importRootfs(ref string) {
	e.t.Helper()
	e.cleanupImage(ref)
	e.mustRun(0, "import", rootfsDir, ref)
}

// processesWithArg lists the processes one of whose arguments is arg.
func processesWithArg(arg string) []int {
	var out []int
	for _, pid := range testutil.Pids() {
		if slices.Contains(testutil.Argv(pid), arg) {
			out = append(out, pid)
		}
	}
	return out
}

// TestConcurrentRunRm: 100 `run --rm` at 25 at a time (half on a rootfs
// directory, half on an image, so with an overlay mount each), while ps -a
// lists the store again and again: every run ends 0 with its output (no
// run trips over another container's removal), every listing works
// without a warning and shows each container with its command (a record
// is never visible half-written), and nothing is left.
func TestConcurrentRunRm(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("rmrace:1")
	const n, parallel = 100, 25
	// The listings go on while the runs do.
	ctx, cancel := context.WithTimeout(context.Background(), timeout(90*time.Second))
	defer cancel()
	listed := make(chan struct{})
	var listings []result
	var lists int
	go func() {
		defer close(listed)
		for ctx.Err() == nil {
			r, _ := e.runWithin(ctx, "ps", "-a", "--no-trunc", "--format", "{{.ID}}|{{.Command}}")
			if r.code == -1 {
				return
			}
			lists++
			bad := r.code != 0 || r.stderr != ""
			for _, l := range lines(r.stdout) {
				if id, cmd, _ := strings.Cut(l, "|"); !idRE.MatchString(id) || !strings.Contains(cmd, "echo run-") {
					bad = true
				}
			}
			if bad {
				listings = append(listings, r)
			}
		}
	}()

	results := make([]result, n)
	start := time.Now()
	e.rounds(n, parallel, func(ctx context.Context, i int) {
		img := rootfsDir
		if i%2 == 1 {
			img = "rmrace:1"
		}
		results[i], _ = e.runWithin(ctx, "run", "--rm", img, "sh", "-c", fmt.Sprintf("echo run-%d", i))
	})
	took := time.Since(start)
	cancel()
	<-listed

	failed := 0
	for i, r := range results {
		if r.code != 0 || r.stdout != fmt.Sprintf("run-%d\n", i) {
			failed++
			t.Errorf("concurrent run --rm:\n%s", r)
		}
		// Its short id is on the start line: no cgroup of it is left.
		if f := strings.Fields(r.stderr); len(f) > 0 && r.code == 0 {
			if short := f[len(f)-1]; len(short) == 12 {
				if d := cgroupDirs(short + "*"); len(d) > 0 {
					t.Errorf("cgroups left by a run --rm: %q", d)
				}
			}
		}
	}
	for _, r := range listings {
		t.Errorf("ps -a while containers come and go:\n%s", r)
	}
	t.Logf("%d/%d concurrent run --rm (%d at a time) exited 0 in %s; %d listings meanwhile, %d bad",
		n-failed, n, parallel, took.Round(time.Millisecond), lists, len(listings))
}

// raceOps are the commands that meet a container while `run -d` creates
// and starts it, and what each leaves when it succeeded.
var raceOps = []struct {
	cmds [][]string // each after a delay of its own
	// want is "gone", "exited" (gone with --rm), "running", "paused",
	// "limited" (running with a 64 MiB memory limit) or "" (not checked).
	want string
	rm   bool // may meet a --rm container
	// async: the outcome comes after the command (kill only sends a signal).
	async bool
}{
	{[][]string{{"rm", "-f"}}, "gone", true, false},
	{[][]string{{"stop", "-t", "1"}}, "exited", true, false},
	{[][]string{{"kill"}}, "exited", true, true},
	{[][]string{{"pause"}}, "paused", true, false},
	{[][]string{{"restart", "-t", "1"}}, "running", false, false},
	{[][]string{{"start"}}, "running", true, false},
	{[][]string{{"update", "--memory", "64m"}}, "limited", true, false},
	{[][]string{{"stop", "-t", "1"}, {"rm", "-f"}}, "", true, false},
}

// raceStats are the figures of one kind of command in TestStartRaces.
type raceStats struct {
	acted, early int
	longest      time.Duration
}

// TestStartRaces: `run -d --name N` (on a rootfs directory or an image,
// with --rm or not) meets, after a random delay of 0-60 ms, rm -f, stop -t
// 1, kill, pause, restart -t 1, start or update --memory of N, or both stop
// -t 1 and rm -f, many rounds at a time. Every command ends within the stop
// timeout plus a margin (a deadline fails the test instead of hanging it).
// The run always works; every other command either came before the
// container existed (no such container) or waited for the start to finish
// and did its work, whose outcome is checked at once. Once the round is
// cleaned up, nothing of the container is left: no record, cgroup, mount or
// process.
func TestStartRaces(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("startrace:1")
	var mu sync.Mutex
	stats := map[string]*raceStats{}
	e.rounds(8*len(raceOps), 8, func(ctx context.Context, i int) { e.startRace(ctx, i, &mu, stats) })
	for _, op := range []string{"rm", "stop", "kill", "pause", "restart", "start", "update"} {
		s := stats[op]
		t.Logf("%-7s meeting run -d: %2d acted on the container, %2d said no such container; longest %s",
			op, s.acted, s.early, s.longest.Round(time.Millisecond))
	}
}

// raceLimit bounds every command of a race round: the stop timeout (1 s)
// and a margin.
func raceLimit() time.Duration { return time.Second + timeout(15*time.Second) }

// rounds calls round(0) ... round(n-1), parallel of them at a time, each
// with a context that ends raceLimit after its start, and checks that they
// left no container.
func (e *env) rounds(n, parallel int, round func(ctx context.Context, i int)) {
	e.t.Helper()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), raceLimit())
			defer cancel()
			round(ctx, i)
		}()
	}
	wg.Wait()
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		e.t.Errorf("ps -a after every round: %q", r.stdout)
	}
	e.checkNoMounts()
}

// startRace is round i of TestStartRaces; it adds its figures to stats.
func (e *env) startRace(ctx context.Context, i int, mu *sync.Mutex, stats map[string]*raceStats) {
	op := raceOps[i%len(raceOps)]
	rm := op.rm && (i/len(raceOps))%2 == 1
	img := rootfsDir
	if (i/(2*len(raceOps)))%2 == 1 {
		img = "startrace:1"
	}
	name := fmt.Sprintf("race%d", i)
	// The container's process is found by its unique argument.
	token := fmt.Sprintf("1%03d.%d", i, os.Getpid())
	runArgs := []string{"run", "-d", "--name", name}
	if rm {
		runArgs = append(runArgs, "--rm")
	}
	runArgs = append(runArgs, img, "sleep", token)
	var run result
	results := make([]result, len(op.cmds))
	var wg sync.WaitGroup
	wg.Add(1 + len(op.cmds))
	go func() { defer wg.Done(); run, _ = e.runWithin(ctx, runArgs...) }()
	for j, cmd := range op.cmds {
		go func() {
			defer wg.Done()
			time.Sleep(rand.N(60 * time.Millisecond))
			var took time.Duration
			results[j], took = e.runWithin(ctx, append(cmd, name)...)
			mu.Lock()
			defer mu.Unlock()
			s := stats[cmd[0]]
			if s == nil {
				s = &raceStats{}
				stats[cmd[0]] = s
			}
			s.longest = max(s.longest, took)
			if results[j].code == 0 {
				s.acted++
			} else if strings.Contains(results[j].stderr, "no such container") {
				s.early++
			}
		}()
	}
	wg.Wait()
	id := strings.TrimSpace(run.stdout)
	what := fmt.Sprintf("round %d: %v meeting %s", i, op.cmds, strings.Join(runArgs, " "))
	if run.code != 0 || !idRE.MatchString(id) {
		e.t.Errorf("%s: the run failed or did not end in time:\n%s", what, run)
	}
	acted := true
	for _, r := range results {
		switch {
		case r.code == -1:
			e.t.Errorf("%s: not ended within %s:\n%s", what, raceLimit(), r)
		case r.code != 0 && !strings.Contains(r.stderr, "no such container"):
			// The only excuse: it came before the container existed.
			e.t.Errorf("%s:\n%s", what, r)
		}
		acted = acted && r.code == 0
	}
	if acted && op.want != "" && idRE.MatchString(id) {
		e.checkRaceOutcome(what, id, token, op.want, rm, op.async)
	}
	if idRE.MatchString(id) {
		r, _ := e.runWithin(ctx, "rm", "-f", id)
		switch {
		case r.code == 0:
		case strings.Contains(r.stderr, "no such container"):
			// Its monitor may still be removing it (after kill).
			e.waitDirGone(id)
		default:
			e.t.Errorf("%s: cleanup:\n%s", what, r)
		}
		e.assertGone(id)
	}
	if p := processesWithArg(token); len(p) > 0 {
		e.t.Errorf("%s: processes left after rm -f: %v", what, p)
	}
}

// checkRaceOutcome checks what a command that met a starting container
// left: want is as in raceOps; with async, it may come a moment later.
func (e *env) checkRaceOutcome(what, id, token, want string, rm, async bool) {
	e.t.Helper()
	if want == "exited" && rm {
		want = "gone"
	}
	if want == "limited" {
		want = "running"
		limit := filepath.Join("/sys/fs/cgroup/memory/sdocker", id, "memory.limit_in_bytes")
		if b, err := os.ReadFile(limit); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
			e.t.Errorf("%s: %s: %q, %v; want %d", what, limit, b, err, 64<<20)
		}
	}
	wait := time.Duration(0)
	if async {
		wait = 20 * time.Second
	}
	var got string
	var r result
	testutil.Poll(wait, func() bool {
		r, _ = e.runWithin(context.Background(), "inspect", "--type", "container", "-f", "{{.State.Status}}", id)
		got = strings.TrimSpace(r.stdout)
		if r.code != 0 && strings.Contains(r.stderr, "no such container") {
			got = "gone"
		}
		return got == want
	})
	if got != want {
		e.t.Errorf("%s: the container is %q, want %q\n%s", what, got, want, r)
	}
	if want == "gone" && async {
		e.waitDirGone(id) // the record goes first
	}
	procs := processesWithArg(token)
	switch want {
	case "gone":
		e.assertGone(id)
		fallthrough
	case "exited":
		if len(procs) > 0 {
			e.t.Errorf("%s: the container's process still runs: %v", what, procs)
		}
	default:
		if len(procs) != 1 {
			e.t.Errorf("%s: %d processes of the container, want 1", what, len(procs))
		}
	}
}

// waitDirGone waits (at most a generous while) until the directory of
// container id is gone: the record goes first when its monitor removes it.
func (e *env) waitDirGone(id string) {
	dir := filepath.Join(e.root, "containers", id)
	testutil.Poll(20*time.Second, func() bool {
		_, err := os.Stat(dir)
		return err != nil
	})
}

// TestForegroundStartRaces: a foreground `run --name N` (with --rm or
// not) meets rm -f or stop -t 1 of N as soon as N exists (after a random
// delay of 0-60 ms, inspect tells its id, again and again until it exists),
// mostly while it starts. Each command
// ends within its deadline, the run ends with the container's SIGKILL
// (137), and the container is gone (rm -f, --rm) or exited (stop), with no
// process, cgroup or mount left.
func TestForegroundStartRaces(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.rounds(16, 8, e.foregroundRace)
}

// foregroundRace is round i of TestForegroundStartRaces.
func (e *env) foregroundRace(ctx context.Context, i int) {
	op := [][]string{{"rm", "-f"}, {"stop", "-t", "1"}}[i%2]
	rm := i%4 >= 2
	name := fmt.Sprintf("fg%d", i)
	token := fmt.Sprintf("2%03d.%d", i, os.Getpid())
	runArgs := []string{"run", "--name", name}
	if rm {
		runArgs = append(runArgs, "--rm")
	}
	runArgs = append(runArgs, rootfsDir, "sleep", token)
	ran := make(chan result, 1)
	go func() { r, _ := e.runWithin(ctx, runArgs...); ran <- r }()
	time.Sleep(rand.N(60 * time.Millisecond))
	what := fmt.Sprintf("round %d: %s meeting %s", i, strings.Join(op, " "), strings.Join(runArgs, " "))
	// Its id first (rm -f takes the record with it), as soon as it exists.
	var id string
	for id == "" && ctx.Err() == nil {
		if r, _ := e.runWithin(ctx, "inspect", "-f", "{{.Id}}", name); r.code == 0 {
			id = strings.TrimSpace(r.stdout)
		}
	}
	if opr, _ := e.runWithin(ctx, append(op, name)...); opr.code != 0 {
		e.t.Errorf("%s:\n%s", what, opr)
	}
	run := <-ran
	if run.code != 137 {
		e.t.Errorf("%s: the run did not end with the container's SIGKILL:\n%s", what, run)
	}
	if !idRE.MatchString(id) {
		e.t.Errorf("%s: no id of the container", what)
		return
	}
	want := "exited"
	if rm || op[0] == "rm" {
		want = "gone"
	}
	e.checkRaceOutcome(what, id, token, want, rm, false)
	if want == "exited" {
		e.rmf(id)
	}
}

// TestRestartPolicyRaces: stop -t 1 or rm -f meets, after a random delay
// of 0-400 ms, a container that failed at once and that its restart policy
// (always) starts again (then to run long): it ends within its deadline,
// and the container is exited (and stays so: its monitor is gone) or gone,
// with no process, cgroup or mount left.
func TestRestartPolicyRaces(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("restartrace:1")
	e.rounds(16, 8, e.restartRace)
}

// restartRace is round i of TestRestartPolicyRaces.
func (e *env) restartRace(ctx context.Context, i int) {
	op := [][]string{{"stop", "-t", "1"}, {"rm", "-f"}}[i%2]
	token := fmt.Sprintf("3%03d.%d", i, os.Getpid())
	// The first run fails; the next ones (with the first's file in the
	// container's own layer) run long.
	script := "[ -e /ran ] && exec sleep " + token + "; : > /ran; exit 1"
	run, _ := e.runWithin(ctx, "run", "-d", "--restart", "always", "restartrace:1", "sh", "-c", script)
	id := strings.TrimSpace(run.stdout)
	what := fmt.Sprintf("round %d: %s meeting a container restarted by its policy", i, strings.Join(op, " "))
	if run.code != 0 || !idRE.MatchString(id) {
		e.t.Errorf("%s: the run failed:\n%s", what, run)
		return
	}
	time.Sleep(rand.N(400 * time.Millisecond))
	if opr, _ := e.runWithin(ctx, append(op, id)...); opr.code != 0 {
		e.t.Errorf("%s:\n%s", what, opr)
	}
	if op[0] == "rm" {
		e.checkRaceOutcome(what, id, token, "gone", false, false)
		return
	}
	e.checkRaceOutcome(what, id, token, "exited", false, false)
	// Nobody watches it any more: nothing can start it again.
	if got := e.state(id, "{{.State.Status}} {{.State.Pid}}"); got != "exited 0" {
		e.t.Errorf("%s: after stop: %q", what, got)
	}
	e.rmf(id)
}
