package dockerfmt

import (
	"fmt"
	"io"
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

// WriteStatsTable writes rows as `docker stats` does.
func WriteStatsTable(w io.Writer, rows []StatsRow, trunc bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, r := range rows {
		id := r.ID
		if trunc {
			id = ids.ShortID(id)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%s / %s\t%d\n", id, r.Name,
			r.CPUPercent, BytesSize(float64(r.MemUsage)), BytesSize(float64(r.MemLimit)), r.MemPercent,
			HumanSize(float64(r.NetRx)), HumanSize(float64(r.NetTx)),
			HumanSize(float64(r.BlockRead)), HumanSize(float64(r.BlockWrite)), r.Pids)
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
