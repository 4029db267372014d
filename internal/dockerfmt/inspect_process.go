package dockerfmt

import (
	"strings"

	"github.com/sdocker/sdocker/internal/engine"
)

// ProcessHostConfig are the fields of HostConfig of run's process,
// security and namespace options.
type ProcessHostConfig struct {
	Init         *bool             `json:"Init"`
	IpcMode      string            `json:"IpcMode"`
	PidMode      string            `json:"PidMode"`
	UTSMode      string            `json:"UTSMode"`
	CgroupnsMode string            `json:"CgroupnsMode"`
	UsernsMode   string            `json:"UsernsMode"`
	GroupAdd     []string          `json:"GroupAdd"`
	OomScoreAdj  int               `json:"OomScoreAdj"`
	Ulimits      []UlimitJSON      `json:"Ulimits"`
	Sysctls      map[string]string `json:"Sysctls"`
}

// UlimitJSON is Docker's spelling of an rlimit.
type UlimitJSON struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// inspectProcess fills the process part of c's Config and HostConfig.
func inspectProcess(c *ContainerJSON, r *engine.Record) {
	h := &c.HostConfig.ProcessHostConfig
	init := r.Host.Init
	h.Init = &init
	h.GroupAdd = r.Host.GroupAdd
	h.IpcMode, h.PidMode, h.UTSMode = namespaceMode(r, "ipc"), namespaceMode(r, "pid"), namespaceMode(r, "uts")
	h.CgroupnsMode = "private"
	h.UsernsMode = r.Host.Userns
	if s := r.Spec; s != nil && s.Linux != nil && s.Process != nil {
		h.CgroupnsMode = "host"
		for _, n := range s.Linux.Namespaces {
			if n.Type == "cgroup" {
				h.CgroupnsMode = "private"
			}
		}
		if s.Process.OOMScoreAdj != nil {
			h.OomScoreAdj = *s.Process.OOMScoreAdj
		}
		for _, l := range s.Process.Rlimits {
			h.Ulimits = append(h.Ulimits, UlimitJSON{
				Name: strings.ToLower(strings.TrimPrefix(l.Type, "RLIMIT_")), Soft: int64(l.Soft), Hard: int64(l.Hard),
			})
		}
		h.Sysctls = s.Linux.Sysctl
	}
	c.Config.StopTimeout = r.Host.StopTimeout
}

// namespaceMode is Docker's spelling of a namespace mode of r: private,
// host, or container:ID.
func namespaceMode(r *engine.Record, ns string) string {
	m := map[string]string{"ipc": r.Host.Namespaces.IPC, "pid": r.Host.Namespaces.PID, "uts": r.Host.Namespaces.UTS}[ns]
	if m == "" {
		return "private"
	}
	return m
}
