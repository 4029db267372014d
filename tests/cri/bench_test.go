package cri

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// benchHandlers are the handlers the benchmark compares, sdocker first.
var benchHandlers = []string{"sdocker", "runc"}

// TestBench is the CRI benchmark of bench/cri.sh, skipped unless
// CRI_BENCH=1. On the suite's containerd, with the same images, it times
// on both handlers, interleaved:
//
//   - a. pod start to container running: crictl runp, create, start of one
//     busybox container (CRI_BENCH_RUNS per handler, after
//     CRI_BENCH_WARMUP), each pod removed again untimed;
//   - b. churn: CRI_BENCH_PODS pods of 2 containers each started one after
//     another, then all stopped and removed (stopp, rmp), in
//     CRI_BENCH_ROUNDS rounds per handler; while they all run, the memory
//     (RSS, PSS) of the processes the pods cost besides their containers:
//     the shims, and any other process below them.
//
// The report goes to the test log and to the file CRI_BENCH_REPORT; with
// CRI_BENCH_CRICTL_LOG each crictl command's handler, verb, start and end
// (Unix seconds) are appended to that file.
func TestBench(t *testing.T) {
	if os.Getenv("CRI_BENCH") != "1" {
		t.Skip("the CRI benchmark runs with CRI_BENCH=1 (bench/cri.sh)")
	}
	n := requireNode(t)
	b := &criBench{n: n, dir: t.TempDir()}
	runs, warmup := envInt(t, "CRI_BENCH_RUNS", 20, 1), envInt(t, "CRI_BENCH_WARMUP", 2, 0)
	pods, rounds := envInt(t, "CRI_BENCH_PODS", 30, 1), envInt(t, "CRI_BENCH_ROUNDS", 2, 1)
	t.Cleanup(func() { n.crictl(timeout(5*time.Minute), "rmp", "-a", "-f") })

	starts := map[string][]time.Duration{}
	for i := 0; i < warmup+runs; i++ {
		for _, h := range interleave(benchHandlers, i) {
			p, d := b.startPod(t, h, 1)
			b.removePod(t, p)
			if i >= warmup {
				starts[h] = append(starts[h], d)
			}
		}
	}
	churns := map[string][]churnResult{}
	for r := 0; r < rounds; r++ {
		for _, h := range interleave(benchHandlers, r) {
			churns[h] = append(churns[h], b.churn(t, h, pods))
		}
	}
	report := benchReport(starts, churns, b.verbs, runs, pods)
	t.Logf("CRI benchmark:\n%s", report)
	if path := os.Getenv("CRI_BENCH_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// interleave is handlers in turn order i: reversed every other turn, so
// neither handler always runs right after the other.
func interleave(handlers []string, i int) []string {
	out := append([]string(nil), handlers...)
	if i%2 == 1 {
		for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
			out[l], out[r] = out[r], out[l]
		}
	}
	return out
}

// envInt is the number in the environment variable name (def if unset),
// at least least.
func envInt(t *testing.T, name string, def, least int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < least {
		t.Fatalf("%s=%q: want a number of at least %d", name, s, least)
	}
	return v
}

// criBench makes the benchmark's pods.
type criBench struct {
	n     *criNode
	dir   string
	pods  int                                   // pods made so far, for unique names
	verbs map[string]map[string][]time.Duration // handler -> crictl verb -> times
}

// crictl runs crictl verb args for a pod on handler, fails t unless it
// succeeds, and keeps the time it took.
func (b *criBench) crictl(t *testing.T, handler, verb string, args ...string) string {
	t.Helper()
	t0 := time.Now()
	out := b.n.mustCrictl(t, append([]string{verb}, args...)...)
	if b.verbs == nil {
		b.verbs = map[string]map[string][]time.Duration{}
	}
	if b.verbs[handler] == nil {
		b.verbs[handler] = map[string][]time.Duration{}
	}
	d := time.Since(t0)
	b.verbs[handler][verb] = append(b.verbs[handler][verb], d)
	if log := os.Getenv("CRI_BENCH_CRICTL_LOG"); log != "" {
		appendLine(t, log, fmt.Sprintf("crictl %s %s %.6f %.6f\n", handler, verb,
			float64(t0.UnixNano())/1e9, float64(t0.Add(d).UnixNano())/1e9))
	}
	return out
}

// appendLine appends line to the file at path.
func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// startPod writes the configs of a pod of `containers` busybox containers
// running sleep, then starts it on handler (runp, create and start of each
// container) and returns it with the time the crictl commands took.
func (b *criBench) startPod(t *testing.T, handler string, containers int) (*pod, time.Duration) {
	t.Helper()
	b.pods++
	p := &pod{n: b.n, handler: handler, name: fmt.Sprintf("bench-%s-%d", handler, b.pods)}
	p.dir = filepath.Join(b.dir, p.name)
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.cfgPath = writeJSON(t, filepath.Join(p.dir, "pod.json"), podConfig(p.name, p.dir, b.n.cgroupParent))
	var ctrs []string
	for i := 0; i < containers; i++ {
		name := fmt.Sprintf("c%d", i)
		ctrs = append(ctrs, writeJSON(t, filepath.Join(p.dir, name+".json"), containerConfig(name, []string{"sleep", "1000"})))
	}
	t0 := time.Now()
	p.id = b.crictl(t, handler, "runp", "--runtime", handler, p.cfgPath)
	var ids []string
	for _, c := range ctrs {
		ids = append(ids, b.crictl(t, handler, "create", p.id, c, p.cfgPath))
	}
	for _, id := range ids {
		b.crictl(t, handler, "start", id)
	}
	return p, time.Since(t0)
}

// removePod stops and removes p.
func (b *criBench) removePod(t *testing.T, p *pod) {
	t.Helper()
	b.crictl(t, p.handler, "stopp", p.id)
	b.crictl(t, p.handler, "rmp", p.id)
}

// churnResult is one round of the churn on a handler.
type churnResult struct {
	start, teardown time.Duration
	shims, others   procMem // the shims; other processes below them but no pod's
	containers      procMem // the pods' own processes (pause, sleep)
}

// procMem sums the memory of some processes.
type procMem struct {
	n        int
	rss, pss int // kB
}

func (m *procMem) add(pid int) {
	rss, pss, ok := smapsRollup(pid)
	if ok {
		m.n++
		m.rss += rss
		m.pss += pss
	}
}

// churn starts pods pods of 2 containers on handler one after another,
// records the memory of what they cost, and stops and removes them.
func (b *criBench) churn(t *testing.T, handler string, pods int) churnResult {
	t.Helper()
	var res churnResult
	var ps []*pod
	t0 := time.Now()
	for i := 0; i < pods; i++ {
		p, _ := b.startPod(t, handler, 2)
		ps = append(ps, p)
	}
	res.start = time.Since(t0)
	res.shims, res.others, res.containers = b.podProcesses(t)
	if res.shims.n == 0 {
		t.Fatalf("no shim of %d pods on %s found", pods, handler)
	}
	t0 = time.Now()
	for _, p := range ps {
		b.removePod(t, p)
	}
	res.teardown = time.Since(t0)
	return res
}

// podProcesses sums the memory of the shims of the node, of the processes
// below them in the pods' cgroups (the pods' own) and of those below them
// elsewhere (what the runtime leaves per pod).
func (b *criBench) podProcesses(t *testing.T) (shims, others, containers procMem) {
	t.Helper()
	children := map[int][]int{}
	var shimPids []int
	for _, pid := range testutil.Pids() {
		st, ok := testutil.ReadProcStat(pid)
		if !ok {
			continue
		}
		children[st.PPid] = append(children[st.PPid], pid)
		argv := testutil.Argv(pid)
		if len(argv) > 0 && strings.Contains(argv[0], "containerd-shim") && strings.Contains(strings.Join(argv, " "), b.n.sock) {
			shimPids = append(shimPids, pid)
		}
	}
	for _, pid := range shimPids {
		shims.add(pid)
		stack := append([]int(nil), children[pid]...)
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			stack = append(stack, children[c]...)
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c))
			if strings.Contains(string(cg), b.n.cgroupParent+"/") {
				containers.add(c)
			} else {
				others.add(c)
				t.Logf("process %d below shim %d outside the pods' cgroups: %q", c, pid, testutil.Argv(c))
			}
		}
	}
	return shims, others, containers
}

// smapsRollup is the RSS and PSS of pid in kB.
func smapsRollup(pid int) (rss, pss int, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fl[1])
		switch fl[0] {
		case "Rss:":
			rss, ok = v, true
		case "Pss:":
			pss = v
		}
	}
	return rss, pss, ok
}

// benchReport is the benchmark's figures, side by side.
func benchReport(starts map[string][]time.Duration, churns map[string][]churnResult, verbs map[string]map[string][]time.Duration, runs, pods int) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "containerd %s, %s UTC, load average %s\n\n", containerdVersion(),
		time.Now().UTC().Format("2006-01-02 15:04"), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(&b, "a. pod start to container running (crictl runp + create + start), %d runs each\n", runs)
	fmt.Fprintf(&b, "| handler | mean ms | median ms | min ms |\n|---|---|---|---|\n")
	mean, low := map[string]float64{}, map[string]float64{}
	for _, h := range benchHandlers {
		ds := starts[h]
		mean[h], low[h] = meanMs(ds), minMs(ds)
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f |\n", h, mean[h], medianMs(ds), low[h])
	}
	fmt.Fprintf(&b, "sdocker/runc: mean %.3f, min %.3f (target <= 0.8)\n\n",
		mean["sdocker"]/mean["runc"], low["sdocker"]/low["runc"])

	fmt.Fprintf(&b, "b. churn: %d pods x 2 containers started, then stopped and removed\n", pods)
	b.WriteString("| handler | round | start s | teardown s | total s | shims | shim RSS MiB | shim PSS MiB | other processes | pods' own processes PSS MiB |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	total := map[string]float64{}
	for _, h := range benchHandlers {
		for i, c := range churns[h] {
			s := (c.start + c.teardown).Seconds()
			total[h] += s
			fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %d | %.1f (%.2f each) | %.1f (%.2f each) | %d (PSS %.1f MiB) | %.1f (%d processes) |\n",
				h, i+1, c.start.Seconds(), c.teardown.Seconds(), s, c.shims.n,
				mib(c.shims.rss), mib(c.shims.rss)/float64(c.shims.n), mib(c.shims.pss), mib(c.shims.pss)/float64(c.shims.n),
				c.others.n, mib(c.others.pss), mib(c.containers.pss), c.containers.n)
		}
	}
	fmt.Fprintf(&b, "sdocker/runc: total wall time %.3f (target <= 0.8)\n\n", total["sdocker"]/total["runc"])

	b.WriteString("each crictl command, over a and b (mean ms)\n| command | sdocker | runc | sdocker - runc |\n|---|---|---|---|\n")
	sum := map[string]time.Duration{}
	for _, verb := range []string{"runp", "create", "start", "stopp", "rmp"} {
		sd, rc := meanMs(verbs["sdocker"][verb]), meanMs(verbs["runc"][verb])
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %+.1f |\n", verb, sd, rc, sd-rc)
		for _, h := range benchHandlers {
			for _, d := range verbs[h][verb] {
				sum[h] += d
			}
		}
	}
	fmt.Fprintf(&b, "all crictl commands: sdocker %.2f s, runc %.2f s\n", sum["sdocker"].Seconds(), sum["runc"].Seconds())
	return b.String()
}

func mib(kb int) float64 { return float64(kb) / 1024 }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func meanMs(ds []time.Duration) float64 {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return ms(s) / float64(len(ds))
}

func minMs(ds []time.Duration) float64 {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return ms(m)
}

func medianMs(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return ms(s[len(s)/2])
}
