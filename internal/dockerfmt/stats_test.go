package dockerfmt

import (
	"bytes"
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
