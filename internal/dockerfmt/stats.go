package dockerfmt

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/ids"
)

// StatsRow is what `stats` shows for a container: a sample with its CPU
// share since the previous one.
type StatsRow struct {
	engine.StatsSample
	CPUPercent, MemPercent float64
	// With HasPressure (cgroup v2, and a previous sample), the share of
	// the time since the previous sample during which some task of the
	// container waited for a CPU, for memory (PSI "some").
	HasPressure                    bool
	CPUPressurePct, MemPressurePct float64
}

// NewStatsRow computes the CPU and memory shares of cur; prev is the
// previous sample of the same container, or nil.
func NewStatsRow(prev, cur *engine.StatsSample) StatsRow {
	row := StatsRow{StatsSample: *cur}
	if !cur.Valid {
		return row
	}
	if prev != nil && prev.Valid {
		row.CPUPercent = CPUPercent(prev, cur)
		row.HasPressure, row.CPUPressurePct, row.MemPressurePct = pressurePercents(prev, cur)
	}
	if cur.MemLimit > 0 {
		row.MemPercent = float64(cur.MemUsage) / float64(cur.MemLimit) * 100
	}
	return row
}

// CPUPercent is Docker's formula: the container's CPU time over the host's
// total CPU time (from /proc/stat, all CPUs) between two samples, times the
// number of online CPUs, so 100% is one CPU busy all the time. Without the
// host's counters it falls back to CPU time over wall time.
func CPUPercent(prev, cur *engine.StatsSample) float64 {
	if cur.CPUNanos < prev.CPUNanos {
		return 0
	}
	cpu := float64(cur.CPUNanos - prev.CPUNanos)
	if cur.SystemNanos > prev.SystemNanos && prev.SystemNanos > 0 && cur.OnlineCPUs > 0 {
		return cpu / float64(cur.SystemNanos-prev.SystemNanos) * float64(cur.OnlineCPUs) * 100
	}
	if wall := cur.Read.Sub(prev.Read); wall > 0 {
		return cpu / float64(wall.Nanoseconds()) * 100
	}
	return 0
}

// pressurePercents are the PSI "some" shares of the wall time between two
// samples, in percent (at most 100).
func pressurePercents(prev, cur *engine.StatsSample) (ok bool, cpu, mem float64) {
	wall := cur.Read.Sub(prev.Read).Microseconds()
	if !prev.HasPressure || !cur.HasPressure || wall <= 0 {
		return false, 0, 0
	}
	share := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return min(float64(b-a)/float64(wall)*100, 100)
	}
	return true, share(prev.CPUPressure, cur.CPUPressure), share(prev.MemPressure, cur.MemPressure)
}

// StatsEntry is a row of `stats` as --format sees it: Docker's field
// names, every value a string.
type StatsEntry struct {
	BlockIO   string
	CPUPerc   string
	Container string
	ID        string
	MemPerc   string
	MemUsage  string
	Name      string
	NetIO     string
	PIDs      string
}

// StatsHeader is the StatsEntry whose fields are the column titles of a
// table.
var StatsHeader = StatsEntry{
	BlockIO: "BLOCK I/O", CPUPerc: "CPU %", Container: "CONTAINER", ID: "CONTAINER ID", MemPerc: "MEM %",
	MemUsage: "MEM USAGE / LIMIT", Name: "NAME", NetIO: "NET I/O", PIDs: "PIDS",
}

// statsTable is the template of `stats --format table`, the default.
const statsTable = `{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}`

// NewStatsEntry describes r for `stats`; with trunc the id is 12 digits.
// Container is the name or id the container was asked by, or (as in
// Docker) its id.
func NewStatsEntry(r StatsRow, trunc bool) StatsEntry {
	id := r.ID
	if trunc {
		id = ids.ShortID(id)
	}
	container := r.Ref
	if container == "" {
		container = id
	}
	return StatsEntry{
		BlockIO:   HumanSize(float64(r.BlockRead)) + " / " + HumanSize(float64(r.BlockWrite)),
		CPUPerc:   fmt.Sprintf("%.2f%%", r.CPUPercent),
		Container: container,
		ID:        id,
		MemPerc:   fmt.Sprintf("%.2f%%", r.MemPercent),
		MemUsage:  BytesSize(float64(r.MemUsage)) + " / " + BytesSize(float64(r.MemLimit)),
		Name:      r.Name,
		NetIO:     HumanSize(float64(r.NetRx)) + " / " + HumanSize(float64(r.NetTx)),
		PIDs:      strconv.FormatUint(r.Pids, 10),
	}
}

// StatsEntries describes rows for `stats` (see NewStatsEntry).
func StatsEntries(rows []StatsRow, trunc bool) []StatsEntry {
	entries := make([]StatsEntry, 0, len(rows))
	for _, r := range rows {
		entries = append(entries, NewStatsEntry(r, trunc))
	}
	return entries
}

// ParseStatsFormat reads a stats --format value: "table" (the default
// table), "table TEMPLATE", "json" or a bare template (see ParseFormat).
func ParseStatsFormat(s string) (*Format, error) {
	return ParseFormat(s, statsTable, StatsHeader)
}

// WriteStatsFormat writes rows with a parsed --format: a JSON object per
// container, a table with its header, or each container through the
// template.
func WriteStatsFormat(w io.Writer, f *Format, rows []StatsRow, trunc bool) error {
	return WriteFormat(w, f, StatsHeader, StatsEntries(rows, trunc))
}

// WriteStatsTable writes rows as `docker stats` does.
func WriteStatsTable(w io.Writer, rows []StatsRow, trunc bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, e := range StatsEntries(rows, trunc) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.CPUPerc, e.MemUsage, e.MemPerc, e.NetIO, e.BlockIO, e.PIDs)
	}
	return tw.Flush()
}

// StatsRows computes the rows of a refresh of `stats`: each sample of cur
// with its share since the previous sample of the same container in prev.
func StatsRows(cur []*engine.StatsSample, prev map[string]*engine.StatsSample) []StatsRow {
	var rows []StatsRow
	for _, s := range cur {
		rows = append(rows, NewStatsRow(prev[s.ID], s))
	}
	return rows
}
