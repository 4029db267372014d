package dockerfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/network"
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
	Tmpfs            map[string]string `json:"Tmpfs,omitempty"`
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
	LogConfig        LogConfigJSON     `json:"LogConfig"`
	ProcessHostConfig
	ResourceHostConfig
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

// ContainerConfig is the Config of ContainerJSON: what runs, as Docker's
// container config has it (the image's config with run's choices over it).
type ContainerConfig struct {
	Hostname     string              `json:"Hostname"`
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Tty          bool                `json:"Tty"`
	OpenStdin    bool                `json:"OpenStdin"`
	StdinOnce    bool                `json:"StdinOnce"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Image        string              `json:"Image"`
	Volumes      map[string]struct{} `json:"Volumes"`
	WorkingDir   string              `json:"WorkingDir"`
	Entrypoint   []string            `json:"Entrypoint"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	StopTimeout  *int                `json:"StopTimeout,omitempty"`
}

// NetworkSettings is the NetworkSettings of ContainerJSON.
type NetworkSettings struct {
	SandboxKey  string                       `json:"SandboxKey"`
	Ports       map[string][]PortBinding     `json:"Ports"`
	Gateway     string                       `json:"Gateway"`
	IPAddress   string                       `json:"IPAddress"`
	IPPrefixLen int                          `json:"IPPrefixLen"`
	MacAddress  string                       `json:"MacAddress"`
	Networks    map[string]*EndpointSettings `json:"Networks"`
}

// timeJSON formats t as Docker does (RFC 3339 in UTC, the zero time for
// "never").
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Inspect describes r, a container of e, as `docker inspect` does.
func Inspect(e *engine.Engine, r *engine.Record) *ContainerJSON {
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
		st.Status = engine.StateCreated
	}
	switch r.Status {
	case engine.StateRunning:
		st.Running, st.Pid = true, r.Pid
	case engine.StatePaused:
		st.Running, st.Paused, st.Pid = true, true, r.Pid
	case engine.StateRestarting:
		// Docker counts a restarting container as running.
		st.Running, st.Restarting = true, true
	}
	st.OOMKilled, st.ExitCode, st.Error = r.OOMKilled, r.ExitCode, r.Error
	st.StartedAt, st.FinishedAt = timeJSON(r.StartedAt), timeJSON(r.FinishedAt)

	inspectConfig(c, e, r)

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
	inspectProcess(c, r)
	inspectLog(c, r)
	inspectResources(c, r)

	// Mounts and binds.
	for _, m := range r.Mounts {
		c.Mounts = append(c.Mounts, mountJSON(m))
		switch {
		case m.Type == "tmpfs":
			if h.Tmpfs == nil {
				h.Tmpfs = map[string]string{}
			}
			h.Tmpfs[m.Destination] = strings.Join(m.TmpfsOptions, ",")
		case m.Type == "volume" && !m.Anonymous:
			h.Binds = append(h.Binds, bindOf(m.Name, m))
		case m.Type == "bind" || m.Type == "" && !m.Anonymous:
			h.Binds = append(h.Binds, bindOf(m.Source, m))
		}
	}

	// GraphDriver.
	if r.ImageID != "" {
		ov := e.Overlay(r)
		c.Driver = "overlay"
		c.GraphDriver = GraphDriverData{Name: "overlay", Data: map[string]string{
			"UpperDir":  ov.Upper,
			"WorkDir":   ov.Work,
			"MergedDir": ov.Merged,
		}}
		if ov.Lower != "" {
			c.GraphDriver.Data["LowerDir"] = ov.Lower
		}
	} else {
		c.Driver = "none"
		c.GraphDriver = GraphDriverData{Name: "none", Data: map[string]string{"MergedDir": r.Rootfs}}
	}
	if r.Host.Network != "host" && st.Pid > 0 {
		c.NetworkSettings.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", st.Pid)
		if len(r.Networks) > 0 {
			c.NetworkSettings.SandboxKey = network.NetnsPath(r.ID)
		}
	}
	networkSettings(&c.NetworkSettings, r)
	return c
}

// inspectConfig fills c's Config, Path and Args.
func inspectConfig(c *ContainerJSON, e *engine.Engine, r *engine.Record) {
	dc := e.DockerConfig(r)
	cfg := &c.Config
	cfg.Image, cfg.Tty, cfg.User, cfg.Env, cfg.WorkingDir = r.Image, r.Host.Tty, dc.User, dc.Env, dc.WorkingDir
	cfg.OpenStdin, cfg.StdinOnce = r.Host.OpenStdin, r.Host.StdinOnce
	cfg.Entrypoint, cfg.Cmd, cfg.StopSignal = dc.Entrypoint, dc.Cmd, dc.StopSignal
	cfg.ExposedPorts, cfg.Volumes = set(dc.ExposedPorts), set(dc.Volumes)
	cfg.Labels = dc.Labels
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	if r.Spec != nil {
		cfg.Hostname = r.Spec.Hostname
	}
	if args := slices.Concat(dc.Entrypoint, dc.Cmd); len(args) > 0 {
		c.Path, c.Args = args[0], args[1:]
	}
}

// WriteInspectJSON writes list (of containers, of networks) as `docker
// inspect` does: a JSON array, with an indent of four spaces.
func WriteInspectJSON(w io.Writer, list any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	return enc.Encode(list)
}

// WriteInspectTemplate writes cj (a container's or a network's JSON) with
// tmpl (see ParseTemplate), then a newline. As Docker's CLI: a field the
// struct lacks under that name (.Id) is looked up in the JSON document
// instead.
func WriteInspectTemplate(w io.Writer, tmpl *template.Template, cj any) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, cj); err != nil {
		var doc map[string]any
		b, _ := json.Marshal(cj)
		buf.Reset()
		strict, _ := tmpl.Clone()
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // 33554432, not 3.3554432e+07
		if dec.Decode(&doc) != nil || strict == nil ||
			strict.Option("missingkey=error").Execute(&buf, doc) != nil {
			return fmt.Errorf("template: %w", err)
		}
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// mountJSON is m as Docker shows a mount.
func mountJSON(m engine.MountPoint) MountJSON {
	mj := MountJSON{Type: "bind", Source: m.Source, Destination: m.Destination, RW: m.RW, Propagation: "rprivate"}
	if m.Propagation != "" {
		mj.Propagation = m.Propagation
	}
	if !m.RW {
		mj.Mode = "ro"
	}
	switch {
	case m.Type == "tmpfs":
		mj.Type, mj.Source, mj.Propagation = "tmpfs", "", ""
	case m.Type == "volume" || m.Type == "" && m.Anonymous:
		mj.Type, mj.Name, mj.Driver, mj.Propagation = "volume", m.Name, "local", ""
		if mj.Name == "" {
			mj.Name = filepath.Base(m.Source)
		}
		if mj.Mode == "" {
			mj.Mode = "z"
		}
	}
	return mj
}

// bindOf is m as a -v of HostConfig.Binds, from source.
func bindOf(source string, m engine.MountPoint) string {
	b := source + ":" + m.Destination
	if !m.RW {
		b += ":ro"
	}
	return b
}
