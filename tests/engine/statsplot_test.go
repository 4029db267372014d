package engine

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/tests/testutil"
)

// TestStatsRecordPlot: stats --record D --plot FILE samples for D, then
// writes an SVG chart: a panel per metric (the PSI ones on cgroup v2 only),
// a line per container whose values are the samples' (cpu-test's CPU line
// high, a sleeping container's low, its pids 1).
func TestStatsRecordPlot(t *testing.T) {
	e := newEnv(t)
	busy := e.runDetached("--name", "busy", "--network", "none", rootfsDir, "cpu-test")
	idle := e.runDetached("--name", "idle", "--network", "none", rootfsDir, "sleep", "100")
	dir := t.TempDir()
	out := filepath.Join(dir, "usage.svg")
	e.mustRun(0, "stats", "--record", "3s", "--plot", out, "busy", "idle")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := testutil.ReadChart(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var metrics []string
	for _, p := range c.Panels {
		metrics = append(metrics, p.Metric)
	}
	want := []string{"cpu", "memory", "pids"}
	if cgroups.Mode() == 2 {
		want = append(want, "cpu-pressure", "memory-pressure")
	}
	if !slices.Equal(metrics, want) || len(c.Legend) != 2 {
		t.Fatalf("panels %q (want %q), legend %q", metrics, want, c.Legend)
	}
	for _, p := range c.Panels {
		ids := map[string]string{}
		for _, s := range p.Series {
			ids[s.Name] = s.ID
			last := -1.0
			for _, pt := range s.Points {
				if pt[0] < last || pt[0] < 0 || pt[0] > p.Seconds+0.01 || pt[1] < -0.01 || pt[1] > p.Top+0.01 {
					t.Errorf("panel %s, %s: point %v out of order or off the axes (top %v, %v s)", p.Metric, s.Name, pt, p.Top, p.Seconds)
				}
				last = pt[0]
			}
		}
		if ids["busy"] != busy || ids["idle"] != idle {
			t.Errorf("panel %s: lines of %v, want busy and idle", p.Metric, ids)
		}
		// 3 s at one sample each 200 ms; a loaded machine may miss some.
		if n := len(p.Values("idle")); n < 5 || n > 16 {
			t.Errorf("panel %s: %d samples of idle in 3 s", p.Metric, n)
		}
	}
	if p := c.Panel("cpu"); mean(p.Values("busy")) < 20 || slices.Max(p.Values("idle")) > 10 {
		t.Errorf("CPU: busy %v (want about 100), idle %v (want about 0)", p.Values("busy"), p.Values("idle"))
	}
	for _, v := range c.Panel("pids").Values("idle") {
		if math.Abs(v-1) > 0.01 {
			t.Errorf("pids of idle (sleep as its only process): %v", c.Panel("pids").Values("idle"))
			break
		}
	}
	if v := c.Panel("memory").Values("busy"); slices.Min(v) <= 0 {
		t.Errorf("memory of busy: %v", v)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("files beside the chart: %q", names)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// TestStatsRecordBadInput: each mistake is a clear error, exit 125, and
// leaves no file (not even a temporary one) behind.
func TestStatsRecordBadInput(t *testing.T) {
	e := newEnv(t)
	e.runDetached("--name", "s1", "--network", "none", rootfsDir, "sleep", "100")
	dir := t.TempDir()
	out := filepath.Join(dir, "x.svg")
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--plot", out}, "--plot needs --record"},
		{[]string{"--record", "1s"}, "--record needs --plot"},
		{[]string{"--record", "1s", "--plot", ""}, "--record needs --plot"},
		{[]string{"--record", "abc", "--plot", out}, `--record "abc": give a positive duration`},
		{[]string{"--record", "-5s", "--plot", out}, "give a positive duration"},
		{[]string{"--record", "0", "--plot", out}, "give a positive duration"},
		{[]string{"--record", "1s", "--no-stream", "--plot", out}, "cannot be combined with --no-stream"},
		{[]string{"--record", "1s", "--plot", filepath.Join(dir, "missing", "x.svg")}, "no such file or directory"},
		{[]string{"--record", "1s", "--plot", filepath.Join(notDir, "x.svg")}, "not a directory"},
		{[]string{"--record", "1s", "--plot", dir}, "is a directory"},
		{[]string{"--record", "1s", "--plot", out, "s1", "nope"}, "no such container"},
		{[]string{"--record", "300ms", "--plot", out, "-a", "--no-trunc", "--", "nope"}, "no such container"},
	} {
		r := e.run(append([]string{"stats"}, c.args...)...)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) || len(lines(r.stderr)) != 1 {
			t.Errorf("want exit 125 and one line with %q:\n%s", c.want, r)
		}
	}
	// Nothing runs: nothing to chart.
	e.mustRun(0, "stop", "-t", "0", "s1")
	if r := e.run("stats", "--record", "300ms", "--plot", out); r.code != 125 || !strings.Contains(r.stderr, "no running container") {
		t.Errorf("record with no container:\n%s", r)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 || names[0] != notDir {
		t.Errorf("files left: %q", names)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
		t.Errorf("temporary files left: %q", names)
	}
}

// openPty opens a new pty pair with a 120-column window.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 120}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// sparkline is the sparkline of metric in the block of container name of
// a live view's frame ("" if none).
func sparkline(frame, name, metric string) string {
	in := false
	for _, l := range strings.Split(frame, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, name+" "):
			in = true
		case l == "" || !strings.HasPrefix(l, "  "):
			in = false
		case in && strings.HasPrefix(l, "  "+metric+" "):
			// The sparkline is what lies in the block characters.
			return strings.TrimFunc(strings.TrimPrefix(l, "  "+metric+" "), func(r rune) bool { return r < '▁' || r > '█' })
		}
	}
	return ""
}

// TestStatsSparklines: on a terminal the live view draws, below its
// table, a sparkline per container of CPU, memory and pids (and the PSI
// ones on cgroup v2), cpu-test's CPU line high and a sleeping container's
// at the bottom.
func TestStatsSparklines(t *testing.T) {
	e := newEnv(t)
	e.runDetached("--name", "busy", "--network", "none", rootfsDir, "cpu-test")
	e.runDetached("--name", "idle", "--network", "none", rootfsDir, "sleep", "100")
	master, slave := openPty(t)
	cmd := e.command("stats", "busy", "idle")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := &testutil.SyncBuffer{}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, master) // EIO once stats has ended
		close(copied)
	}()
	frame := func() string {
		frames := strings.Split(out.String(), "\033[2J\033[H")
		if len(frames) < 2 {
			return ""
		}
		return frames[len(frames)-2] // the last one written whole
	}
	testutil.WaitFor(t, 15*time.Second, "four refreshes with sparklines", func() bool {
		return len([]rune(sparkline(frame(), "busy", "CPU"))) >= 3
	})
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("stats after SIGINT: %v", err)
	}
	<-copied
	f := frame()
	metrics := []string{"CPU", "MEM", "PIDS"}
	if cgroups.Mode() == 2 {
		metrics = append(metrics, "CPU PSI", "MEM PSI")
	} else if strings.Contains(f, "PSI") {
		t.Errorf("pressure sparklines without PSI (cgroup v1):\n%s", f)
	}
	for _, name := range []string{"busy", "idle"} {
		for _, m := range metrics {
			if sparkline(f, name, m) == "" {
				t.Errorf("no %s sparkline of %s in:\n%s", m, name, f)
			}
		}
	}
	// cpu-test burns a CPU: its last level is well up (from the second
	// sample on; the machine is shared).
	busyCPU := []rune(sparkline(f, "busy", "CPU"))
	if busyCPU[len(busyCPU)-1] < '▃' {
		t.Errorf("busy's CPU sparkline %q ends low", string(busyCPU))
	}
	if idleCPU := sparkline(f, "idle", "CPU"); strings.Trim(idleCPU, "▁") != "" {
		t.Errorf("idle's CPU sparkline %q is not flat at the bottom", idleCPU)
	}
	if idlePids := sparkline(f, "idle", "PIDS"); strings.Trim(idlePids, "█") != "" {
		t.Errorf("idle's pids sparkline %q: its one process is the top of its scale", idlePids)
	}
}
