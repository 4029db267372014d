package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSizes(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0B", 999: "999B", 1000: "1kB", 12345: "12.3kB", 1500000: "1.5MB", 2.5e9: "2.5GB",
	} {
		if got := HumanSize(v); got != want {
			t.Errorf("HumanSize(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{
		0: "0B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB", 10 << 20: "10MiB", 1.5 * (1 << 20): "1.5MiB",
		8e9: "7.451GiB",
	} {
		if got := BytesSize(v); got != want {
			t.Errorf("BytesSize(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0
  eth0:   1200      10    0    0    0     0          0         0      800       8    0    0    0     0       0          0
 veth1:     34       1    0    0    0     0          0         0       66       1    0    0    0     0       0          0
`
	rx, tx := ParseNetDev(strings.NewReader(dev))
	if rx != 1234 || tx != 866 {
		t.Errorf("rx %d tx %d, want 1234 866", rx, tx)
	}
}

func TestParseProcStat(t *testing.T) {
	const stat = `cpu  100 0 50 800 20 5 25 7 0 0
cpu0 50 0 25 400 10 2 13 3 0 0
cpu1 50 0 25 400 10 3 12 4 0 0
intr 12345
ctxt 999
`
	ns, cpus, err := parseProcStat(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	// user..softirq = 1000 ticks of 10ms.
	if ns != 10*uint64(time.Second) || cpus != 2 {
		t.Errorf("got %d ns, %d cpus", ns, cpus)
	}
}

func TestParseMemTotal(t *testing.T) {
	if got := parseMemTotal("MemTotal:       16318604 kB\nMemFree: 1 kB\n"); got != 16318604*1024 {
		t.Errorf("MemTotal %d", got)
	}
	if got := parseMemTotal("nothing"); got != 0 {
		t.Errorf("no MemTotal: %d", got)
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Now()
	prev := &StatsSample{Valid: true, CPUNanos: 1e9, SystemNanos: 100e9, OnlineCPUs: 4, Read: t0}
	// Half a CPU over one second: 0.5s of 4 CPU-seconds.
	cur := &StatsSample{Valid: true, CPUNanos: 1.5e9, SystemNanos: 104e9, OnlineCPUs: 4, Read: t0.Add(time.Second),
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
	if r := NewStatsRow(prev, &StatsSample{ID: "x"}); r.CPUPercent != 0 || r.MemPercent != 0 {
		t.Errorf("invalid sample: %+v", r)
	}
}

func TestWriteStatsTable(t *testing.T) {
	var b bytes.Buffer
	rows := []StatsRow{{
		StatsSample: StatsSample{ID: strings.Repeat("a", 64), Name: "web", Valid: true, MemUsage: 1536 * 1024, MemLimit: 10 << 20,
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
