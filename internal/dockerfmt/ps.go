package dockerfmt

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/ids"
)

// PsEntry is one container as `ps --format` sees it: Docker's field names,
// every value a string.
type PsEntry struct {
	ID         string
	Names      string
	Image      string
	Command    string
	CreatedAt  string
	RunningFor string
	Status     string
	State      string
	Labels     string
	Mounts     string
	Networks   string
	Ports      string
	Pid        string `json:"Pid"`
	// Size is set by ps --size (see SizeString).
	Size string `json:",omitempty"`

	labels map[string]string
	header bool
}

// Label returns the value of label name (`{{.Label "com.example.x"}}`).
func (p PsEntry) Label(name string) string {
	if p.header {
		return "LABEL"
	}
	return p.labels[name]
}

// PsHeader is the PsEntry whose fields are the column titles of a table.
var PsHeader = PsEntry{
	ID: "CONTAINER ID", Names: "NAMES", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT",
	RunningFor: "CREATED", Status: "STATUS", State: "STATE", Labels: "LABELS", Mounts: "MOUNTS",
	Networks: "NETWORKS", Ports: "PORTS", Pid: "PID", Size: "SIZE", header: true,
}

// NewPsEntry describes r for `ps`; without trunc the id is 12 digits and
// the command at most 20 characters, as Docker shows them.
func NewPsEntry(r *engine.Record, now time.Time, trunc bool) PsEntry {
	p := PsEntry{
		ID: r.ID, Names: r.Name, Image: r.Image, State: r.Status, labels: r.Labels,
		CreatedAt:  "N/A",
		RunningFor: HumanSince(r.Created, now),
		Status:     StatusString(r, now),
		Networks:   r.Host.Network,
		Ports:      PortsString(r),
		Pid:        "-",
	}
	if p.State == "" {
		p.State = engine.StateCreated
	}
	if !r.Created.IsZero() {
		p.CreatedAt = r.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
	}
	if p.Networks == "" {
		p.Networks = "none"
	}
	if r.Status == engine.StateRunning || r.Status == engine.StatePaused {
		p.Pid = strconv.Itoa(r.Pid)
	}
	cmd := strings.Join(r.Command, " ")
	if trunc {
		p.ID = ids.ShortID(r.ID)
		cmd = Ellipsis(cmd, 20)
	}
	p.Command = strconv.Quote(cmd)
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var labels []string
	for _, k := range keys {
		labels = append(labels, k+"="+r.Labels[k])
	}
	p.Labels = strings.Join(labels, ",")
	var mounts []string
	for _, m := range r.Mounts {
		name := m.Source
		if m.Anonymous {
			name = filepath.Base(m.Source)
		}
		if trunc {
			name = Ellipsis(name, 15)
		}
		mounts = append(mounts, name)
	}
	p.Mounts = strings.Join(mounts, ",")
	return p
}

// StatusString is the STATUS column of `ps`, as Docker writes it:
// "Up 3 seconds", "Up 4 seconds (healthy)" (with the health that
// engine.LoadHealth read), "Up 5 minutes (Paused)", "Restarting (1) 2 seconds ago",
// "Exited (0) 3 seconds ago", "Created"; a container whose record cannot
// be read is "Damaged (container.json: unexpected end of JSON input)".
func StatusString(r *engine.Record, now time.Time) string {
	up := "Up"
	if !r.StartedAt.IsZero() {
		up += " " + HumanDuration(now.Sub(r.StartedAt))
	}
	switch r.Status {
	case engine.StateRunning:
		return up + healthSuffix(r)
	case engine.StatePaused:
		return up + " (Paused)"
	case engine.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s", r.ExitCode, HumanSince(r.FinishedAt, now))
	case engine.StateExited:
		if r.StartedAt.IsZero() { // it never ran
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s", r.ExitCode, HumanSince(r.FinishedAt, now))
	case "", engine.StateCreated:
		return "Created"
	case engine.StateDamaged:
		return "Damaged (" + r.Damaged + ")"
	}
	return strings.ToUpper(r.Status[:1]) + r.Status[1:]
}

// healthSuffix is the health of a running container in its STATUS:
// " (health: starting)", " (healthy)", " (unhealthy)", or "" without a
// healthcheck.
func healthSuffix(r *engine.Record) string {
	switch h := r.HealthStatus(); h {
	case engine.HealthNone:
		return ""
	case engine.HealthStarting:
		return " (health: starting)"
	default:
		return " (" + h + ")"
	}
}

// SizeString is the SIZE column of ps --size, as Docker writes it: the
// bytes the container wrote, and with its image's ("2B (virtual 1.2MB)").
func SizeString(rw, image int64) string {
	return HumanSize(float64(rw)) + " (virtual " + HumanSize(float64(rw+image)) + ")"
}

// PsFormat is a parsed `ps --format` (see ParsePsFormat).
type PsFormat = Format

// psTable is the template of `ps --format table`.
const psTable = `{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`

// ParsePsFormat reads a ps --format value: "json", "table TEMPLATE" or a
// bare template (see ParseFormat).
func ParsePsFormat(s string) (*PsFormat, error) {
	return ParseFormat(s, psTable, PsHeader)
}

// WritePsTable writes entries as the default listing of `ps`.
func WritePsTable(out io.Writer, entries []PsEntry) error {
	// PORTS, last, is often empty: no padding is left at the ends of lines.
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	// With ps --size, SIZE follows PORTS as in Docker.
	sized := len(entries) > 0 && entries[0].Size != ""
	header := "CONTAINER ID\tNAME\tPID\tCOMMAND\tSTATUS\tCREATED\tPORTS"
	if sized {
		header += "\tSIZE"
	}
	fmt.Fprintln(w, header)
	for _, p := range entries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s", p.ID, p.Names, p.Pid, p.Command, p.Status, p.RunningFor, p.Ports)
		if sized {
			fmt.Fprintf(w, "\t%s", p.Size)
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(out, strings.TrimRight(l, " ")); err != nil {
			return err
		}
	}
	return nil
}

// WritePsFormat writes entries with a parsed --format (see ParsePsFormat):
// a JSON object per line, a table with its header, or each entry through
// the template.
func WritePsFormat(out io.Writer, f *PsFormat, entries []PsEntry) error {
	return WriteFormat(out, f, PsHeader, entries)
}
