package dockerfmt

import (
	"bytes"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/internal/specgen"
)

func sampleRecord() *engine.Record {
	swappiness := uint64(0)
	created := time.Date(2024, 5, 1, 10, 0, 0, 123, time.UTC)
	return &engine.Record{
		ID: strings.Repeat("0123456789abcdef", 4), Name: "web", Image: "/srv/rootfs", Rootfs: "/srv/rootfs",
		Created: created, Status: engine.StateExited, ExitCode: 137, OOMKilled: true,
		StartedAt: created.Add(time.Second), FinishedAt: created.Add(3 * time.Second),
		Labels:  map[string]string{"b": "2", "a": "1"},
		Mounts:  []engine.MountPoint{{Source: "/data", Destination: "/d", RW: false}, {Source: "/logs", Destination: "/l", RW: true}},
		Restart: engine.RestartPolicy{Name: "on-failure", MaxRetries: 3},
		Limits:  specgen.Limits{Memory: 10 << 20, MemorySwap: -1, Swappiness: 0, CPUs: 1.5, PidsLimit: 50, CpusetCpus: "0-1"},
		Host:    engine.HostOptions{Network: "none", CapAdd: []string{"NET_ADMIN"}, User: "1000:1000", ReadOnly: true},
		Spec: &specs.Spec{
			Hostname: "web-host",
			Process:  &specs.Process{Args: []string{"sh", "-c", "echo hi"}, Env: []string{"A=1"}, Cwd: "/app"},
			Linux: &specs.Linux{Resources: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Swappiness: &swappiness},
			}},
		},
	}
}

func TestInspectRecord(t *testing.T) {
	e, err := engine.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord()
	c := Inspect(e, r)
	if c.ID != r.ID || c.Name != "/web" || c.Path != "sh" || strings.Join(c.Args, "|") != "-c|echo hi" {
		t.Errorf("id/name/path/args: %q %q %q %q", c.ID, c.Name, c.Path, c.Args)
	}
	if c.Created != "2024-05-01T10:00:00.000000123Z" {
		t.Errorf("Created %q", c.Created)
	}
	st := c.State
	if st.Status != "exited" || st.Running || !st.OOMKilled || st.ExitCode != 137 || st.Pid != 0 ||
		st.StartedAt != "2024-05-01T10:00:01.000000123Z" || st.FinishedAt != "2024-05-01T10:00:03.000000123Z" {
		t.Errorf("State %+v", st)
	}
	if c.Image != "/srv/rootfs" || c.GraphDriver.Name != "none" || c.GraphDriver.Data["MergedDir"] != "/srv/rootfs" {
		t.Errorf("Image %q GraphDriver %+v", c.Image, c.GraphDriver)
	}
	h := c.HostConfig
	if h.Memory != 10<<20 || h.MemorySwap != -1 || h.MemorySwappiness == nil || *h.MemorySwappiness != 0 ||
		h.NanoCPUs != 1500000000 || h.PidsLimit == nil || *h.PidsLimit != 50 || h.CpusetCpus != "0-1" ||
		h.RestartPolicy != (RestartPolicyJSON{"on-failure", 3}) || !h.ReadonlyRootfs || h.NetworkMode != "none" {
		t.Errorf("HostConfig %+v", h)
	}
	if strings.Join(h.Binds, " ") != "/data:/d:ro /logs:/l" {
		t.Errorf("Binds %q", h.Binds)
	}
	if len(c.Mounts) != 2 || c.Mounts[0] != (MountJSON{Type: "bind", Source: "/data", Destination: "/d", Mode: "ro", RW: false, Propagation: "rprivate"}) || !c.Mounts[1].RW {
		t.Errorf("Mounts %+v", c.Mounts)
	}
	cfg := c.Config
	if cfg.Hostname != "web-host" || cfg.User != "1000:1000" || cfg.WorkingDir != "/app" || cfg.Image != "/srv/rootfs" ||
		strings.Join(cfg.Cmd, " ") != "sh -c echo hi" || cfg.Labels["a"] != "1" {
		t.Errorf("Config %+v", cfg)
	}

	// JSON names are Docker's; an unset swappiness is null.
	r.Spec.Linux.Resources.Memory.Swappiness = nil
	r.Limits.PidsLimit = 0
	b, err := json.Marshal(Inspect(e, r))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Id":"0123`, `"Name":"/web"`, `"OOMKilled":true`, `"MemorySwappiness":null`,
		`"PidsLimit":null`, `"NanoCpus":1500000000`, `"CpuShares":0`, `"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}`,
		`"Binds":["/data:/d:ro","/logs:/l"]`, `"GraphDriver":{"Name":"none","Data":{"MergedDir":"/srv/rootfs"}}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("inspect JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestInspectRecordStates(t *testing.T) {
	e, _ := engine.New(t.TempDir())
	r := sampleRecord()
	r.Status, r.Pid = engine.StatePaused, 42
	if st := Inspect(e, r).State; !st.Running || !st.Paused || st.Pid != 42 {
		t.Errorf("paused: %+v", st)
	}
	r.Status = engine.StateRestarting
	if st := Inspect(e, r).State; !st.Running || !st.Restarting || st.Pid != 0 {
		t.Errorf("restarting: %+v", st)
	}
	r.Status = ""
	if st := Inspect(e, r).State; st.Status != "created" || st.Running {
		t.Errorf("created: %+v", st)
	}
	// An image container: the overlay's directories.
	r.ImageID = "sha256:" + strings.Repeat("f", 64)
	g := Inspect(e, r).GraphDriver
	dir := filepath.Join(e.Root, "containers", r.ID)
	if g.Name != "overlay" || g.Data["UpperDir"] != filepath.Join(dir, "upper") || g.Data["WorkDir"] != filepath.Join(dir, "work") ||
		g.Data["MergedDir"] != filepath.Join(dir, "rootfs") {
		t.Errorf("image container GraphDriver %+v", g)
	}
	if c := Inspect(e, r); c.Image != r.ImageID || c.Config.Image != "/srv/rootfs" {
		t.Errorf("Image %q Config.Image %q", c.Image, c.Config.Image)
	}
}

func TestInspectTemplate(t *testing.T) {
	e, _ := engine.New(t.TempDir())
	c := Inspect(e, sampleRecord())
	for tmpl, want := range map[string]string{
		"{{.State.Status}}":                    "exited",
		"{{.State.OOMKilled}}":                 "true",
		"{{.State.ExitCode}}":                  "137",
		"{{.Name}}":                            "/web",
		"{{json .Config.Cmd}}":                 `["sh","-c","echo hi"]`,
		"{{json .HostConfig.RestartPolicy}}":   `{"Name":"on-failure","MaximumRetryCount":3}`,
		`{{join .Args ","}}`:                   "-c,echo hi",
		"{{upper .State.Status}}":              "EXITED",
		"{{range .Mounts}}{{.Source}} {{end}}": "/data /logs ",
		`{{index .Config.Labels "b"}}`:         "2",
	} {
		tp, err := ParseTemplate(tmpl)
		if err != nil {
			t.Errorf("%s: %v", tmpl, err)
			continue
		}
		var b strings.Builder
		if err := tp.Execute(&b, c); err != nil {
			t.Errorf("%s: %v", tmpl, err)
			continue
		}
		if b.String() != want {
			t.Errorf("%s = %q, want %q", tmpl, b.String(), want)
		}
	}
	if _, err := ParseTemplate("{{.State"); err == nil {
		t.Error("a broken template parsed")
	}
}

func TestWriteInspect(t *testing.T) {
	e, _ := engine.New(t.TempDir())
	c := Inspect(e, sampleRecord())
	write := func(text string) (string, error) {
		tp, err := ParseTemplate(text)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		err = WriteInspectTemplate(&b, tp, c)
		return b.String(), err
	}
	// .Id is the JSON name of the struct's ID: found in the document.
	if got, err := write("{{.Id}} {{.State.Status}}"); err != nil || got != c.ID+" exited\n" {
		t.Errorf("{{.Id}}: %q %v", got, err)
	}
	if got, err := write("{{.Name}}"); err != nil || got != "/web\n" {
		t.Errorf("{{.Name}}: %q %v", got, err)
	}
	// A field neither has is an error, and nothing is written.
	if got, err := write("{{.Nope}}"); err == nil || got != "" || !strings.HasPrefix(err.Error(), "template: ") {
		t.Errorf("{{.Nope}}: %q %v", got, err)
	}

	var b bytes.Buffer
	if err := WriteInspectJSON(&b, []*ContainerJSON{}); err != nil || b.String() != "[]\n" {
		t.Errorf("no container: %q %v", b.String(), err)
	}
	b.Reset()
	if err := WriteInspectJSON(&b, []*ContainerJSON{c}); err != nil {
		t.Fatal(err)
	}
	var back []ContainerJSON
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 1 || back[0].ID != c.ID {
		t.Errorf("JSON array: %v %+v", err, back)
	}
	if !strings.HasPrefix(b.String(), "[\n    {\n        \"Id\": ") {
		t.Errorf("not indented as Docker's:\n%s", b.String())
	}
}

// TestInspectConfig: Config is Docker's container config (the entrypoint
// and the command apart, the container's environment without what the
// engine adds, its anonymous volumes and published ports), and Path and
// Args are the entrypoint and command together; an older record without
// the config shows the same, read from its spec (without an image to tell
// the entrypoint, all is the command).
func TestInspectConfig(t *testing.T) {
	e, _ := engine.New(t.TempDir())
	r := sampleRecord()
	r.Config = &engine.ProcessConfig{
		Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"run", "it"}, Env: []string{"B=run", "PATH=/img/bin"}, WorkingDir: "/w",
	}
	r.Spec.Process = &specs.Process{
		Args: []string{"/entry", "-x", "run", "it"}, Cwd: "/w",
		Env: []string{"PATH=/img/bin", "HOSTNAME=web-host", "TERM=xterm", "HOME=/root", "B=run"},
	}
	r.Host.Tty, r.Host.StopSignal = true, "SIGUSR1"
	r.Ports = []network.PortMapping{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, {ContainerPort: 53, Proto: "udp"}}
	r.Mounts = append(r.Mounts, engine.MountPoint{Type: "volume", Name: "v1", Source: "/vols/v1", Destination: "/anon", RW: true, Anonymous: true},
		engine.MountPoint{Type: "volume", Name: "named", Source: "/vols/named", Destination: "/named", RW: true})
	check := func(name string, c *ContainerJSON, entrypoint, cmd []string) {
		t.Helper()
		cfg := c.Config
		if c.Path != "/entry" || !slices.Equal(c.Args, []string{"-x", "run", "it"}) ||
			!slices.Equal(cfg.Entrypoint, entrypoint) || !slices.Equal(cfg.Cmd, cmd) {
			t.Errorf("%s: Path %q Args %q Entrypoint %q Cmd %q", name, c.Path, c.Args, cfg.Entrypoint, cfg.Cmd)
		}
		slices.Sort(cfg.Env)
		if !slices.Equal(cfg.Env, []string{"B=run", "PATH=/img/bin"}) || cfg.WorkingDir != "/w" || cfg.User != "1000:1000" ||
			cfg.StopSignal != "SIGUSR1" || !cfg.Tty || cfg.Hostname != "web-host" {
			t.Errorf("%s: Config %+v", name, cfg)
		}
		if !maps.Equal(cfg.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}}) ||
			!maps.Equal(cfg.Volumes, map[string]struct{}{"/anon": {}}) || !maps.Equal(cfg.Labels, r.Labels) {
			t.Errorf("%s: ExposedPorts %v Volumes %v Labels %v", name, cfg.ExposedPorts, cfg.Volumes, cfg.Labels)
		}
	}
	check("a record with its config", Inspect(e, r), []string{"/entry", "-x"}, []string{"run", "it"})
	r.Config = nil
	check("an older record", Inspect(e, r), nil, r.Spec.Process.Args)

	// The JSON: Docker's sets; null for no entrypoint, no volume; no
	// ExposedPorts without a port.
	r.Config = &engine.ProcessConfig{Cmd: []string{"sh"}}
	r.Ports, r.Mounts = nil, nil
	b, err := json.Marshal(Inspect(e, r).Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Cmd":["sh"]`, `"Entrypoint":null`, `"Volumes":null`, `"Env":null`, `"StopSignal":"SIGUSR1"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("Config JSON lacks %s: %s", want, b)
		}
	}
	if bytes.Contains(b, []byte("ExposedPorts")) {
		t.Errorf("Config JSON without a port has ExposedPorts: %s", b)
	}
	if c := Inspect(e, r); c.Path != "sh" || c.Args == nil || len(c.Args) != 0 {
		t.Errorf("a command of one word: Path %q Args %#v", c.Path, c.Args)
	}
}
