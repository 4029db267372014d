package dockerfmt

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// DiskUsageEntry is a line of `system df`, as --format sees it: Docker's
// field names, every value a string.
type DiskUsageEntry struct {
	Type        string
	TotalCount  string
	Active      string
	Size        string
	Reclaimable string
}

// DiskUsageHeader is the DiskUsageEntry whose fields are the column titles.
var DiskUsageHeader = DiskUsageEntry{Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE"}

// diskUsageTable is the template of `system df --format table`.
const diskUsageTable = `{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}`

// NewDiskUsageEntry describes total things of a type, active of them in
// use, size bytes of which reclaimable are not in use: the percentage
// follows, as in Docker ("1.2MB (50%)").
func NewDiskUsageEntry(typ string, total, active int, size, reclaimable int64) DiskUsageEntry {
	rec := HumanSize(float64(reclaimable))
	if size > 0 {
		rec += fmt.Sprintf(" (%d%%)", reclaimable*100/size)
	}
	return DiskUsageEntry{Type: typ, TotalCount: fmt.Sprint(total), Active: fmt.Sprint(active),
		Size: HumanSize(float64(size)), Reclaimable: rec}
}

// ParseDiskUsageFormat reads a system df --format value (see ParseFormat).
func ParseDiskUsageFormat(s string) (*Format, error) {
	return ParseFormat(s, diskUsageTable, DiskUsageHeader)
}

// WriteDiskUsage writes entries as `system df` does, or with f (non-nil)
// through that --format.
func WriteDiskUsage(w io.Writer, f *Format, entries []DiskUsageEntry) error {
	if f != nil {
		return WriteFormat(w, f, DiskUsageHeader, entries)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.TotalCount, e.Active, e.Size, e.Reclaimable)
	}
	return tw.Flush()
}

// Info is what `info` shows, with Docker's field names for --format.
type Info struct {
	Containers        int
	ContainersRunning int
	ContainersPaused  int
	ContainersStopped int
	Images            int
	Volumes           int
	Driver            string
	LoggingDriver     string
	CgroupDriver      string
	CgroupVersion     string
	KernelVersion     string
	OperatingSystem   string
	OSType            string
	Architecture      string
	NCPU              int
	MemTotal          int64
	Name              string
	DockerRootDir     string
	ServerVersion     string
}

// WriteInfo writes i as `docker info` lays it out.
func WriteInfo(w io.Writer, i *Info) error {
	_, err := fmt.Fprintf(w, `Server:
 Containers: %d
  Running: %d
  Paused: %d
  Stopped: %d
 Images: %d
 Volumes: %d
 Server Version: %s
 Storage Driver: %s
 Logging Driver: %s
 Cgroup Driver: %s
 Cgroup Version: %s
 Kernel Version: %s
 Operating System: %s
 OSType: %s
 Architecture: %s
 CPUs: %d
 Total Memory: %s
 Name: %s
 Docker Root Dir: %s
`, i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images, i.Volumes,
		i.ServerVersion, i.Driver, i.LoggingDriver, i.CgroupDriver, i.CgroupVersion, i.KernelVersion,
		i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, BytesSize(float64(i.MemTotal)), i.Name, i.DockerRootDir)
	return err
}
