package dockerfmt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
)

func TestCPUPercent(t *testing.T) {
	t0 := time.Now()
	prev := &engine.StatsSample{Valid: true, CPUNanos: 1e9, SystemNanos: 100e9, OnlineCPUs: 4, Read: t0}
	// Half a CPU over one second: 0.5s of 4 CPU-seconds.
	cur := &engine.StatsSample{Valid: true, CPUNanos: 1.5e9, SystemNanos: 104e9, OnlineCPUs: 4, Read: t0.Add(time.Second),
		MemUsage: 5 << 20, MemLimit: 10 << 20}
	row := NewStatsRow(prev, cur)
	if row.CPUPercent < 49.99 || row.CPUPercent > 50.01 || row.MemPercent != 50 {
		t.Errorf("cpu %.2f%% mem %.2f%%", row.CPUPercent, row.MemPercent)
	}
	// Without the host's counters: over wall time.
	prev.SystemNanos, cur.SystemNanos = 0, 0
	if p := CPUPercent(prev, cur); p < 49.99 || p > 50.01 {
		t.Errorf("wall-time cpu %.2f%%", p)
	}
	// No previous sample, or a counter that went back (a restart): 0.
	if r := NewStatsRow(nil, cur); r.CPUPercent != 0 || r.MemPercent != 50 {
		t.Errorf("first sample: %+v", r)
	}
	if p := CPUPercent(cur, prev); p != 0 {
		t.Errorf("backwards: %.2f", p)
	}
	if r := NewStatsRow(prev, &engine.StatsSample{ID: "x"}); r.CPUPercent != 0 || r.MemPercent != 0 {
		t.Errorf("invalid sample: %+v", r)
	}
}

func TestWriteStatsTable(t *testing.T) {
	var b bytes.Buffer
	rows := []StatsRow{{
		StatsSample: engine.StatsSample{ID: strings.Repeat("a", 64), Name: "web", Valid: true, MemUsage: 1536 * 1024, MemLimit: 10 << 20,
			NetRx: 12345, NetTx: 0, BlockRead: 4096, BlockWrite: 1500000, Pids: 3},
		CPUPercent: 12.345, MemPercent: 15,
	}}
	if err := WriteStatsTable(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID   NAME   CPU %") {
		t.Fatalf("table:\n%s", b.String())
	}
	f := strings.Fields(lines[1])
	want := []string{"aaaaaaaaaaaa", "web", "12.35%", "1.5MiB", "/", "10MiB", "15.00%", "12.3kB", "/", "0B", "4.1kB", "/", "1.5MB", "3"}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Errorf("row %q, want %q", f, want)
	}
}

func TestStatsRows(t *testing.T) {
	t0 := time.Now()
	a0 := &engine.StatsSample{ID: "a", Valid: true, CPUNanos: 1e9, Read: t0}
	a1 := &engine.StatsSample{ID: "a", Valid: true, CPUNanos: 1.25e9, Read: t0.Add(time.Second)}
	b1 := &engine.StatsSample{ID: "b", Valid: true, CPUNanos: 5e9, Read: t0.Add(time.Second)}
	// Each sample is paired with the previous one of its own container;
	// one without a previous sample (b) shows no CPU share yet.
	rows := StatsRows([]*engine.StatsSample{a1, b1}, map[string]*engine.StatsSample{"a": a0})
	if len(rows) != 2 || rows[0].ID != "a" || rows[1].ID != "b" {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].CPUPercent < 24.99 || rows[0].CPUPercent > 25.01 || rows[1].CPUPercent != 0 {
		t.Errorf("cpu %.2f%% %.2f%%", rows[0].CPUPercent, rows[1].CPUPercent)
	}
}

func TestStatsFormat(t *testing.T) {
	rows := []StatsRow{{
		StatsSample: engine.StatsSample{ID: strings.Repeat("b", 64), Name: "db", Ref: "db", Valid: true, MemUsage: 2 << 20, MemLimit: 8 << 20,
			NetRx: 1000, NetTx: 2000, BlockRead: 0, BlockWrite: 4096, Pids: 7},
		CPUPercent: 1.5, MemPercent: 25,
	}, {StatsSample: engine.StatsSample{ID: strings.Repeat("c", 64), Name: "idle"}}}
	write := func(format string, trunc bool) string {
		t.Helper()
		f, err := ParseStatsFormat(format)
		if err != nil {
			t.Fatalf("ParseStatsFormat(%q): %v", format, err)
		}
		var b bytes.Buffer
		if err := WriteStatsFormat(&b, f, rows, trunc); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	// json: Docker's fields, in its order, every value a string; Container
	// is the ref given, else the id.
	want := `{"BlockIO":"0B / 4.1kB","CPUPerc":"1.50%","Container":"db","ID":"bbbbbbbbbbbb","MemPerc":"25.00%",` +
		`"MemUsage":"2MiB / 8MiB","Name":"db","NetIO":"1kB / 2kB","PIDs":"7"}` + "\n" +
		`{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"cccccccccccc","ID":"cccccccccccc","MemPerc":"0.00%",` +
		`"MemUsage":"0B / 0B","Name":"idle","NetIO":"0B / 0B","PIDs":"0"}` + "\n"
	if got := write(" json ", true); got != want {
		t.Errorf("json:\n%s\nwant\n%s", got, want)
	}
	if got := write(`{{.Name}}\t{{.CPUPerc}}\t{{.ID}}`, false); got != "db\t1.50%\t"+rows[0].ID+"\nidle\t0.00%\t"+rows[1].ID+"\n" {
		t.Errorf("template: %q", got)
	}
	got := write(`table {{.Container}}\t{{.MemUsage}}\t{{.PIDs}}`, true)
	if ls := strings.Split(got, "\n"); len(ls) != 4 || strings.Join(strings.Fields(ls[0]), " ") != "CONTAINER MEM USAGE / LIMIT PIDS" ||
		strings.Join(strings.Fields(ls[1]), " ") != "db 2MiB / 8MiB 7" {
		t.Errorf("table:\n%s", got)
	}
	// The default table's columns, in Docker's order.
	if got := write("table {{.ID}}", true); !strings.HasPrefix(got, "CONTAINER ID\n") {
		t.Errorf("table header %q", got)
	}
	var def bytes.Buffer
	if err := WriteStatsTable(&def, rows, true); err != nil {
		t.Fatal(err)
	}
	if got := write("table "+statsTable, true); strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(def.String()), " ") {
		t.Errorf("the default table through its template:\n%s\nwant\n%s", got, def.String())
	}
	// Bad templates are invalid input, refused when parsed.
	for _, f := range []string{"{{.Name", "{{.CPU}}", "table {{.Nope}}", "{{.Name.X}}"} {
		if _, err := ParseStatsFormat(f); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("ParseStatsFormat(%q): %v", f, err)
		}
	}
}
