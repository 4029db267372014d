package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sdocker/sdocker/internal/ids"
)

// ContainerJSON is what `sdocker inspect` prints for a container: the
// fields of Docker's `docker inspect` that sdocker has.
type ContainerJSON struct {
	ID              string          `json:"Id"`
	Created         string          `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           ContainerState  `json:"State"`
	Image           string          `json:"Image"`
	LogPath         string          `json:"LogPath"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	Driver          string          `json:"Driver"`
	Platform        string          `json:"Platform"`
	HostConfig      HostConfig      `json:"HostConfig"`
	GraphDriver     GraphDriverData `json:"GraphDriver"`
	Mounts          []MountJSON     `json:"Mounts"`
	Config          ContainerConfig `json:"Config"`
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
}

// ContainerState is the State of ContainerJSON.
type ContainerState struct {
	Status     string `json:"Status"` // created, running, paused, restarting, exited
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
}

// HostConfig is the HostConfig of ContainerJSON: the run options.
type HostConfig struct {
	Binds            []string          `json:"Binds"`
	NetworkMode      string            `json:"NetworkMode"`
	RestartPolicy    RestartPolicyJSON `json:"RestartPolicy"`
	AutoRemove       bool              `json:"AutoRemove"`
	CapAdd           []string          `json:"CapAdd"`
	CapDrop          []string          `json:"CapDrop"`
	Privileged       bool              `json:"Privileged"`
	ReadonlyRootfs   bool              `json:"ReadonlyRootfs"`
	CPUShares        int64             `json:"CpuShares"`
	Memory           int64             `json:"Memory"`
	NanoCPUs         int64             `json:"NanoCpus"`
	CPUPeriod        int64             `json:"CpuPeriod"`
	CPUQuota         int64             `json:"CpuQuota"`
	CpusetCpus       string            `json:"CpusetCpus"`
	MemorySwap       int64             `json:"MemorySwap"`
	MemorySwappiness *int64            `json:"MemorySwappiness"`
	PidsLimit        *int64            `json:"PidsLimit"`
}

// RestartPolicyJSON is Docker's spelling of a restart policy.
type RestartPolicyJSON struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// GraphDriverData says how the container's root file system is made.
type GraphDriverData struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// MountJSON is one entry of ContainerJSON.Mounts.
type MountJSON struct {
	Type        string `json:"Type"` // bind or volume
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// ContainerConfig is the Config of ContainerJSON: what runs.
type ContainerConfig struct {
	Hostname   string            `json:"Hostname"`
	User       string            `json:"User"`
	Tty        bool              `json:"Tty"`
	Env        []string          `json:"Env"`
	Cmd        []string          `json:"Cmd"`
	Image      string            `json:"Image"`
	WorkingDir string            `json:"WorkingDir"`
	Entrypoint []string          `json:"Entrypoint"`
	Labels     map[string]string `json:"Labels"`
}

// NetworkSettings is the NetworkSettings of ContainerJSON.
type NetworkSettings struct {
	SandboxKey string `json:"SandboxKey"`
}

// timeJSON formats t as Docker does (RFC 3339 in UTC, the zero time for
// "never").
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Inspect describes each container of refs, with its state made current
// first (a container whose watcher died is collected). It returns what it
// found and an error naming the references it did not.
func (e *Engine) Inspect(refs []string) ([]*ContainerJSON, error) {
	// A failed collection leaves states stale; the records can still be shown.
	_ = e.Collect()
	var out []*ContainerJSON
	var errs []error
	for _, ref := range refs {
		r, err := e.Find(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e.InspectRecord(r))
	}
	return out, errors.Join(errs...)
}

// InspectRecord describes r as `docker inspect` does.
func (e *Engine) InspectRecord(r *Record) *ContainerJSON {
	c := &ContainerJSON{
		ID:           r.ID,
		Name:         "/" + r.Name,
		Created:      timeJSON(r.Created),
		Image:        r.ImageID,
		LogPath:      "",
		RestartCount: r.RestartCount,
		Platform:     "linux",
		Args:         []string{},
		Mounts:       []MountJSON{},
	}
	if c.Image == "" {
		c.Image = r.Rootfs
	}
	if _, err := os.Stat(e.LogPath(r.ID)); err == nil || r.Detached {
		c.LogPath = e.LogPath(r.ID)
	}

	// State.
	st := &c.State
	st.Status = r.Status
	if st.Status == "" {
		st.Status = StateCreated
	}
	switch r.Status {
	case StateRunning:
		st.Running, st.Pid = true, r.Pid
	case StatePaused:
		st.Running, st.Paused, st.Pid = true, true, r.Pid
	case StateRestarting:
		// Docker counts a restarting container as running.
		st.Running, st.Restarting = true, true
	}
	st.OOMKilled, st.ExitCode, st.Error = r.OOMKilled, r.ExitCode, r.Error
	st.StartedAt, st.FinishedAt = timeJSON(r.StartedAt), timeJSON(r.FinishedAt)

	// Config.
	cfg := &c.Config
	cfg.Image, cfg.User, cfg.Tty = r.Image, r.Host.User, r.Host.Tty
	cfg.Labels = r.Labels
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	if s := r.Spec; s != nil {
		cfg.Hostname = s.Hostname
		if p := s.Process; p != nil {
			cfg.Env, cfg.Cmd, cfg.WorkingDir = p.Env, p.Args, p.Cwd
			if len(p.Args) > 0 {
				c.Path, c.Args = p.Args[0], append([]string{}, p.Args[1:]...)
			}
		}
	}

	// HostConfig.
	h := &c.HostConfig
	l := r.Limits
	h.Memory, h.MemorySwap = l.Memory, l.MemorySwap
	h.NanoCPUs = int64(l.CPUs*1e9 + 0.5)
	h.CPUPeriod, h.CPUQuota, h.CPUShares, h.CpusetCpus = l.CPUPeriod, l.CPUQuota, l.CPUShares, l.CpusetCpus
	if s := r.Spec; s != nil && s.Linux != nil && s.Linux.Resources != nil && s.Linux.Resources.Memory != nil {
		if sw := s.Linux.Resources.Memory.Swappiness; sw != nil && *sw <= 100 {
			v := int64(*sw)
			h.MemorySwappiness = &v
		}
	}
	if l.PidsLimit != 0 {
		v := l.PidsLimit
		h.PidsLimit = &v
	}
	h.RestartPolicy = RestartPolicyJSON{Name: r.Restart.Name, MaximumRetryCount: r.Restart.MaxRetries}
	if h.RestartPolicy.Name == "" {
		h.RestartPolicy.Name = "no"
	}
	h.AutoRemove = r.AutoRemove
	h.NetworkMode = r.Host.Network
	if h.NetworkMode == "" {
		h.NetworkMode = "none"
	}
	h.Privileged, h.ReadonlyRootfs = r.Host.Privileged, r.Host.ReadOnly
	h.CapAdd, h.CapDrop = r.Host.CapAdd, r.Host.CapDrop

	// Mounts and binds.
	for _, m := range r.Mounts {
		mj := MountJSON{Type: "bind", Source: m.Source, Destination: m.Destination, RW: m.RW, Propagation: "rprivate"}
		if !m.RW {
			mj.Mode = "ro"
		}
		if m.Anonymous {
			mj.Type, mj.Name, mj.Driver, mj.Propagation = "volume", filepath.Base(m.Source), "local", ""
			if mj.Mode == "" {
				mj.Mode = "z"
			}
		} else {
			bind := m.Source + ":" + m.Destination
			if !m.RW {
				bind += ":ro"
			}
			h.Binds = append(h.Binds, bind)
		}
		c.Mounts = append(c.Mounts, mj)
	}

	// GraphDriver.
	if r.ImageID != "" {
		dir := e.containerDir(r.ID)
		c.Driver = "overlay"
		c.GraphDriver = GraphDriverData{Name: "overlay", Data: map[string]string{
			"UpperDir":  filepath.Join(dir, "upper"),
			"WorkDir":   filepath.Join(dir, "work"),
			"MergedDir": filepath.Join(dir, "rootfs"),
		}}
		if lower := e.lowerDirs(r.ImageID); lower != "" {
			c.GraphDriver.Data["LowerDir"] = lower
		}
	} else {
		c.Driver = "none"
		c.GraphDriver = GraphDriverData{Name: "none", Data: map[string]string{"MergedDir": r.Rootfs}}
	}
	if r.Host.Network != "host" && st.Pid > 0 {
		c.NetworkSettings.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", st.Pid)
	}
	return c
}

// lowerDirs lists the image's layer directories, top first, as
// image.Store.PrepareRootfs passes them to overlayfs ("" if the image cannot
// be read).
func (e *Engine) lowerDirs(imageID string) string {
	store, err := e.Images()
	if err != nil {
		return ""
	}
	img, err := store.Get(imageID)
	if err != nil {
		return ""
	}
	var dirs []string
	seen := map[string]bool{}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		d := filepath.Join(store.Dir(), "layers", strings.TrimPrefix(img.Layers[i], "sha256:"), "diff")
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, ":")
}

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
	Networks: "NETWORKS", Ports: "PORTS", Pid: "PID", header: true,
}

// NewPsEntry describes r for `ps`; without trunc the id is 12 digits and
// the command at most 20 characters, as Docker shows them.
func NewPsEntry(r *Record, now time.Time, trunc bool) PsEntry {
	p := PsEntry{
		ID: r.ID, Names: r.Name, Image: r.Image, State: r.Status, labels: r.Labels,
		CreatedAt:  "N/A",
		RunningFor: HumanSince(r.Created, now),
		Status:     StatusString(r, now),
		Networks:   r.Host.Network,
		Pid:        "-",
	}
	if p.State == "" {
		p.State = StateCreated
	}
	if !r.Created.IsZero() {
		p.CreatedAt = r.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
	}
	if p.Networks == "" {
		p.Networks = "none"
	}
	if r.Status == StateRunning || r.Status == StatePaused {
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

// Ellipsis shortens s to at most n characters, the last one "…".
func Ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// StatusString is the STATUS column of `ps`, as Docker writes it:
// "Up 3 seconds", "Up 5 minutes (Paused)", "Restarting (1) 2 seconds ago",
// "Exited (0) 3 seconds ago", "Created"; a container whose record cannot
// be read is "Damaged (container.json: unexpected end of JSON input)".
func StatusString(r *Record, now time.Time) string {
	up := "Up"
	if !r.StartedAt.IsZero() {
		up += " " + HumanDuration(now.Sub(r.StartedAt))
	}
	switch r.Status {
	case StateRunning:
		return up
	case StatePaused:
		return up + " (Paused)"
	case StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s", r.ExitCode, HumanSince(r.FinishedAt, now))
	case StateExited:
		if r.StartedAt.IsZero() { // it never ran
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s", r.ExitCode, HumanSince(r.FinishedAt, now))
	case "", StateCreated:
		return "Created"
	case StateDamaged:
		return "Damaged (" + r.Damaged + ")"
	}
	return strings.ToUpper(r.Status[:1]) + r.Status[1:]
}

// HumanSince is how long ago t was, as Docker writes it ("3 minutes ago"),
// or "N/A" for the zero time: a time that is not known.
func HumanSince(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return HumanDuration(now.Sub(t)) + " ago"
}

// HumanDuration writes d as Docker does: "Less than a second", "3 seconds",
// "About a minute", "5 minutes", "About an hour", "3 hours", "2 days",
// "3 weeks", "4 months", "2 years".
func HumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// TemplateFuncs are the functions Docker's --format templates have.
var TemplateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", max(before, 0)) + s + strings.Repeat(" ", max(after, 0))
	},
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:max(n, 0)])
		}
		return s
	},
	"println": func(args ...any) string { return fmt.Sprintln(args...) },
}

// ParseTemplate parses a --format template with TemplateFuncs.
func ParseTemplate(text string) (*template.Template, error) {
	t, err := template.New("").Funcs(TemplateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: template %q: %w", ErrInvalidInput, text, err)
	}
	return t, nil
}

// PsFormat is a parsed `ps --format`: "json", "table TEMPLATE" (a header
// line, columns aligned) or a bare template.
type PsFormat struct {
	JSON  bool
	Table bool
	Tmpl  *template.Template
}

// ParsePsFormat reads a ps --format value; "\t" and "\n" written as two
// characters are a tab and a newline, as in Docker.
func ParsePsFormat(s string) (*PsFormat, error) {
	f := &PsFormat{}
	switch t := strings.TrimSpace(s); {
	case t == "json":
		f.JSON = true
		return f, nil
	case t == "table":
		f.Table = true
		s = `{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`
	case strings.HasPrefix(t, "table "):
		f.Table = true
		s = strings.TrimPrefix(t, "table ")
	}
	s = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(s, " "))
	var err error
	f.Tmpl, err = ParseTemplate(s)
	return f, err
}
