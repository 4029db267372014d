package testutil

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Chart is what a test reads back from the SVG chart of `sdocker stats
// --record --plot`: its panels, each with its lines' points mapped back
// from SVG coordinates to seconds and values through the panel's axes.
type Chart struct {
	Panels []ChartPanel
	Legend []string
}

// ChartPanel is one metric's panel.
type ChartPanel struct {
	Metric, Title string
	Top, Seconds  float64
	Series        []ChartSeries // one per polyline: a container can have several (gaps)
	YTicks        []string
}

// ChartSeries is one line of a panel.
type ChartSeries struct {
	ID, Name string
	Points   [][2]float64 // seconds, value
}

// Panel is the panel of metric, or nil.
func (c *Chart) Panel(metric string) *ChartPanel {
	for i := range c.Panels {
		if c.Panels[i].Metric == metric {
			return &c.Panels[i]
		}
	}
	return nil
}

// Values are the values of every line of the container named name.
func (p *ChartPanel) Values(name string) []float64 {
	var out []float64
	for _, s := range p.Series {
		if s.Name == name {
			for _, pt := range s.Points {
				out = append(out, pt[1])
			}
		}
	}
	return out
}

type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *svgNode) class() string { return n.attr("class") }

// ReadChart parses an SVG chart; an error for anything that is not well
// formed XML in the SVG namespace, or a panel without its axes' numbers.
func ReadChart(b []byte) (*Chart, error) {
	var root svgNode
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("parse SVG: %w", err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			return nil, fmt.Errorf("parse SVG: something after the svg element")
		}
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		return nil, fmt.Errorf("root element %v, want svg", root.XMLName)
	}
	c := &Chart{}
	for _, g := range root.Nodes {
		switch g.class() {
		case "legend":
			for _, t := range g.Nodes {
				if t.XMLName.Local == "text" {
					c.Legend = append(c.Legend, t.Text)
				}
			}
		case "panel":
			p, err := readPanel(&g)
			if err != nil {
				return nil, err
			}
			c.Panels = append(c.Panels, *p)
		}
	}
	return c, nil
}

func readPanel(g *svgNode) (*ChartPanel, error) {
	nums := map[string]float64{}
	for _, k := range []string{"top", "seconds", "x0", "x1", "y0", "y1"} {
		v, err := strconv.ParseFloat(g.attr("data-"+k), 64)
		if err != nil {
			return nil, fmt.Errorf("panel %q: data-%s: %w", g.attr("data-metric"), k, err)
		}
		nums[k] = v
	}
	p := &ChartPanel{Metric: g.attr("data-metric"), Top: nums["top"], Seconds: nums["seconds"]}
	axes := 0
	for _, n := range g.Nodes {
		switch {
		case n.class() == "panel-title":
			p.Title = n.Text
		case n.class() == "ytick" && n.XMLName.Local == "text":
			p.YTicks = append(p.YTicks, n.Text)
		case strings.HasPrefix(n.class(), "axis ") && n.XMLName.Local == "line":
			axes++
		case n.class() == "series" && n.XMLName.Local == "polyline":
			s := ChartSeries{ID: n.attr("data-id"), Name: n.attr("data-name")}
			for _, xy := range strings.Fields(n.attr("points")) {
				xs, ys, ok := strings.Cut(xy, ",")
				x, err1 := strconv.ParseFloat(xs, 64)
				y, err2 := strconv.ParseFloat(ys, 64)
				if !ok || err1 != nil || err2 != nil {
					return nil, fmt.Errorf("panel %q: bad point %q", p.Metric, xy)
				}
				t := (x - nums["x0"]) / (nums["x1"] - nums["x0"]) * nums["seconds"]
				v := (nums["y0"] - y) / (nums["y0"] - nums["y1"]) * nums["top"]
				s.Points = append(s.Points, [2]float64{t, v})
			}
			p.Series = append(p.Series, s)
		}
	}
	if axes != 2 || p.Title == "" || len(p.YTicks) < 2 {
		return nil, fmt.Errorf("panel %q: %d axes, title %q, %d y ticks", p.Metric, axes, p.Title, len(p.YTicks))
	}
	return p, nil
}
