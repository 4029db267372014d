package dockerfmt

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/ids"
)

// StatsPoint is what the history of `stats` keeps of one refresh of one
// container.
type StatsPoint struct {
	At    time.Time
	Valid bool // false while the container did not run
	CPU   float64
	Mem   float64 // bytes
	Pids  float64
	// CPUPressure and MemPressure (percent) are set with HasPressure.
	HasPressure              bool
	CPUPressure, MemPressure float64
}

// StatsSeries is the history of one container.
type StatsSeries struct {
	ID, Name string
	Points   []StatsPoint
}

// StatsHistory keeps the rows of successive refreshes of `stats` by
// container, in the order containers first showed; with Limit, only the
// last Limit points of each.
type StatsHistory struct {
	Limit  int
	Series []*StatsSeries
	byID   map[string]*StatsSeries
}

// Add appends a refresh.
func (h *StatsHistory) Add(rows []StatsRow) {
	if h.byID == nil {
		h.byID = map[string]*StatsSeries{}
	}
	for _, r := range rows {
		s := h.byID[r.ID]
		if s == nil {
			s = &StatsSeries{ID: r.ID, Name: r.Name}
			h.byID[r.ID] = s
			h.Series = append(h.Series, s)
		}
		s.Name = r.Name
		s.Points = append(s.Points, StatsPoint{
			At: r.Read, Valid: r.Valid, CPU: r.CPUPercent, Mem: float64(r.MemUsage), Pids: float64(r.Pids),
			HasPressure: r.HasPressure, CPUPressure: r.CPUPressurePct, MemPressure: r.MemPressurePct,
		})
		if h.Limit > 0 && len(s.Points) > h.Limit {
			s.Points = s.Points[len(s.Points)-h.Limit:]
		}
	}
}

// statsMetric is one quantity that the sparklines and the chart draw.
type statsMetric struct {
	Key, Title, Short string
	value             func(StatsPoint) (float64, bool)
	// minScale is the least top of the scale (100 for CPU %: one CPU),
	// so that a near-idle container does not fill its line with noise.
	minScale float64
	// unit is what the chart's scale is a round number of (MiB for memory).
	unit   float64
	format func(float64) string
	// integer: a count, whose chart has whole ticks.
	integer bool
	// pressure: drawn only when some point has PSI figures (cgroup v2).
	pressure bool
}

func percent(v float64) string { return fmt.Sprintf("%.1f%%", v) }

var statsMetrics = []statsMetric{
	{Key: "cpu", Title: "CPU %", Short: "CPU", minScale: 100, unit: 1, format: percent,
		value: func(p StatsPoint) (float64, bool) { return p.CPU, p.Valid }},
	{Key: "memory", Title: "Memory usage", Short: "MEM", minScale: 1 << 20, unit: 1 << 20, format: func(v float64) string { return BytesSize(v) },
		value: func(p StatsPoint) (float64, bool) { return p.Mem, p.Valid }},
	{Key: "pids", Title: "PIDs", Short: "PIDS", minScale: 1, unit: 1, integer: true, format: func(v float64) string { return fmt.Sprintf("%g", v) },
		value: func(p StatsPoint) (float64, bool) { return p.Pids, p.Valid }},
	{Key: "cpu-pressure", Title: "CPU pressure % (PSI some)", Short: "CPU PSI", minScale: 10, unit: 1, format: percent, pressure: true,
		value: func(p StatsPoint) (float64, bool) { return p.CPUPressure, p.Valid && p.HasPressure }},
	{Key: "memory-pressure", Title: "Memory pressure % (PSI some)", Short: "MEM PSI", minScale: 10, unit: 1, format: percent, pressure: true,
		value: func(p StatsPoint) (float64, bool) { return p.MemPressure, p.Valid && p.HasPressure }},
}

// metrics are the metrics to draw for h: the pressure ones only when a
// point has them.
func (h *StatsHistory) metrics() []statsMetric {
	psi := false
	for _, s := range h.Series {
		for _, p := range s.Points {
			psi = psi || (p.Valid && p.HasPressure)
		}
	}
	var out []statsMetric
	for _, m := range statsMetrics {
		if !m.pressure || psi {
			out = append(out, m)
		}
	}
	return out
}

// scale is the top of m's scale over the given series: their largest
// value, at least m.minScale.
func (m statsMetric) scale(series ...*StatsSeries) float64 {
	top := m.minScale
	for _, s := range series {
		for _, p := range s.Points {
			if v, ok := m.value(p); ok && !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	return top
}

// sparkBlocks are the eight levels of a sparkline.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values, one character each, scaled from 0 to top; an
// absent value (ok false) is a space.
func Sparkline(values []float64, ok []bool, top float64) string {
	var b strings.Builder
	for i, v := range values {
		if !ok[i] || math.IsNaN(v) {
			b.WriteByte(' ')
			continue
		}
		level := 0
		if top > 0 {
			level = int(math.Round(v / top * float64(len(sparkBlocks)-1)))
		}
		b.WriteRune(sparkBlocks[max(0, min(level, len(sparkBlocks)-1))])
	}
	return b.String()
}

// WriteSparklines writes, for each container of rows, a sparkline of each
// metric over h's points (the last width), right-aligned, with the last
// value and the top of the scale.
func (h *StatsHistory) WriteSparklines(w io.Writer, rows []StatsRow, width int, trunc bool) error {
	metrics := h.metrics()
	var b strings.Builder
	for _, r := range rows {
		s := h.byID[r.ID]
		if s == nil {
			continue
		}
		pts := s.Points
		if len(pts) > width {
			pts = pts[len(pts)-width:]
		}
		id := r.ID
		if trunc {
			id = ids.ShortID(id)
		}
		fmt.Fprintf(&b, "\n%s %s\n", r.Name, id)
		for _, m := range metrics {
			values, ok := make([]float64, len(pts)), make([]bool, len(pts))
			for i, p := range pts {
				values[i], ok[i] = m.value(p)
			}
			top := m.scale(&StatsSeries{Points: pts})
			line := strings.Repeat(" ", width-len(pts)) + Sparkline(values, ok, top)
			last := "-"
			if n := len(pts); n > 0 && ok[n-1] {
				last = m.format(values[n-1])
			}
			fmt.Fprintf(&b, "  %-8s %s %9s  (top %s)\n", m.Short, line, last, m.format(top))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
