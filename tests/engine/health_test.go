package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/tests/testutil"
)

// The healthcheck tests check every 200 ms, so that a status is reached in
// about a second.
const healthEvery = "200ms"

// health returns inspect's State.Health of container id (nil if none).
func (e *env) health(id string) *dockerfmt.HealthJSON {
	e.t.Helper()
	return e.inspect(id).State.Health
}

// waitHealth waits until container id's health is status, and returns it.
func (e *env) waitHealth(id, status string) *dockerfmt.HealthJSON {
	e.t.Helper()
	var h *dockerfmt.HealthJSON
	testutil.WaitFor(e.t, timeout(20*time.Second), "container "+id[:12]+" to be "+status, func() bool {
		h = e.health(id)
		return h != nil && h.Status == status
	})
	return h
}

// psStatus is ps's STATUS of container id, found with the filters.
func (e *env) psStatus(id string, filters ...string) string {
	e.t.Helper()
	args := []string{"ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	for _, l := range lines(e.mustRun(0, args...).stdout) {
		if got, status, _ := strings.Cut(l, " "); got == id {
			return status
		}
	}
	return ""
}

// healthEvents are the health_status actions of container id since start.
func (e *env) healthEvents(id string, start time.Time) []string {
	e.t.Helper()
	return actionsOf(e.events("--since", unixTime(start), "--until", "0s", "--filter", "event=health_status"), id)
}

// TestHealthHealthy: a passing check makes the container healthy: ps says
// so and filters by it, inspect has the results, and the change is one
// health_status event.
func TestHealthHealthy(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	id := e.runDetached("--health-cmd", "echo fine", "--health-interval", healthEvery, rootfsDir, "sleep", "100")
	if h := e.health(id); h == nil || h.Status != "starting" && h.Status != "healthy" {
		t.Errorf("health right after the start: %+v", h)
	}
	h := e.waitHealth(id, "healthy")
	if h.FailingStreak != 0 || len(h.Log) == 0 || h.Log[0].ExitCode != 0 || h.Log[0].Output != "fine\n" {
		t.Errorf("health: %+v", h)
	}
	if l := h.Log[0]; !l.Start.After(start) || l.End.Before(l.Start) {
		t.Errorf("result times: %+v (run at %s)", l, start)
	}
	if got := e.psStatus(id); !strings.HasPrefix(got, "Up ") || !strings.HasSuffix(got, " (healthy)") {
		t.Errorf("ps STATUS %q, want Up ... (healthy)", got)
	}
	for filter, want := range map[string]bool{"health=healthy": true, "health=unhealthy": false, "health=starting": false, "health=none": false} {
		if got := e.psStatus(id, filter) != ""; got != want {
			t.Errorf("ps --filter %s lists it: %v", filter, got)
		}
	}
	c := e.inspect(id)
	if hc := c.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "echo fine"}) || hc.Interval != 200*time.Millisecond {
		t.Errorf("Config.Healthcheck: %+v", hc)
	}
	testutil.WaitFor(t, timeout(10*time.Second), "the health_status event", func() bool { return len(e.healthEvents(id, start)) > 0 })
	if got := e.healthEvents(id, start); !slices.Equal(got, []string{"health_status: healthy"}) {
		t.Errorf("health events %q, want one health_status: healthy", got)
	}
	// A container without a healthcheck is none.
	other := e.runDetached(rootfsDir, "sleep", "100")
	if e.psStatus(other, "health=none") == "" || e.psStatus(id, "health=none") != "" {
		t.Errorf("ps --filter health=none: wrong containers")
	}
	if e.health(other) != nil || e.inspect(other).Config.Healthcheck != nil {
		t.Errorf("no healthcheck: inspect has %+v", e.inspect(other).State.Health)
	}
}

// TestHealthUnhealthy: a failing check makes the container unhealthy after
// retries failures in a row, not before; the last 5 results are kept, each
// output cut at 4096 bytes as Docker's.
func TestHealthUnhealthy(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	// The first check passes (the file is there), the next ones fail.
	script := `head -c 5000 /dev/zero | tr '\0' x; [ ! -e /tmp/failed ] && touch /tmp/failed`
	id := e.runDetached("--tmpfs", "/tmp", "--health-cmd", script, "--health-interval", healthEvery, "--health-retries", "4", rootfsDir, "sleep", "100")
	e.waitHealth(id, "healthy")
	h := e.waitHealth(id, "unhealthy")
	if h.FailingStreak != 4 {
		t.Errorf("unhealthy with a failing streak of %d, want 4 (retries)", h.FailingStreak)
	}
	want := strings.Repeat("x", 4096) + "..."
	for _, l := range h.Log {
		if l.Output != want {
			t.Errorf("output of %d bytes, want 4096 and ...", len(l.Output))
		}
	}
	if got := h.Log[len(h.Log)-1]; got.ExitCode != 1 {
		t.Errorf("last result: exit %d", got.ExitCode)
	}
	// More checks: the log keeps the last 5.
	testutil.WaitFor(t, timeout(20*time.Second), "7 failures in a row", func() bool {
		h = e.health(id)
		return h.FailingStreak >= 7
	})
	if len(h.Log) != 5 {
		t.Errorf("%d results kept, want 5", len(h.Log))
	}
	for i := 1; i < len(h.Log); i++ {
		if !h.Log[i].Start.After(h.Log[i-1].End) {
			t.Errorf("results out of order, or checks overlapping: %v then %v", h.Log[i-1], h.Log[i])
		}
	}
	if got := e.psStatus(id, "health=unhealthy"); !strings.HasSuffix(got, " (unhealthy)") {
		t.Errorf("ps --filter health=unhealthy: STATUS %q", got)
	}
	if got := e.healthEvents(id, start); !slices.Equal(got, []string{"health_status: healthy", "health_status: unhealthy"}) {
		t.Errorf("health events %q", got)
	}
	// By hand: exit 1, the status printed.
	if r := e.run("healthcheck", "run", id); r.code != 1 || r.stdout != "unhealthy\n" {
		t.Errorf("healthcheck run: %s", r)
	}
	// Stopped, it keeps its last health for inspect, not for ps's STATUS.
	e.mustRun(0, "stop", "-t", "0", id)
	if h := e.health(id); h == nil || h.Status != "unhealthy" {
		t.Errorf("health after stop: %+v", h)
	}
	if got := e.psStatus(id); !strings.HasPrefix(got, "Exited (137)") {
		t.Errorf("ps STATUS after stop %q", got)
	}
	if r := e.run("healthcheck", "run", id); r.code != 125 || !strings.Contains(r.stderr, "is not running") {
		t.Errorf("healthcheck run of a stopped container: %s", r)
	}
}

// TestHealthStartPeriod: failures within the start period do not count; a
// success ends it.
func TestHealthStartPeriod(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--tmpfs", "/run/app", "--health-cmd", "test -e /run/app/ready", "--health-interval", healthEvery,
		"--health-retries", "1", "--health-start-period", "1h", rootfsDir, "sleep", "100")
	testutil.WaitFor(t, timeout(20*time.Second), "3 checks", func() bool { return len(e.health(id).Log) >= 3 })
	h := e.health(id)
	if h.Status != "starting" || h.FailingStreak != 0 {
		t.Errorf("failures within the start period: %s, streak %d; want starting, 0", h.Status, h.FailingStreak)
	}
	if got := e.psStatus(id, "health=starting"); !strings.HasSuffix(got, " (health: starting)") {
		t.Errorf("ps STATUS %q, want ... (health: starting)", got)
	}
	e.mustRun(0, "exec", id, "touch", "/run/app/ready")
	e.waitHealth(id, "healthy")
	// Healthy, the start period is over: the next failure counts.
	e.mustRun(0, "exec", id, "rm", "/run/app/ready")
	e.waitHealth(id, "unhealthy")
}

// TestHealthTimeout: a check that takes longer than its timeout fails with
// exit code -1 and Docker's message, and does not hold the next ones up.
func TestHealthTimeout(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--health-cmd", "exec sleep 30", "--health-interval", healthEvery, "--health-timeout", "300ms",
		"--health-retries", "2", rootfsDir, "sleep", "100")
	h := e.waitHealth(id, "unhealthy")
	for _, l := range h.Log {
		if l.ExitCode != -1 || l.Output != "Health check exceeded timeout (300ms)" {
			t.Errorf("result %+v, want -1 and the timeout", l)
		}
		if d := l.End.Sub(l.Start); d < 300*time.Millisecond || d > timeout(5*time.Second) {
			t.Errorf("a check that timed out after 300ms took %s", d)
		}
	}
	// The tests' processes were killed: none is left in the container
	// (but the one that may run now).
	if n := strings.Count(e.mustRun(0, "top", id).stdout, "sleep 30"); n > 1 {
		t.Errorf("%d checks left running in the container", n)
	}
}

// TestHealthOnFailure: once unhealthy, kill kills it (137), stop stops it
// (its own SIGTERM handler: exit 0) and restart starts it again.
func TestHealthOnFailure(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	failing := []string{"--health-cmd", "test -e /ok", "--health-interval", healthEvery, "--health-retries", "1"}
	server := []string{"sh", "-c", `trap 'exit 0' TERM; while :; do sleep 0.1; done`}
	t.Run("kill", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		id := e.runDetached(append(append(failing, "--health-on-failure", "kill", rootfsDir), server...)...)
		c := e.waitStatus(id, "exited", timeout(20*time.Second))
		if c.State.ExitCode != 137 || c.State.Health == nil || c.State.Health.Status != "unhealthy" {
			t.Errorf("after kill: exit %d, health %+v", c.State.ExitCode, c.State.Health)
		}
	})
	t.Run("stop", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		id := e.runDetached(append(append(failing, "--health-on-failure", "stop", "--restart", "always", rootfsDir), server...)...)
		c := e.waitStatus(id, "exited", timeout(20*time.Second))
		if c.State.ExitCode != 0 {
			t.Errorf("after stop: exit %d, want 0 (its TERM handler)", c.State.ExitCode)
		}
		time.Sleep(500 * time.Millisecond) // the restart policy does not bring it back
		if c := e.inspect(id); c.State.Status != "exited" || c.RestartCount != 0 {
			t.Errorf("stopped for its health, then: %s, %d restarts", c.State.Status, c.RestartCount)
		}
	})
	t.Run("restart", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		e.mustRun(0, "import", rootfsDir, "hc:1")
		id := e.runDetached(append(append(failing, "--health-on-failure", "restart", "hc:1"), server...)...)
		first := e.inspect(id).State
		testutil.WaitFor(t, timeout(30*time.Second), "a restart", func() bool {
			c := e.inspect(id)
			return c.State.Running && c.State.StartedAt != first.StartedAt
		})
		// Its own layer is kept: made healthy, it stays.
		e.mustRun(0, "exec", id, "touch", "/ok")
		e.waitHealth(id, "healthy")
		again := e.inspect(id).State
		time.Sleep(600 * time.Millisecond)
		if c := e.inspect(id); c.State.StartedAt != again.StartedAt || c.State.Health.Status != "healthy" {
			t.Errorf("healthy, yet restarted: %+v", c.State)
		}
		e.mustRun(0, "rm", "-f", id)
		e.mustRun(0, "rmi", "hc:1")
	})
}

// healthImage loads an image of the test rootfs whose HEALTHCHECK is hc.
func (e *env) healthImage(tag string, hc map[string]any) {
	e.t.Helper()
	archive := filepath.Join(e.t.TempDir(), "hc.tar")
	writeDockerArchive(e.t, archive, []dockerImage{{tags: []string{tag}, layers: [][]byte{layerTar(e.t, rootfsDir, nil)},
		config: imageConfig{Cmd: []string{"sleep", "100"}, Healthcheck: hc}}})
	e.cleanupImage(tag)
	e.mustRun(0, "load", "-i", archive)
}

// TestHealthImage: an image's HEALTHCHECK runs as given; run's options go
// over it; --no-healthcheck and an image's NONE turn it off.
func TestHealthImage(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.healthImage("hc:probe", map[string]any{"Test": []string{"CMD", "sh", "-c", "echo image check; exit 1"}, "Interval": int64(200 * time.Millisecond), "Retries": 2})
	e.healthImage("hc:none", map[string]any{"Test": []string{"NONE"}})
	if got := e.mustRun(0, "image", "inspect", "-f", "{{json .Config.Healthcheck}}", "hc:probe").stdout; got != `{"Test":["CMD","sh","-c","echo image check; exit 1"],"Interval":200000000,"Retries":2}`+"\n" {
		t.Errorf("image inspect: Config.Healthcheck %s", got)
	}
	id := e.runDetached("hc:probe")
	h := e.waitHealth(id, "unhealthy")
	if h.FailingStreak != 2 || h.Log[0].Output != "image check\n" {
		t.Errorf("the image's check: %+v", h)
	}
	// Run's retries over the image's test and interval.
	id = e.runDetached("--health-retries", "3", "hc:probe")
	h = e.waitHealth(id, "unhealthy")
	if hc := e.inspect(id).Config.Healthcheck; h.FailingStreak != 3 || hc.Retries != 3 || hc.Interval != 200*time.Millisecond || hc.Test[0] != "CMD" {
		t.Errorf("run's retries over the image's: %+v, %+v", h, hc)
	}
	// Run's command over the image's.
	id = e.runDetached("--health-cmd", "true", "hc:probe")
	e.waitHealth(id, "healthy")
	for _, args := range [][]string{{"--no-healthcheck", "hc:probe"}, {"hc:none"}} {
		id := e.runDetached(args...)
		time.Sleep(600 * time.Millisecond) // 3 intervals of the image's
		c := e.inspect(id)
		if c.State.Health != nil || c.Config.Healthcheck == nil || !slices.Equal(c.Config.Healthcheck.Test, []string{"NONE"}) {
			t.Errorf("%q: health %+v, healthcheck %+v", args, c.State.Health, c.Config.Healthcheck)
		}
		if e.psStatus(id, "health=none") == "" {
			t.Errorf("%q: not in ps --filter health=none", args)
		}
		if r := e.run("healthcheck", "run", id); r.code != 125 || !strings.Contains(r.stderr, "has no healthcheck") {
			t.Errorf("healthcheck run without one: %s", r)
		}
	}
	// An image's NONE cannot be given retries.
	r := e.run("run", "-d", "--health-retries", "2", "hc:none")
	if r.code != 125 || !strings.Contains(r.stderr, "no healthcheck to apply it to") {
		t.Errorf("--health-retries on an image without a check: %s", r)
	}
}

// TestHealthCommit: commit carries the container's healthcheck into the
// new image, as Docker's: run's --health-* options over the image's, the
// image's own when none were given, NONE for --no-healthcheck; a
// container of the new image runs it.
func TestHealthCommit(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.healthImage("hc:base", map[string]any{"Test": []string{"CMD", "sh", "-c", "exit 1"}, "Interval": int64(200 * time.Millisecond), "Retries": 2})
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-cmd", "echo committed", "--health-retries", "4"}, `{"Test":["CMD-SHELL","echo committed"],"Interval":200000000,"Retries":4}`},
		{nil, `{"Test":["CMD","sh","-c","exit 1"],"Interval":200000000,"Retries":2}`},
		{[]string{"--no-healthcheck"}, `{"Test":["NONE"]}`},
	} {
		id := e.runDetached(append(tc.args, "hc:base")...)
		tag := fmt.Sprintf("hc:snap%d", i)
		e.cleanupImage(tag)
		e.mustRun(0, "commit", id, tag)
		if got := e.mustRun(0, "image", "inspect", "-f", "{{json .Config.Healthcheck}}", tag).stdout; got != tc.want+"\n" {
			t.Errorf("commit of a container run with %q: Config.Healthcheck %s, want %s", tc.args, got, tc.want)
		}
		if tc.args == nil {
			continue
		}
		snap := e.runDetached(tag)
		if tc.args[0] == "--no-healthcheck" {
			if c := e.inspect(snap); c.State.Health != nil {
				t.Errorf("a container of the image committed with --no-healthcheck has health %+v", c.State.Health)
			}
			continue
		}
		if h := e.waitHealth(snap, "healthy"); h.Log[0].Output != "committed\n" {
			t.Errorf("a container of the committed image: %+v", h)
		}
	}
}

// TestHealthHandRun: healthcheck run by hand records its result as the
// monitor's do, exits 0 or 1, and refuses what has no check.
func TestHealthHandRun(t *testing.T) {
	e := newEnv(t)
	// An interval the test never reaches: only the hand runs count.
	id := e.runDetached("--name", "hand", "--tmpfs", "/run/app", "--health-cmd", "cat /run/app/ok", "--health-interval", "1h", "--health-retries", "1", rootfsDir, "sleep", "100")
	if r := e.run("healthcheck", "run", "hand"); r.code != 1 || r.stdout != "unhealthy\n" {
		t.Errorf("a failing check: %s", r)
	}
	e.mustRun(0, "exec", id, "sh", "-c", "echo yes > /run/app/ok")
	if r := e.run("healthcheck", "run", "hand"); r.code != 0 || r.stdout != "" {
		t.Errorf("a passing check: %s", r)
	}
	h := e.health(id)
	if h.Status != "healthy" || len(h.Log) != 2 || h.Log[0].ExitCode != 1 || h.Log[1].Output != "yes\n" {
		t.Errorf("after two hand runs: %+v", h)
	}
	for _, args := range [][]string{{"healthcheck", "run", "nosuch"}, {"healthcheck", "run"}, {"healthcheck"}} {
		if r := e.run(args...); r.code != 125 || len(lines(r.stderr)) != 1 {
			t.Errorf("%q: %s", args, r)
		}
	}
}

// TestHealthBadInput: a healthcheck option that cannot be gets a one-line
// error, exit 125, and leaves nothing behind.
func TestHealthBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-cmd", "true", "--health-interval", "0"}, "--health-interval 0: must be at least 1ms"},
		{[]string{"--health-cmd", "true", "--health-interval", "-1s"}, "--health-interval -1s: cannot be negative"},
		{[]string{"--health-cmd", "true", "--health-interval", "soon"}, `--health-interval "soon": use a duration`},
		{[]string{"--health-cmd", "true", "--health-timeout", "0s"}, "--health-timeout 0s: must be at least 1ms"},
		{[]string{"--health-cmd", "true", "--health-start-period", "x"}, `--health-start-period "x"`},
		{[]string{"--health-cmd", "true", "--health-retries", "-2"}, "--health-retries -2: cannot be negative"},
		{[]string{"--health-cmd", "true", "--health-retries", "two"}, "invalid argument"},
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck conflicts with --health-cmd"},
		{[]string{"--health-cmd", "true", "--health-on-failure", "explode"}, `--health-on-failure "explode"`},
		{[]string{"--health-interval", "1s"}, "--health-interval: the container has no healthcheck"},
		{[]string{"--health-cmd", ""}, "--health-cmd: give a command"},
	} {
		for _, cmd := range []string{"run", "create"} {
			args := append(append([]string{cmd}, tc.args...), rootfsDir, "true")
			if cmd == "run" {
				args = append([]string{cmd, "-d"}, args[1:]...)
			}
			r := e.run(args...)
			if r.code != 125 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("want exit 125 and one line with %q:\n%s", tc.want, r)
			}
		}
	}
	if out := e.mustRun(0, "ps", "-aq").stdout; out != "" {
		t.Errorf("containers left: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) > 0 {
		t.Errorf("left in containers/: %v", ents)
	}
}

// TestMonitorSmallHealth: sdocker-monitor stays within its memory budget
// with a healthcheck every second and a chatty log, rotated.
func TestMonitorSmallHealth(t *testing.T) {
	e := newEnv(t)
	script := `while :; do ` + countScript(200) + `; sleep 0.05; done`
	id := e.runDetached("--log-opt", "max-size=64k", "--health-cmd", "true", "--health-interval", "1s", rootfsDir, "sh", "-c", script)
	mon := e.checkSmallMonitor(id)
	testutil.WaitFor(t, timeout(30*time.Second), "3 checks", func() bool {
		h := e.health(id)
		return h != nil && len(h.Log) >= 3
	})
	var most int64
	for range 5 {
		rss, err := procKB(fmt.Sprintf("/proc/%d/status", mon), "VmRSS")
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, rss)
		time.Sleep(300 * time.Millisecond)
	}
	if h := e.health(id); h.Status != "healthy" {
		t.Errorf("health %+v", h)
	}
	t.Logf("monitor %d with a 1 s healthcheck and a chatty log: VmRSS at most %d KiB", mon, most>>10)
	if most > maxMonitorRSS {
		t.Errorf("monitor VmRSS %d KiB, want at most %d KiB", most>>10, maxMonitorRSS>>10)
	}
	if mon2 := e.record(id).Monitor; mon2 != mon {
		t.Errorf("the monitor changed: %d, then %d", mon, mon2)
	}
}

// TestHealthForeground: a container in the foreground is checked too (by
// its sdocker), and keeps its last health once it has exited.
func TestHealthForeground(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	r := e.mustRun(0, "run", "--name", "fg", "--health-cmd", "echo ok", "--health-interval", healthEvery, rootfsDir, "sh", "-c", "sleep 1.5; echo done")
	if r.stdout != "done\n" {
		t.Errorf("run: %s", r)
	}
	id := e.inspect("fg").ID
	t.Cleanup(func() { e.remove(id) })
	if h := e.health("fg"); h == nil || h.Status != "healthy" || len(h.Log) < 2 || h.Log[0].Output != "ok\n" {
		t.Errorf("health after a foreground run of 1.5 s, checked every %s: %+v", healthEvery, h)
	}
	if got := e.healthEvents(id, start); !slices.Equal(got, []string{"health_status: healthy"}) {
		t.Errorf("health events %q", got)
	}
	if r := e.run("run", "--health-cmd", "true", "--health-on-failure", "restart", rootfsDir, "true"); r.code != 125 || !strings.Contains(r.stderr, "needs -d") {
		t.Errorf("--health-on-failure restart in the foreground: %s", r)
	}
}

// TestHealthRestartAndPause: a restart by its policy starts the health
// over (starting, then healthy again) under the new monitor, which leaves
// no check unreaped; a paused container is not checked (healthcheck run
// exits 2), and is again once unpaused.
func TestHealthRestartAndPause(t *testing.T) {
	e := newEnv(t)
	// It fails once, then runs on.
	state := t.TempDir()
	id := e.runDetached("--restart", "on-failure:1", "--health-cmd", "echo up", "--health-interval", healthEvery, "-v", state+":/state",
		rootfsDir, "sh", "-c", "[ -e /state/once ] && exec sleep 100; touch /state/once; sleep 1; exit 3")
	e.waitHealth(id, "healthy")
	first := e.inspect(id).State.StartedAt
	testutil.WaitFor(t, timeout(20*time.Second), "the restart", func() bool {
		c := e.inspect(id)
		return c.RestartCount == 1 && c.State.Running && c.State.StartedAt != first
	})
	if h := e.health(id); h.Status != "starting" && h.Status != "healthy" {
		t.Errorf("health right after the restart: %+v", h)
	}
	testutil.WaitFor(t, timeout(10*time.Second), "a check of the new run", func() bool {
		h := e.health(id)
		return h.Status == "healthy" && h.Log[len(h.Log)-1].Start.After(mustTime(t, e.inspect(id).State.StartedAt))
	})
	mon := e.checkSmallMonitor(id)
	time.Sleep(500 * time.Millisecond)
	if z := zombieChildren(mon); len(z) > 0 {
		t.Errorf("monitor %d has zombie children %v", mon, z)
	}
	// Paused: no checks.
	e.mustRun(0, "pause", id)
	n := len(e.health(id).Log)
	before := e.health(id).Log[n-1].Start
	time.Sleep(800 * time.Millisecond)
	if h := e.health(id); !h.Log[len(h.Log)-1].Start.Equal(before) {
		t.Errorf("a paused container was checked: %+v", h.Log[len(h.Log)-1])
	}
	if got := e.psStatus(id); !strings.HasSuffix(got, "(Paused)") {
		t.Errorf("ps STATUS of a paused container %q", got)
	}
	// By hand: its own status, on which the monitor waits longer.
	if r := e.run("healthcheck", "run", id); r.code != 2 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "is paused") {
		t.Errorf("healthcheck run of a paused container: want exit 2 and one line\n%s", r)
	}
	e.mustRun(0, "unpause", id)
	testutil.WaitFor(t, timeout(10*time.Second), "a check after unpause", func() bool {
		h := e.health(id)
		return h.Log[len(h.Log)-1].Start.After(before)
	})
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// zombieChildren lists the children of pid that have ended unreaped.
func zombieChildren(pid int) []int {
	var out []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			var child int
			if _, err := fmt.Sscan(s, &child); err != nil {
				continue
			}
			if st, ok := testutil.ReadProcStat(child); ok && st.State == 'Z' {
				out = append(out, child)
			}
		}
	}
	return out
}
