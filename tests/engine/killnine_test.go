package engine

// The kill -9 suite of the engine face: run, run -d, start, stop, rm -f
// and exec, each killed with SIGKILL (the command, or the container's
// monitor) after a random 0-100 ms; then what the next commands see must
// be true, and what a removed container had must be gone.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/tests/testutil"
)

var killVerbs = []string{"run", "run -d", "start", "stop", "rm -f", "exec"}

// killVerbEnv restricts the trials to one verb (e.g. "rm -f"), to chase
// one failure.
const killVerbEnv = "SDOCKER_KILLNINE_VERB"

// killTrial is one command killed.
type killTrial struct {
	n       int
	verb    string
	delay   time.Duration
	monitor bool   // kill the container's monitor, not the command
	name    string // the container acted on
	program []string
	image   string
	opts    []string // run options of the container (--rm, -v)
	detach  bool     // exec -d
}

func (tr *killTrial) String() string {
	victim := "the command"
	if tr.monitor {
		victim = "the container's monitor"
	}
	return fmt.Sprintf("trial %d (%s %s, %s killed after %s)", tr.n, tr.verb, strings.Join(tr.opts, " "), victim, tr.delay)
}

// killNine is the state of the suite: its counters and what it has seen.
type killNine struct {
	e        *env
	rng      *rand.Rand
	seed     uint64
	img      string
	seen     map[string]bool     // every container id seen
	programs map[string][]string // container name -> its command
	perVerb  map[string]int
	checks   int
	failures int
	monitors int // trials that killed a monitor
	midway   int // commands killed before they ended
	tr       *killTrial
}

// expect counts one invariant check; a failed one is reported with the
// trial and the seed that replays it.
func (k *killNine) expect(ok bool, format string, args ...any) bool {
	k.e.t.Helper()
	k.checks++
	if !ok {
		k.failures++
		k.e.t.Errorf("%s, %s=%d: %s", k.tr, testutil.KillNineSeedEnv, k.seed, fmt.Sprintf(format, args...))
	}
	return ok
}

// TestKillNine kills engine commands and monitors with SIGKILL at random
// points and checks, after each and after one more command, that every
// container is as ps -a and inspect say (a running one has its live init
// and watcher, a created one its real command, an ended one a real exit
// code) and that nothing of a removed container is left: cgroup, mount,
// process, lock, directory or anonymous volume.
func TestKillNine(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	seed, trials, err := testutil.KillNine(len(killVerbs))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 suite: %s=%d, %d trials", testutil.KillNineSeedEnv, seed, trials)
	k := &killNine{e: e, rng: rand.New(rand.NewPCG(seed, 1)), seed: seed, img: "killnine:1",
		seen: map[string]bool{}, programs: map[string][]string{}, perVerb: map[string]int{}}
	e.cleanupImage(k.img)
	e.mustRun(0, "import", rootfsDir, k.img)
	// A process that joined a container (exec) and whose command was
	// killed becomes ours; the container's init cannot end before it is
	// reaped.
	defer testutil.Every(20*time.Millisecond, reapNamespaced)()
	start := time.Now()
	for _, tr := range k.plan(trials) {
		k.tr = tr
		k.perVerb[tr.verb]++
		k.trial()
		if k.failures > 30 {
			t.Fatalf("stopping after %d failures", k.failures)
		}
	}
	var counts []string
	for _, v := range killVerbs {
		counts = append(counts, fmt.Sprintf("%s %d", v, k.perVerb[v]))
	}
	summary := fmt.Sprintf("killnine engine: seed %d, %d trials (%s; %d commands killed before they ended, %d monitors killed), %d invariant checks, %d failures, %s",
		seed, trials, strings.Join(counts, ", "), k.midway, k.monitors, k.checks, k.failures, time.Since(start).Round(time.Second))
	t.Log(summary)
	fmt.Println(summary)
}

// plan draws the trials: the verbs evenly spread, in a random order.
func (k *killNine) plan(n int) []*killTrial {
	var out []*killTrial
	verbs := killVerbs
	if v := os.Getenv(killVerbEnv); v != "" {
		verbs = []string{v}
	}
	for i := range n {
		tr := &killTrial{verb: verbs[i%len(verbs)], delay: time.Duration(k.rng.IntN(101)) * time.Millisecond}
		tr.image = rootfsDir
		if k.rng.IntN(2) == 0 {
			tr.image = k.img
		}
		tr.program = []string{"sleep", "100"}
		if k.rng.IntN(3) == 0 {
			tr.opts = append(tr.opts, "-v", "/data")
		}
		if (tr.verb == "run" || tr.verb == "run -d") && k.rng.IntN(3) == 0 {
			tr.opts = append(tr.opts, "--rm")
		}
		tr.monitor = tr.verb != "run" && k.rng.IntN(3) == 0
		tr.detach = tr.verb == "exec" && k.rng.IntN(3) == 0
		out = append(out, tr)
	}
	k.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i, tr := range out {
		tr.n, tr.name = i, fmt.Sprintf("k9-%d", i)
		k.programs[tr.name] = tr.program
	}
	return out
}

// trial sets the container up, starts the command, kills it (or the
// monitor), checks, removes every container and checks again.
func (k *killNine) trial() {
	e, tr := k.e, k.tr
	e.t.Helper()
	before := k.containerDirs()
	runArgs := append(append([]string{"--name", tr.name}, tr.opts...), tr.image)
	runArgs = append(runArgs, tr.program...)
	var args []string
	switch tr.verb {
	case "run":
		args = append([]string{"run"}, runArgs...)
	case "run -d":
		args = append([]string{"run", "-d"}, runArgs...)
	case "start":
		e.mustRun(0, append([]string{"run", "-d"}, runArgs...)...)
		e.mustRun(0, "kill", tr.name)
		e.mustRun(0, "wait", tr.name)
		args = []string{"start", tr.name}
	default:
		e.mustRun(0, append([]string{"run", "-d"}, runArgs...)...)
		switch tr.verb {
		case "stop":
			args = []string{"stop", "-t", "1", tr.name}
		case "rm -f":
			args = []string{"rm", "-f", "-v", tr.name}
		case "exec":
			// (Not killed, it must end by itself: the container's init
			// outlives its monitor until the next command collects it.)
			args = []string{"exec", tr.name, "sleep", map[bool]string{true: "1", false: "100"}[tr.monitor]}
			if tr.detach {
				args = []string{"exec", "-d", tr.name, "sleep", "100"}
			}
		}
	}
	cmd := e.command(args...)
	var out, errOut testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	time.Sleep(tr.delay)
	if tr.monitor {
		if k.killMonitor(before, done) {
			k.monitors++
		}
	} else if cmd.Process.Signal(syscall.SIGKILL) == nil {
		select {
		case <-done:
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				k.midway++
			}
		case <-time.After(timeout(10 * time.Second)):
		}
	}
	select {
	case <-done:
	case <-time.After(timeout(60 * time.Second)):
		k.expect(false, "sdocker %s still runs 60 s after the kill; stderr: %s", strings.Join(args, " "), errOut.String())
		cmd.Process.Kill()
		<-done
	}
	if tr.monitor && tr.verb != "exec" {
		// The command was not killed: it either worked or said why not.
		code := cmd.ProcessState.ExitCode()
		k.expect(code == 0 || strings.TrimSpace(errOut.String()) != "",
			"sdocker %s exited %d without a word after the monitor was killed", strings.Join(args, " "), code)
	}
	k.settle()
	k.seen = map[string]bool{}
	k.check("after the kill")
	k.removeAll()
}

// killMonitor kills the monitor of the trial's container (a new one for
// run -d) as soon as there is one; it reports whether it found one before
// the command ended.
func (k *killNine) killMonitor(before map[string]bool, done chan struct{}) bool {
	for {
		for pid, args := range monitors(k.e.root) {
			id := monitorContainer(args)
			if k.tr.verb == "run -d" && !before[id] || k.tr.verb != "run -d" && id == k.id(k.tr.name) {
				unix.Kill(pid, unix.SIGKILL)
				// Its lock goes only once it has exited.
				testutil.WaitFor(k.e.t, 10*time.Second, "the killed monitor to end", func() bool { return processGone(pid) })
				return true
			}
		}
		select {
		case <-done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
}

// id returns the id of container name, "" if it has none.
func (k *killNine) id(name string) string {
	for id := range k.containerDirs() {
		if b, err := os.ReadFile(filepath.Join(k.e.root, "containers", id, "container.json")); err == nil {
			var r engine.Record
			if json.Unmarshal(b, &r) == nil && r.Name == name {
				return id
			}
		}
	}
	return ""
}

// monitors lists the monitors of containers under root (pid -> argv),
// in both of their forms: "sdocker-monitor ROOT ID..." and the small
// sdocker-monitor, whose arguments end with that command line.
func monitors(root string) map[int][]string {
	out := map[int][]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[0] == "sdocker-monitor" && slices.Contains(args, root) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out[pid] = args
		}
	}
	return out
}

// monitorContainer returns the container id a monitor's argv names.
func monitorContainer(args []string) string {
	for _, a := range args {
		if idRE.MatchString(a) {
			return a
		}
	}
	return ""
}

// containerDirs lists the directories of ROOT/containers.
func (k *killNine) containerDirs() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(k.e.root, "containers"))
	for _, ent := range ents {
		out[ent.Name()] = true
	}
	return out
}

// check runs ps -a and inspect and checks every container they show, and
// that nothing is left of the containers seen before that are gone.
func (k *killNine) check(when string) {
	e := k.e
	e.t.Helper()
	r := e.run("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}")
	if !k.expect(r.code == 0 && r.stderr == "", "%s: ps -a:\n%s", when, r) {
		return
	}
	listed := map[string]string{}
	for _, l := range lines(r.stdout) {
		if id, st, ok := strings.Cut(l, " "); ok {
			listed[id] = st
			k.seen[id] = true
		}
	}
	for id := range k.containerDirs() {
		k.expect(listed[id] != "", "%s: %s is in the store but not listed by ps -a (entries %v)",
			when, id[:min(12, len(id))], testutil.DirNames(filepath.Join(e.root, "containers", id)))
	}
	for id, st := range listed {
		k.checkContainer(when, id, st)
	}
	procs, mons := sdockerProcs(), monitors(e.root)
	for id := range k.seen {
		if listed[id] == "" {
			k.checkGone(when, id, procs, mons)
		}
	}
	k.checkVolumes(when)
	k.expect(lockFree(filepath.Join(e.root, "lock")), "%s: the store lock is held with no command running", when)
}

// checkContainer checks that container id, which ps -a says is st, is so.
func (k *killNine) checkContainer(when, id, st string) {
	e := k.e
	r := e.run("inspect", id)
	var list []dockerfmt.ContainerJSON
	if !k.expect(r.code == 0 && json.Unmarshal([]byte(r.stdout), &list) == nil && len(list) == 1, "%s: inspect:\n%s", when, r) {
		return
	}
	c := list[0]
	rec := e.record(id)
	short := id[:12]
	// (It may have ended between two of these looks.)
	k.expect((c.State.Status == st || st == "recheck" || c.State.Status == engine.StateExited) && (rec.Status == c.State.Status || rec.Status == engine.StateExited),
		"%s: %s: ps -a says %s, inspect %s, its record %s", when, short, st, c.State.Status, rec.Status)
	program := k.programs[rec.Name]
	dir := filepath.Join(e.root, "containers", id)
	if (rec.Status == engine.StateRunning || rec.Status == engine.StatePaused) && !testutil.ProcessAlive(rec.Pid, rec.PidStart) &&
		(k.tr.verb == "rm -f" || k.tr.verb == "stop") && st != "recheck" {
		// The killed command may have signalled the init before it
		// died: the init ends meanwhile, and its monitor must then
		// record the exit (checked as any exit, once it has).
		k.expect(testutil.Poll(timeout(10*time.Second), func() bool { return e.record(id).Status == engine.StateExited }),
			"%s: %s is %s but its init %d is not alive, and no exit was recorded", when, short, rec.Status, rec.Pid)
		k.checkContainer(when, id, "recheck")
		return
	}
	switch rec.Status {
	case engine.StateRunning, engine.StatePaused:
		k.expect(testutil.ProcessAlive(rec.Pid, rec.PidStart), "%s: %s is %s but its init %d is not alive", when, short, rec.Status, rec.Pid)
		k.expect(testutil.ProcessAlive(rec.Monitor, rec.MonitorStart), "%s: %s is %s but its watcher %d is not alive (%s); its lock is held by %v",
			when, short, rec.Status, rec.Monitor, procDescription(rec.Monitor), lockHolders(dir))
		k.expect(!lockFreeNow(dir), "%s: %s is %s but nobody holds its lock", when, short, rec.Status)
		k.expect(c.State.Running && c.State.Pid == rec.Pid, "%s: %s: inspect says Running=%v Pid=%d", when, short, c.State.Running, c.State.Pid)
		k.checkProcs(when, id, rec)
	case engine.StateCreated:
		k.expect(slices.Equal(rec.Command, program) && slices.Equal(c.Config.Cmd, program),
			"%s: %s is created with the command %q (inspect %q), not its own %q", when, short, rec.Command, c.Config.Cmd, program)
		k.expect(lockFree(dir), "%s: %s is created but its lock is held", when, short)
		k.expect(len(cgroupProcs(id)) == 0, "%s: %s is created but has processes %v", when, short, cgroupProcs(id))
	case engine.StateExited:
		k.expect(!testutil.ProcessAlive(rec.Pid, rec.PidStart), "%s: %s exited but its init %d lives", when, short, rec.Pid)
		k.expect(lockFree(dir), "%s: %s exited but its lock is held", when, short)
		k.expect(len(cgroupDirs(id)) == 0, "%s: %s exited but has cgroups %v", when, short, cgroupDirs(id))
		k.expect(len(testutil.MountsUnder(dir)) == 0, "%s: %s exited but has mounts %v", when, short, testutil.MountsUnder(dir))
		codes := []int{137, 143} // sleep 100, killed or stopped
		k.expect(slices.Contains(codes, rec.ExitCode) && c.State.ExitCode == rec.ExitCode,
			"%s: %s (%q) exited with %d (inspect %d, error %q), want one of %v", when, short, program, rec.ExitCode, c.State.ExitCode, rec.Error, codes)
	default:
		k.expect(false, "%s: %s is %q", when, short, rec.Status)
	}
}

// checkProcs checks that a running container holds its init and, after a
// foreground exec was killed, nothing else (an exec -d'd process may stay).
func (k *killNine) checkProcs(when, id string, rec engine.Record) {
	if k.tr.verb == "exec" && k.tr.detach {
		return
	}
	var procs []int
	deadline := time.Now().Add(timeout(5 * time.Second))
	for {
		procs = cgroupProcs(id)
		if len(procs) <= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	now := k.e.record(id)
	if len(procs) == 0 && (k.tr.verb == "rm -f" || k.tr.verb == "stop") {
		// Signalled by the killed command, the init ended meanwhile: its
		// monitor must record that.
		k.expect(testutil.Poll(timeout(10*time.Second), func() bool { now = k.e.record(id); return now.Status == engine.StateExited }) &&
			slices.Contains([]int{137, 143}, now.ExitCode), "%s: %s ended after the check began, recorded as %s with %d", when, id[:12], now.Status, now.ExitCode)
		return
	}
	k.expect(slices.Equal(procs, []int{rec.Pid}), "%s: %s runs %v, want only its init %d (now %s; its record: %s, exit code %d, watcher %d: %s; log %q)",
		when, id[:12], procs, rec.Pid, procDescription(rec.Pid), now.Status, now.ExitCode, now.Monitor, procDescription(now.Monitor),
		k.e.run("logs", id).String())
}

// checkGone checks that nothing is left of removed container id.
func (k *killNine) checkGone(when, id string, procs map[string][]int, mons map[int][]string) {
	dir := filepath.Join(k.e.root, "containers", id)
	short := id[:min(12, len(id))]
	_, err := os.Stat(dir)
	k.expect(errors.Is(err, os.ErrNotExist), "%s: removed %s left its directory %v", when, short, testutil.DirNames(dir))
	k.expect(len(cgroupDirs(id)) == 0, "%s: removed %s left cgroups %v", when, short, cgroupDirs(id))
	k.expect(len(testutil.MountsUnder(dir)) == 0, "%s: removed %s left mounts %v", when, short, testutil.MountsUnder(dir))
	k.expect(len(procs[id]) == 0, "%s: removed %s left processes %v", when, short, procs[id])
	for pid, args := range mons {
		k.expect(monitorContainer(args) != id, "%s: removed %s left its monitor %d", when, short, pid)
	}
}

// checkVolumes checks that every anonymous volume belongs to a container.
func (k *killNine) checkVolumes(when string) {
	used := map[string]bool{}
	for id := range k.containerDirs() {
		b, err := os.ReadFile(filepath.Join(k.e.root, "containers", id, "container.json"))
		var r engine.Record
		if err == nil && json.Unmarshal(b, &r) == nil {
			for _, m := range r.Mounts {
				used[m.Source] = true
				if filepath.Base(m.Source) == "_data" {
					used[filepath.Dir(m.Source)] = true // ROOT/volumes/NAME/_data
				}
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(k.e.root, "volumes"))
	for _, ent := range ents {
		p := filepath.Join(k.e.root, "volumes", ent.Name())
		k.expect(used[p], "%s: volume %s belongs to no container", when, p)
	}
}

// removeAll removes every container (rm -f -v) and checks what it leaves.
func (k *killNine) removeAll() {
	e := k.e
	ids := lines(e.run("ps", "-a", "-q", "--no-trunc").stdout)
	if len(ids) > 0 {
		r := e.run(append([]string{"rm", "-f", "-v"}, ids...)...)
		k.expect(r.code == 0, "rm -f -v of every container:\n%s", r)
	}
	k.check("after rm -f")
	k.expect(len(k.containerDirs()) == 0, "after rm -f: the store still holds %v", k.containerDirs())
	ents, _ := os.ReadDir(filepath.Join(e.root, "volumes"))
	k.expect(len(ents) == 0, "after rm -f -v: %d volumes left", len(ents))
	for _, ent := range ents {
		os.RemoveAll(filepath.Join(e.root, "volumes", ent.Name()))
	}
	// What failed is cleaned here, so that the next trial starts afresh.
	for id := range k.containerDirs() {
		e.run("rm", "-f", id)
		testutil.RemoveWorkDir(filepath.Join(e.root, "containers", id))
	}
	testutil.ReapAll() // orphaned inits and monitors; no command runs now
}

// lockFree reports whether nobody holds the flock of path (a monitor may
// hold the store lock for a moment: a few tries).
func lockFree(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	for range 25 {
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			unix.Flock(fd, unix.LOCK_UN)
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// cgroupProcs lists the live processes in container id's cgroups.
func cgroupProcs(id string) []int {
	var out []int
	for _, pid := range containerPids(id) {
		if !processGone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// sdockerProcs maps the id of each sdocker container cgroup that holds a
// live process, in some hierarchy, to those processes.
func sdockerProcs() map[string][]int {
	out := map[string][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || processGone(pid) {
			continue
		}
		seen := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			_, cg, _ := strings.Cut(l, ":/sdocker/")
			if id, _, _ := strings.Cut(cg, "/"); idRE.MatchString(id) && !seen[id] {
				seen[id] = true
				out[id] = append(out[id], pid)
			}
		}
	}
	return out
}

// procDescription is what /proc says of pid, for a failure message.
func procDescription(pid int) string {
	st, ok := testutil.ReadProcStat(pid)
	if !ok {
		return "no such process"
	}
	return fmt.Sprintf("%s, state %c, parent %d", st.Comm, st.State, st.PPid)
}

// lockHolders lists the processes (with their names) that /proc/locks
// says hold a lock on path.
func lockHolders(path string) []string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return nil
	}
	b, _ := os.ReadFile("/proc/locks")
	suffix := fmt.Sprintf(":%d", st.Ino)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 8 && f[1] == "FLOCK" && strings.HasSuffix(f[5], suffix) {
			pid, _ := strconv.Atoi(f[4])
			out = append(out, fmt.Sprintf("%d (%s)", pid, procDescription(pid)))
		}
	}
	return out
}

// reapNamespaced reaps our zombie children that were in another pid
// namespace (none is a command of ours).
func reapNamespaced() {
	self := os.Getpid()
	for _, pid := range children() {
		st, ok := testutil.ReadProcStat(pid)
		if !ok || st.PPid != self || st.State != 'Z' {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[0] == "NSpid:" {
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			}
		}
	}
}

// settle waits (a bounded time) until no container is between two states:
// one whose lock is held is being started, stopped or recorded by its
// live watcher unless it runs with a live init.
func (k *killNine) settle() {
	deadline := time.Now().Add(timeout(10 * time.Second))
	for time.Now().Before(deadline) {
		busy := false
		for id := range k.containerDirs() {
			dir := filepath.Join(k.e.root, "containers", id)
			b, err := os.ReadFile(filepath.Join(dir, "container.json"))
			var r engine.Record
			if err != nil || json.Unmarshal(b, &r) != nil {
				continue
			}
			settled := (r.Status == engine.StateRunning || r.Status == engine.StatePaused) && testutil.ProcessAlive(r.Pid, r.PidStart)
			if !settled && !lockFreeNow(dir) {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockFreeNow reports whether nobody holds the flock of path now.
func lockFreeNow(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil
}
