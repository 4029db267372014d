package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/oci"
	"github.com/sdocker/sdocker/internal/pstable"
)

func newPsCommand(g *globals) *command {
	var format string
	c := newCommand(g, "ps", "ps [OPTIONS] ID [PS-ARGS...]", "List the processes of a container (table via ps(1), or json pids)", 1, -1)
	c.example = "  sdocker-runc ps mycontainer\n  sdocker-runc ps --format json mycontainer"
	c.run = func(args []string) error {
		pids, err := g.store().Processes(args[0])
		if err != nil {
			return err
		}
		switch format {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
			return psTable(os.Stdout, pids, args[1:])
		}
		return fmt.Errorf("--format %q: use table or json", format)
	}
	c.stringVar(&format, "format", "f", "table", "table or json")
	return c
}

// psTable runs the host's ps and keeps its header and the lines of pids.
func psTable(w io.Writer, pids []int, psArgs []string) error {
	return pstable.Write(w, pids, psArgs)
}

func newListCommand(g *globals) *command {
	var format string
	var quiet bool
	c := newCommand(g, "list", "list [OPTIONS]", "List containers", 0, 0)
	c.run = func(args []string) error {
		list, err := g.store().List()
		if err != nil {
			return err
		}
		if quiet {
			for _, st := range list {
				fmt.Println(st.ID)
			}
			return nil
		}
		switch format {
		case "json":
			out := []map[string]any{}
			for _, st := range list {
				out = append(out, map[string]any{"ociVersion": st.Version, "id": st.ID, "pid": st.Pid,
					"status": st.Status, "bundle": st.Bundle, "rootfs": st.Rootfs,
					"created": st.Created, "owner": "root", "annotations": st.Annotations})
			}
			return json.NewEncoder(os.Stdout).Encode(out)
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, st := range list {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\troot\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format(time.RFC3339Nano))
			}
			return w.Flush()
		}
		return fmt.Errorf("--format %q: use table or json", format)
	}
	c.stringVar(&format, "format", "f", "table", "table or json")
	c.boolVar(&quiet, "quiet", "q", false, "print ids only")
	return c
}

func newUpdateCommand(g *globals) *command {
	var resources string
	var memory, memorySwap, memoryReservation, cpuQuota, pidsLimit int64
	var cpuPeriod, cpuShares, blkioWeight uint64
	var cpusetCpus, cpusetMems string
	c := newCommand(g, "update", "update [OPTIONS] ID", "Change the resource limits of a container", 1, 1)
	c.example = "  sdocker-runc update --memory 67108864 --pids-limit 100 mycontainer\n  echo '{\"pids\":{\"limit\":50}}' | sdocker-runc update --resources - mycontainer"
	c.run = func(args []string) error {
		s := g.store()
		st, err := s.Load(args[0])
		if err != nil {
			return err
		}
		r := specs.LinuxResources{}
		if st.Config.Linux != nil && st.Config.Linux.Resources != nil {
			// A deep copy, to update.
			b, err := json.Marshal(st.Config.Linux.Resources)
			if err == nil {
				err = json.Unmarshal(b, &r)
			}
			if err != nil {
				return fmt.Errorf("copy the resources of %s: %w", args[0], err)
			}
		}
		if resources != "" {
			var b []byte
			if resources == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(resources)
			}
			if err != nil {
				return fmt.Errorf("read --resources: %w", err)
			}
			r = specs.LinuxResources{}
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("parse --resources: %w", err)
			}
		}
		fl := c
		mem := func() *specs.LinuxMemory {
			if r.Memory == nil {
				r.Memory = &specs.LinuxMemory{}
			}
			return r.Memory
		}
		cpu := func() *specs.LinuxCPU {
			if r.CPU == nil {
				r.CPU = &specs.LinuxCPU{}
			}
			return r.CPU
		}
		if fl.changed("memory") {
			mem().Limit = &memory
		}
		if fl.changed("memory-swap") {
			mem().Swap = &memorySwap
		}
		if fl.changed("memory-reservation") {
			mem().Reservation = &memoryReservation
		}
		if fl.changed("cpu-period") {
			cpu().Period = &cpuPeriod
		}
		if fl.changed("cpu-quota") {
			cpu().Quota = &cpuQuota
		}
		if fl.changed("cpu-share") {
			cpu().Shares = &cpuShares
		}
		if fl.changed("cpuset-cpus") {
			cpu().Cpus = cpusetCpus
		}
		if fl.changed("cpuset-mems") {
			cpu().Mems = cpusetMems
		}
		if fl.changed("pids-limit") {
			r.Pids = &specs.LinuxPids{Limit: &pidsLimit}
		}
		if fl.changed("blkio-weight") {
			w := uint16(blkioWeight)
			if uint64(w) != blkioWeight {
				return fmt.Errorf("--blkio-weight %d: out of range", blkioWeight)
			}
			r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		}
		return s.Update(args[0], &r)
	}
	f := c.fs
	c.stringVar(&resources, "resources", "r", "", "a JSON file (or - for stdin) with linux.resources")
	f.Int64Var(&memory, "memory", 0, "memory limit in bytes")
	f.Int64Var(&memorySwap, "memory-swap", 0, "memory plus swap limit in bytes (-1 unlimited)")
	f.Int64Var(&memoryReservation, "memory-reservation", 0, "memory soft limit in bytes")
	f.Uint64Var(&cpuPeriod, "cpu-period", 0, "CPU CFS period in microseconds")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "CPU CFS quota in microseconds")
	f.Uint64Var(&cpuShares, "cpu-share", 0, "CPU shares")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs to use, e.g. 0-1")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "memory nodes to use")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "maximum number of processes (-1 unlimited)")
	f.Uint64Var(&blkioWeight, "blkio-weight", 0, "block I/O weight (10..1000)")
	return c
}

// statsEvent is runc's stats event shape (the parts cgroups can fill).
type statsEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data"`
}

func statsData(s *cgroups.Stats) map[string]any {
	return map[string]any{
		"cpu":    map[string]any{"usage": map[string]any{"total": s.CPUUsageNanos}},
		"memory": map[string]any{"usage": map[string]any{"usage": s.MemoryUsage, "limit": s.MemoryLimit}},
		"pids":   map[string]any{"current": s.Pids, "limit": s.PidsLimit},
		"blkio":  map[string]any{"read_bytes": s.IOReadBytes, "write_bytes": s.IOWriteBytes},
	}
}

func newEventsCommand(g *globals) *command {
	var interval time.Duration
	var once bool
	c := newCommand(g, "events", "events [OPTIONS] ID", "Print a container's resource usage as JSON events (--stats: once)", 1, 1)
	c.run = func(args []string) error {
		if interval <= 0 {
			return fmt.Errorf("--interval %v: must be positive", interval)
		}
		enc := json.NewEncoder(os.Stdout)
		for {
			stats, err := g.store().Stats(args[0])
			if err != nil {
				if once {
					return err
				}
				return nil // the container stopped: the stream ends
			}
			if err := enc.Encode(statsEvent{Type: "stats", ID: args[0], Data: statsData(stats)}); err != nil {
				return err
			}
			if once {
				return nil
			}
			time.Sleep(interval)
		}
	}
	c.fs.DurationVar(&interval, "interval", 5*time.Second, "time between stats events")
	c.fs.BoolVar(&once, "stats", false, "print the stats once and exit")
	return c
}

func newFeaturesCommand(g *globals) *command {
	c := newCommand(g, "features", "features", "Print what this runtime implements (OCI features JSON)", 0, 0)
	c.run = func(args []string) error {
		yes, no := true, false
		var ns []string
		for _, t := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace, specs.TimeNamespace, specs.UserNamespace} {
			ns = append(ns, string(t))
		}
		f := features.Features{
			OCIVersionMin: "1.0.0",
			OCIVersionMax: specs.Version,
			Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
			MountOptions:  launch.MountOptions(),
			Linux: &features.Linux{
				Namespaces:   ns,
				Capabilities: launch.CapabilityNames(),
				Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no},
				Apparmor:     &features.Apparmor{Enabled: &no},
				Selinux:      &features.Selinux{Enabled: &no},
				IntelRdt:     &features.IntelRdt{Enabled: &no},
				// mounts[].uidMappings and gidMappings (id-mapped mounts).
				MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			},
			Annotations: map[string]string{"org.opencontainers.runtime-spec.features": "sdocker-runc " + version},
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	return c
}

func newSpecCommand(g *globals) *command {
	var bundle string
	var rootless bool
	c := newCommand(g, "spec", "spec [OPTIONS]", "Write a default config.json into the bundle directory", 0, 0)
	c.example = "  mkdir -p bundle/rootfs && sdocker-runc spec --bundle bundle"
	c.run = func(args []string) error {
		if rootless {
			return fmt.Errorf("--rootless: rootless containers are not supported")
		}
		p := filepath.Join(bundle, "config.json")
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists: remove it first", p)
		}
		b, err := json.MarshalIndent(oci.DefaultSpec(), "", "\t")
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	}
	c.stringVar(&bundle, "bundle", "b", ".", "the bundle directory")
	c.fs.BoolVar(&rootless, "rootless", false, "a rootless spec (refused: not supported)")
	return c
}
