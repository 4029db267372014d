package dockerfmt

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/tests/testutil"
)

func TestSparkline(t *testing.T) {
	got := Sparkline([]float64{0, 25, 50, 100, 200, 7, math.NaN()}, []bool{true, true, true, true, true, false, true}, 100)
	if want := "▁▃▅██  "; got != want {
		t.Errorf("Sparkline = %q, want %q", got, want)
	}
	if got := Sparkline([]float64{0, 0}, []bool{true, true}, 0); got != "▁▁" {
		t.Errorf("zero scale: %q", got)
	}
}

func TestPressurePercents(t *testing.T) {
	t0 := time.Now()
	prev := &engine.StatsSample{ID: "a", Valid: true, Read: t0, HasPressure: true, CPUPressure: 1000, MemPressure: 50}
	cur := &engine.StatsSample{ID: "a", Valid: true, Read: t0.Add(time.Second), HasPressure: true, CPUPressure: 251000, MemPressure: 50}
	r := NewStatsRow(prev, cur)
	if !r.HasPressure || math.Abs(r.CPUPressurePct-25) > 0.01 || r.MemPressurePct != 0 {
		t.Errorf("pressure: %+v", r)
	}
	// A counter that went back (a restart), more than the wall time, or
	// no PSI on one side.
	cur.MemPressure, cur.CPUPressure = 10, 5_000_000
	if r := NewStatsRow(prev, cur); r.MemPressurePct != 0 || r.CPUPressurePct != 100 {
		t.Errorf("bounds: %+v", r)
	}
	prev.HasPressure = false
	if r := NewStatsRow(prev, cur); r.HasPressure {
		t.Errorf("without PSI on the previous sample: %+v", r)
	}
}

// history makes a history from rows of CPU %, memory and pids per
// container, a second apart; a negative CPU value is a sample of a
// container that did not run.
func history(t0 time.Time, limit int, cpu map[string][]float64) *StatsHistory {
	h := &StatsHistory{Limit: limit}
	n := 0
	for _, v := range cpu {
		n = max(n, len(v))
	}
	for i := 0; i < n; i++ {
		var rows []StatsRow
		for _, name := range []string{"busy", "idle"} {
			v, ok := cpu[name]
			if !ok {
				continue
			}
			r := StatsRow{StatsSample: engine.StatsSample{ID: strings.Repeat(name[:1], 64), Name: name, Read: t0.Add(time.Duration(i+1) * time.Second)}}
			if v[i] >= 0 {
				r.Valid, r.CPUPercent, r.MemUsage, r.Pids = true, v[i], uint64(i+1)<<20, uint64(i+2)
			}
			rows = append(rows, r)
		}
		h.Add(rows)
	}
	return h
}

func TestStatsHistoryLimitAndSparklines(t *testing.T) {
	t0 := time.Now()
	h := history(t0, 3, map[string][]float64{"busy": {10, 20, 100, 100}, "idle": {0, -1, 0, 0}})
	if len(h.Series) != 2 || len(h.Series[0].Points) != 3 || h.Series[0].Points[0].CPU != 20 {
		t.Fatalf("history kept %+v", h.Series)
	}
	var b bytes.Buffer
	rows := []StatsRow{{StatsSample: engine.StatsSample{ID: h.Series[0].ID, Name: "busy"}}, {StatsSample: engine.StatsSample{ID: h.Series[1].ID, Name: "idle"}}}
	if err := h.WriteSparklines(&b, rows, 5, true); err != nil {
		t.Fatal(err)
	}
	want := `
busy bbbbbbbbbbbb
  CPU        ▂██    100.0%  (top 100.0%)
  MEM        ▅▆█      4MiB  (top 4MiB)
  PIDS       ▅▇█         5  (top 5)

idle iiiiiiiiiiii
  CPU         ▁▁      0.0%  (top 100.0%)
  MEM         ▆█      4MiB  (top 4MiB)
  PIDS        ▇█         5  (top 5)
`
	if b.String() != want {
		t.Errorf("sparklines:\n%s\nwant:\n%s", b.String(), want)
	}
	// No PSI, no pressure lines.
	if strings.Contains(b.String(), "PSI") {
		t.Errorf("pressure lines without PSI")
	}
}

// TestWriteStatsSVG: the chart parses as SVG, has a panel per metric with
// axes, a line per container (two for one with a gap), and its points
// give back the values and times of the samples.
func TestWriteStatsSVG(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cpu := map[string][]float64{"busy": {90, 101, 99, 100, 98}, "idle": {0.5, 0, -1, 0, 0.25}}
	h := history(t0, 0, cpu)
	h.Series[1].Name = `idle <"&'>`
	var b bytes.Buffer
	if err := WriteStatsSVG(&b, h, t0, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := testutil.ReadChart(b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	var metrics []string
	for _, p := range c.Panels {
		metrics = append(metrics, p.Metric)
	}
	if strings.Join(metrics, " ") != "cpu memory pids" || len(c.Legend) != 2 || !strings.HasPrefix(c.Legend[1], `idle <"&'>`) {
		t.Fatalf("panels %q, legend %q", metrics, c.Legend)
	}
	p := c.Panel("cpu")
	if p.Top != 120 || p.Seconds != 5 {
		t.Errorf("cpu panel: top %v over %v s, want 120 over 5", p.Top, p.Seconds)
	}
	if len(p.Series) != 3 {
		t.Fatalf("cpu panel has %d lines, want 3 (idle's with a gap)", len(p.Series))
	}
	for _, s := range p.Series {
		want := cpu["busy"]
		if s.Name != "busy" {
			want = cpu["idle"]
		}
		for _, pt := range s.Points {
			i := int(math.Round(pt[0])) - 1
			if math.Abs(pt[0]-float64(i+1)) > 0.01 || i < 0 || i >= len(want) || math.Abs(pt[1]-want[i]) > 0.01 {
				t.Errorf("%s: point %v, want at %d s the value %v", s.Name, pt, i+1, want)
			}
		}
	}
	if v := c.Panel("memory").Values("busy"); len(v) != 5 || math.Abs(v[4]-5<<20) > 1<<10 {
		t.Errorf("busy's memory %v, want 5 MiB last", v)
	}
	if pp := c.Panel("pids"); pp.Top != 8 || strings.Join(pp.YTicks, " ") != "0 2 4 6 8" {
		t.Errorf("pids panel: top %v, ticks %q", pp.Top, pp.YTicks)
	}

	// With PSI, two panels more.
	h.Series[0].Points[2].HasPressure, h.Series[0].Points[2].CPUPressure = true, 42
	b.Reset()
	if err := WriteStatsSVG(&b, h, t0, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if c, err = testutil.ReadChart(b.Bytes()); err != nil || len(c.Panels) != 5 {
		t.Fatalf("with PSI: %v, %d panels", err, len(c.Panels))
	}
	// (A line of one point is drawn as that point twice.)
	if v := c.Panel("cpu-pressure").Values("busy"); len(v) != 2 || math.Abs(v[0]-42) > 0.01 || v[1] != v[0] {
		t.Errorf("cpu pressure %v, want 42 (twice)", v)
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 1: 1, 101: 120, 0.3: 0.3, 7: 8, 9: 10, 1234: 1500, math.NaN(): 1} {
		if got := niceCeil(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}
