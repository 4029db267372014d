package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/pstable"
)

// StatsSample is one reading of a container's counters.
type StatsSample struct {
	ID, Name string
	// Valid is false for a container that does not run: its row shows zeros.
	Valid bool
	// CPUNanos is the container's CPU time; SystemNanos the host's total
	// CPU time (all CPUs, /proc/stat) at the same moment, OnlineCPUs how
	// many CPUs the host has online.
	CPUNanos, SystemNanos uint64
	OnlineCPUs            int
	Read                  time.Time
	// MemUsage excludes the inactive page cache, as Docker's; MemLimit is
	// the cgroup limit, at most the host's memory.
	MemUsage, MemLimit uint64
	NetRx, NetTx       uint64 // bytes over every interface but lo
	BlockRead          uint64
	BlockWrite         uint64
	Pids               uint64
	// On cgroup v2 (HasPressure), the "some" totals of cpu.pressure and
	// memory.pressure: microseconds during which a task of the container
	// waited for a CPU, for memory.
	HasPressure              bool
	CPUPressure, MemPressure uint64
}

// StatsOptions are the options of `sdocker stats`.
type StatsOptions struct {
	// Refs are the containers to show; none means every running one (every
	// one with All), looked up again at each refresh.
	Refs []string
	All  bool
	// Stream refreshes every Interval (default 1s) until Stop is closed;
	// otherwise there is one refresh, from two samples FirstInterval
	// (default 500ms) apart.
	Stream        bool
	Interval      time.Duration
	FirstInterval time.Duration
	Stop          <-chan struct{}
	// Show is given, at each refresh, a sample of each container and the
	// previous samples by container id (a container has none at first);
	// its error ends Stats.
	Show func(cur []*StatsSample, prev map[string]*StatsSample) error
}

// Stats samples the resource usage of containers, as `docker stats` shows
// it, and hands each refresh to o.Show.
func (e *Engine) Stats(o StatsOptions) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.FirstInterval <= 0 {
		o.FirstInterval = 500 * time.Millisecond
	}
	_ = e.Collect()
	// Named containers are resolved once: a missing one is an error.
	var fixed []*Record
	for _, ref := range o.Refs {
		r, err := e.Find(ref)
		if err != nil {
			return err
		}
		fixed = append(fixed, r)
	}
	targets := func() ([]*Record, error) {
		if len(o.Refs) == 0 {
			all, err := e.List()
			if err != nil {
				return nil, err
			}
			var out []*Record
			for _, r := range all {
				if o.All || r.Status == StateRunning || r.Status == StatePaused || r.Status == StateRestarting {
					out = append(out, r)
				}
			}
			return out, nil
		}
		var out []*Record
		for _, r := range fixed {
			if n, err := e.load(r.ID); err == nil {
				out = append(out, n)
			}
		}
		return out, nil
	}
	prev := map[string]*StatsSample{}
	sample := func() ([]*StatsSample, map[string]*StatsSample, error) {
		list, err := targets()
		if err != nil {
			return nil, nil, err
		}
		var cur []*StatsSample
		next := map[string]*StatsSample{}
		for _, r := range list {
			s := e.SampleStats(r)
			next[r.ID] = s
			cur = append(cur, s)
		}
		last := prev
		prev = next
		return cur, last, nil
	}
	wait := func(d time.Duration) bool {
		select {
		case <-o.Stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	if _, _, err := sample(); err != nil {
		return err
	}
	if !wait(o.FirstInterval) {
		return nil
	}
	for {
		cur, last, err := sample()
		if err != nil {
			return err
		}
		if err := o.Show(cur, last); err != nil {
			return err
		}
		if !o.Stream || !wait(o.Interval) {
			return nil
		}
	}
}

// SampleStats reads the counters of r now; a container that does not run
// gives an invalid (zero) sample.
func (e *Engine) SampleStats(r *Record) *StatsSample {
	s := &StatsSample{ID: r.ID, Name: r.Name, Read: time.Now()}
	if (r.Status != StateRunning && r.Status != StatePaused) || !live(r) || r.CgroupPath == "" {
		return s
	}
	cg, err := cgroups.New(r.CgroupPath)
	if err != nil {
		return s
	}
	st, err := cg.Stats()
	if err != nil {
		return s
	}
	s.Valid = true
	s.SystemNanos, s.OnlineCPUs, _ = systemCPU()
	s.CPUNanos = st.CPUUsageNanos
	s.MemUsage = st.MemoryUsage
	if inactive, ok := inactiveFile(cg); ok && inactive < s.MemUsage {
		s.MemUsage -= inactive
	}
	s.MemLimit = st.MemoryLimit
	if host := hostMemory(); host > 0 && (s.MemLimit == 0 || s.MemLimit > host) {
		s.MemLimit = host
	}
	s.BlockRead, s.BlockWrite, s.Pids = st.IOReadBytes, st.IOWriteBytes, st.Pids
	if cg.Version() == 2 {
		dir := cg.Paths()[""]
		cpu, ok1 := readPressure(filepath.Join(dir, "cpu.pressure"))
		mem, ok2 := readPressure(filepath.Join(dir, "memory.pressure"))
		s.HasPressure, s.CPUPressure, s.MemPressure = ok1 && ok2, cpu, mem
	}
	if r.Host.Network != "host" {
		if f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", r.Pid)); err == nil {
			s.NetRx, s.NetTx = ParseNetDev(f)
			f.Close()
		}
	}
	return s
}

// ParseNetDev sums the received and sent bytes of /proc/PID/net/dev over
// every interface but lo.
func ParseNetDev(r io.Reader) (rx, tx uint64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx += r
			tx += t
		}
	}
	return rx, tx
}

// readPressure reads the "some" total of a PSI file (cpu.pressure,
// memory.pressure); false when the kernel has none (no CONFIG_PSI, or
// psi=0).
func readPressure(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return ParsePressureTotal(string(b))
}

// ParsePressureTotal is the total= of the "some" line of a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
func ParsePressureTotal(psi string) (uint64, bool) {
	for _, l := range strings.Split(psi, "\n") {
		rest, ok := strings.CutPrefix(l, "some ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// clockTicks is USER_HZ, the unit of /proc/stat (100 on every Linux
// architecture Go supports).
const clockTicks = 100

// systemCPU reads the host's total CPU time in nanoseconds (user, nice,
// system, idle, iowait, irq and softirq of every CPU, as Docker counts it)
// and the number of online CPUs from /proc/stat.
func systemCPU() (nanos uint64, cpus int, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseProcStat(f)
}

func parseProcStat(r io.Reader) (nanos uint64, cpus int, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		if len(f) < 8 {
			return 0, 0, fmt.Errorf("parse /proc/stat: short cpu line")
		}
		var ticks uint64
		for _, v := range f[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
			}
			ticks += n
		}
		nanos = ticks * (1e9 / clockTicks)
	}
	return nanos, cpus, sc.Err()
}

// hostMemory is MemTotal of /proc/meminfo in bytes, 0 if unknown.
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return parseMemTotal(string(b))
}

func parseMemTotal(meminfo string) uint64 {
	for _, l := range strings.Split(meminfo, "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				n, err := strconv.ParseUint(f[0], 10, 64)
				if err == nil {
					if len(f) >= 2 && f[1] == "kB" {
						n *= 1024
					}
					return n
				}
			}
		}
	}
	return 0
}

// inactiveFile reads the inactive page cache of the container's memory
// cgroup, which Docker leaves out of the usage it shows.
func inactiveFile(cg cgroups.Manager) (uint64, bool) {
	dir, key := cg.Paths()["memory"], "total_inactive_file"
	if cg.Version() == 2 {
		dir, key = cg.Paths()[""], "inactive_file"
	}
	if dir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Top writes the processes of a running container as ps(1) lists them with
// psArgs (default -ef).
func (e *Engine) Top(ref string, psArgs []string, w io.Writer) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	r = e.refresh(r)
	if (r.Status != StateRunning && r.Status != StatePaused) || !live(r) {
		return fmt.Errorf("%w: container %s is not running", ErrWrongState, ids.ShortID(r.ID))
	}
	cg, err := cgroups.New(r.CgroupPath)
	if err != nil {
		return err
	}
	pids, err := cg.Pids()
	if err != nil {
		return fmt.Errorf("list processes of container %s: %w", ids.ShortID(r.ID), err)
	}
	return pstable.Write(w, pids, psArgs)
}
