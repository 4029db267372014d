package engine

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// statsRow is one line of the stats table.
type statsRow struct {
	id, name, cpu, memUsage, memLimit, memPct, netIO, blockIO, pids string
}

var statsLine = regexp.MustCompile(`^([0-9a-f]{12,64})\s+(\S+)\s+(\d+\.\d\d%)\s+(\S+) / (\S+)\s+(\d+\.\d\d%)\s+(\S+ / \S+)\s+(\S+ / \S+)\s+(\d+)$`)

func parseStats(t *testing.T, out string) []statsRow {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 || strings.Join(strings.Fields(ls[0]), " ") != "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS" {
		t.Fatalf("stats: no header in %q", out)
	}
	var rows []statsRow
	for _, l := range ls[1:] {
		m := statsLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("stats: cannot parse %q", l)
		}
		rows = append(rows, statsRow{m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]})
	}
	return rows
}

func TestStatsNoStream(t *testing.T) {
	e := newEnv(t)
	busy := e.runDetached("--name", "busy", "--memory", "64m", rootfsDir, "cpu-test")
	// No network: on a bridge it would see its neighbours' broadcasts.
	idle := e.runDetached("--name", "idle", "--network", "none", rootfsDir, "sh", "-c", "sleep 100; echo")
	done := e.runDetached("--name", "done", rootfsDir, "true")
	e.waitStatus(done, "exited", 10*time.Second)

	r := e.mustRun(0, "stats", "--no-stream")
	rows := parseStats(t, r.stdout)
	byName := map[string]statsRow{}
	for _, row := range rows {
		byName[row.name] = row
	}
	if len(rows) != 2 || byName["busy"].id != busy[:12] || byName["idle"].id != idle[:12] {
		t.Fatalf("stats --no-stream lists %d containers, want busy and idle:\n%s", len(rows), r.stdout)
	}
	b := byName["busy"]
	if cpu, _ := strconv.ParseFloat(strings.TrimSuffix(b.cpu, "%"), 64); cpu < 20 {
		t.Errorf("busy: CPU %s, want about 100%% (cpu-test burns one CPU)\n%s", b.cpu, r.stdout)
	}
	// PIDS counts tasks, as pids.current does: cpu-test (Go) has threads.
	if n, _ := strconv.Atoi(b.pids); b.memLimit != "64MiB" || b.memUsage == "0B" || n < 1 {
		t.Errorf("busy: %+v, want a 64MiB limit, some usage, pids\n%s", b, r.stdout)
	}
	i := byName["idle"]
	if i.memLimit == "64MiB" || i.memLimit == "0B" || i.pids != "2" || i.netIO != "0B / 0B" {
		t.Errorf("idle: %+v, want the host's memory as limit, 2 pids, no network I/O\n%s", i, r.stdout)
	}
	if cpu, _ := strconv.ParseFloat(strings.TrimSuffix(i.cpu, "%"), 64); cpu > 10 {
		t.Errorf("idle: CPU %s", i.cpu)
	}

	// Named containers; a stopped one shows zeros; --no-trunc ids.
	r = e.mustRun(0, "stats", "--no-stream", "--no-trunc", "busy", done[:8])
	rows = parseStats(t, r.stdout)
	if len(rows) != 2 || rows[0].id != busy || rows[1].id != done {
		t.Fatalf("stats busy done:\n%s", r.stdout)
	}
	if d := rows[1]; d.cpu != "0.00%" || d.memUsage != "0B" || d.pids != "0" {
		t.Errorf("stopped container: %+v", d)
	}
	if r := e.mustRun(0, "stats", "--no-stream", "-a"); len(parseStats(t, r.stdout)) != 3 {
		t.Errorf("stats -a:\n%s", r.stdout)
	}
	if r := e.run("stats", "--no-stream", "busy", "nope"); r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("stats of a missing container:\n%s", r)
	}
}

// streamStats runs a live `stats ARGS...` until its output holds mark
// three times, then interrupts it, which must end it without an error;
// it returns the output.
func (e *env) streamStats(mark string, args ...string) string {
	e.t.Helper()
	cmd := e.command(append([]string{"stats"}, args...)...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	testutil.WaitFor(e.t, 10*time.Second, "three refreshes", func() bool { return strings.Count(out.String(), mark) >= 3 })
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		e.t.Errorf("stats %q after SIGINT: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// TestStatsStream: without --no-stream, a table a second until
// interrupted; no screen clearing when stdout is not a terminal.
func TestStatsStream(t *testing.T) {
	e := newEnv(t)
	e.runDetached("--name", "s1", rootfsDir, "sleep", "100")
	out := e.streamStats("CONTAINER ID", "s1")
	if strings.Contains(out, "\033[") {
		t.Errorf("stats cleared the screen of a pipe: %q", out)
	}
	for _, l := range lines(out) {
		if !strings.HasPrefix(l, "CONTAINER ID") && !strings.Contains(l, " s1 ") {
			t.Errorf("stats s1: unexpected line %q", l)
		}
	}
}

// TestStatsFormat: stats --format json, table TEMPLATE and a bare
// template, once and in the live stream; a bad template is refused.
func TestStatsFormat(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--name", "fmt1", "--memory", "32m", "--network", "none", rootfsDir, "sleep", "100")

	// json: one object per container, Docker's field names, all strings.
	r := e.mustRun(0, "stats", "--no-stream", "--format", "json", "fmt1")
	ls := lines(r.stdout)
	if len(ls) != 1 {
		t.Fatalf("stats --format json: want one line:\n%s", r.stdout)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &js); err != nil {
		t.Fatalf("stats --format json: %v: %s", err, ls[0])
	}
	var keys []string
	for k, v := range js {
		keys = append(keys, k)
		if _, ok := v.(string); !ok {
			t.Errorf("json field %s is %T, want a string", k, v)
		}
	}
	sort.Strings(keys)
	if got := strings.Join(keys, " "); got != "BlockIO CPUPerc Container ID MemPerc MemUsage Name NetIO PIDs" {
		t.Errorf("json fields %s", got)
	}
	if js["Name"] != "fmt1" || js["Container"] != "fmt1" || js["ID"] != id[:12] || js["PIDs"] != "1" ||
		!strings.HasSuffix(js["MemUsage"].(string), " / 32MiB") || js["NetIO"] != "0B / 0B" ||
		!regexp.MustCompile(`^\d+\.\d\d%$`).MatchString(js["CPUPerc"].(string)) {
		t.Errorf("stats json: %s", ls[0])
	}
	// Without CONTAINER, Container is the id: in full with --no-trunc.
	r = e.mustRun(0, "stats", "--no-stream", "--no-trunc", "--format", "{{.Container}} {{.ID}} {{.Name}} {{.PIDs}}")
	if got := strings.TrimSpace(r.stdout); got != id+" "+id+" fmt1 1" {
		t.Errorf("stats bare template: %q", got)
	}
	// A table of the template's columns, with their titles.
	r = e.mustRun(0, "stats", "--no-stream", "--format", `table {{.Name}}\t{{.MemUsage}}\t{{.PIDs}}`, id[:8])
	ls = lines(r.stdout)
	if len(ls) != 2 || strings.Join(strings.Fields(ls[0]), " ") != "NAME MEM USAGE / LIMIT PIDS" ||
		!regexp.MustCompile(`^fmt1\s+\S+ / 32MiB\s+1$`).MatchString(ls[1]) {
		t.Errorf("stats table template:\n%s", r.stdout)
	}
	// "table" alone is the default table.
	if rows := parseStats(t, e.mustRun(0, "stats", "--no-stream", "--format", "table").stdout); len(rows) != 1 || rows[0].name != "fmt1" {
		t.Errorf("stats --format table: %+v", rows)
	}

	// The live stream: a line per container at each refresh.
	for _, l := range lines(e.streamStats("fmt1=1\n", "--format", "{{.Name}}={{.PIDs}}", "fmt1")) {
		if l != "fmt1=1" {
			t.Errorf("stats --format stream: unexpected line %q", l)
		}
	}

	// Bad templates: refused at once, before any sampling.
	for _, f := range []string{"{{.Name", "{{.Nope}}", "table {{.CPU}}", `{{template "x"}}`} {
		r := e.run("stats", "--no-stream", "--format", f, "fmt1")
		if r.code != 125 || r.stdout != "" || !strings.Contains(r.stderr, "template") || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("stats --format %q:\n%s", f, r)
		}
	}
	if r := e.run("stats", "--format", "json", "--record", "2s", "--plot", t.TempDir()+"/x.svg"); r.code != 125 || !strings.Contains(r.stderr, "--format") {
		t.Errorf("stats --record --format:\n%s", r)
	}
}

func TestTop(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--name", "topme", rootfsDir, "sh", "-c", "sleep 100; echo")
	rec := e.record(id)
	var r result
	testutil.WaitFor(t, 10*time.Second, "the container's sleep", func() bool {
		r = e.mustRun(0, "top", "topme")
		return len(lines(r.stdout)) >= 3 && strings.Contains(r.stdout, " sleep 100\n")
	})
	ls := lines(r.stdout)
	if len(ls) != 3 || !strings.Contains(ls[0], "PID") || !strings.Contains(ls[0], "CMD") ||
		!strings.HasSuffix(ls[1], " sleep 100") && !strings.HasSuffix(ls[2], " sleep 100") {
		t.Fatalf("top (ps -ef): want a header and 2 processes:\n%s", r.stdout)
	}
	var pids []string
	for _, l := range ls[1:] {
		pids = append(pids, strings.Fields(l)[1])
	}
	if pids[0] != strconv.Itoa(rec.Pid) && pids[1] != strconv.Itoa(rec.Pid) {
		t.Errorf("top does not list the init %d:\n%s", rec.Pid, r.stdout)
	}

	r = e.mustRun(0, "top", id[:12], "-o", "pid,comm")
	ls = lines(r.stdout)
	if len(ls) != 3 || strings.Join(strings.Fields(ls[0]), " ") != "PID COMMAND" {
		t.Fatalf("top -o pid,comm:\n%s", r.stdout)
	}
	var comms []string
	for _, l := range ls[1:] {
		comms = append(comms, strings.Fields(l)[1])
	}
	if strings.Join(comms, " ") != "sh sleep" && strings.Join(comms, " ") != "sleep sh" {
		t.Errorf("top -o pid,comm: %q", comms)
	}

	if r := e.run("top", "topme", "-o", "comm"); r.code != 125 || !strings.Contains(r.stderr, "PID column") {
		t.Errorf("top without a PID column:\n%s", r)
	}
	if r := e.run("top", "topme", "--no-such-ps-option"); r.code != 125 || !strings.Contains(r.stderr, "run ps") {
		t.Errorf("top with a bad ps option:\n%s", r)
	}
	e.mustRun(0, "stop", "-t", "0", "topme")
	if r := e.run("top", "topme"); r.code != 125 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("top of a stopped container:\n%s", r)
	}
	if r := e.run("top", "nope"); r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("top of a missing container:\n%s", r)
	}
}
