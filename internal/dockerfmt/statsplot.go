package dockerfmt

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/ids"
)

// The chart's geometry, in SVG user units.
const (
	plotWidth   = 960
	plotLeft    = 90 // room for the y labels
	plotRight   = 30
	plotTop     = 70 // the title and the legend
	panelHeight = 190
	panelTitle  = 26 // above a panel's plot area
	panelBottom = 44 // below it: the x labels and the axis name
)

// seriesColors are the lines' colours, one per container in turn.
var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// WriteStatsSVG writes h (recorded from start, for about d) as an SVG
// chart: one panel per metric (CPU %, memory, pids, and with cgroup v2's
// PSI the CPU and memory pressure), a line per container, with axes,
// ticks and labels. Each panel says in data- attributes where its value
// 0 and the top of its scale lie (data-y0, data-y1, data-top) and where
// its time line starts and ends (data-x0, data-x1, data-seconds); each
// line names its container (data-id, data-name). A container that did not
// run for a while has a gap in its line.
func WriteStatsSVG(w io.Writer, h *StatsHistory, start time.Time, d time.Duration) error {
	seconds := d.Seconds()
	for _, s := range h.Series {
		for _, p := range s.Points {
			seconds = max(seconds, p.At.Sub(start).Seconds())
		}
	}
	if seconds <= 0 {
		seconds = 1
	}
	metrics := h.metrics()
	height := plotTop + len(metrics)*panelHeight + 10
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="white"/>
<text class="title" x="%d" y="22" font-size="16" font-weight="bold">%s</text>
`, plotWidth, height, plotWidth, height, plotLeft, esc(fmt.Sprintf("sdocker stats: %s from %s", HumanDuration(time.Duration(seconds*float64(time.Second))), start.UTC().Format(time.RFC3339))))
	writeLegend(&b, h)
	for i, m := range metrics {
		writePanel(&b, h, m, plotTop+i*panelHeight, start, seconds)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeLegend writes a colour swatch and the name of each container.
func writeLegend(b *bytes.Buffer, h *StatsHistory) {
	b.WriteString(`<g class="legend">` + "\n")
	x := plotLeft
	for i, s := range h.Series {
		label := s.Name + " (" + ids.ShortID(s.ID) + ")"
		fmt.Fprintf(b, `<rect x="%d" y="36" width="14" height="4" fill="%s"/><text x="%d" y="42">%s</text>`+"\n",
			x, seriesColors[i%len(seriesColors)], x+18, esc(label))
		x += 18 + 7*len(label) + 20
	}
	b.WriteString("</g>\n")
}

// writePanel writes the panel of metric m at top.
func writePanel(b *bytes.Buffer, h *StatsHistory, m statsMetric, top int, start time.Time, seconds float64) {
	ymax := niceCeil(m.scale(h.Series...)/m.unit) * m.unit
	if m.integer {
		ymax = math.Ceil(m.scale(h.Series...)/4) * 4 // whole ticks
	}
	x0, x1 := float64(plotLeft), float64(plotWidth-plotRight)
	y1, y0 := float64(top+panelTitle), float64(top+panelHeight-panelBottom)
	fmt.Fprintf(b, `<g class="panel" id="panel-%s" data-metric="%s" data-top="%s" data-x0="%s" data-x1="%s" data-y0="%s" data-y1="%s" data-seconds="%s">`+"\n",
		m.Key, m.Key, num(ymax), num(x0), num(x1), num(y0), num(y1), num(seconds))
	fmt.Fprintf(b, `<text class="panel-title" x="%s" y="%d" font-weight="bold">%s</text>`+"\n", num(x0), top+panelTitle-8, esc(m.Title))
	// The y ticks: 0, a quarter of the top, ... the top.
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		y := y0 - (y0-y1)*float64(i)/4
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", num(x0), num(y), num(x1), num(y))
		fmt.Fprintf(b, `<text class="ytick" x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(x0-6), num(y+4), esc(m.format(v)))
	}
	step := niceCeil(seconds / 6)
	for t := 0.0; t <= seconds+1e-9; t += step {
		x := x0 + (x1-x0)*t/seconds
		fmt.Fprintf(b, `<line class="xtick" x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(x), num(y0), num(x), num(y0+4))
		fmt.Fprintf(b, `<text class="xtick" x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(x), num(y0+16), num(t))
	}
	fmt.Fprintf(b, `<line class="axis x-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(x0), num(y0), num(x1), num(y0))
	fmt.Fprintf(b, `<line class="axis y-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(x0), num(y0), num(x0), num(y1))
	fmt.Fprintf(b, `<text class="axis-label" x="%s" y="%s" text-anchor="middle">seconds</text>`+"\n", num((x0+x1)/2), num(y0+32))
	for i, s := range h.Series {
		for _, seg := range segments(s.Points, m) {
			var pts []string
			for _, p := range seg {
				v, _ := m.value(p)
				x := x0 + (x1-x0)*p.At.Sub(start).Seconds()/seconds
				y := y0 - (y0-y1)*v/ymax
				pts = append(pts, num(x)+","+num(y))
			}
			if len(pts) == 1 {
				pts = append(pts, pts[0]) // a point still shows (round caps)
			}
			fmt.Fprintf(b, `<polyline class="series" data-id="%s" data-name="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linecap="round" points="%s"/>`+"\n",
				esc(s.ID), esc(s.Name), seriesColors[i%len(seriesColors)], strings.Join(pts, " "))
		}
	}
	b.WriteString("</g>\n")
}

// segments splits points into the runs that have a value of m.
func segments(points []StatsPoint, m statsMetric) [][]StatsPoint {
	var out [][]StatsPoint
	var cur []StatsPoint
	for _, p := range points {
		if v, ok := m.value(p); ok && !math.IsNaN(v) {
			cur = append(cur, p)
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// niceCeil is the least round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
// times a power of ten) at least v.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if f*p >= v*(1-1e-12) {
			return f * p
		}
	}
	return 10 * p
}

// num writes a coordinate or a value: at most 3 decimals, no trailing zeros.
func num(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
