package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/specgen"
)

func sampleRecord() *Record {
	swappiness := uint64(0)
	created := time.Date(2024, 5, 1, 10, 0, 0, 123, time.UTC)
	return &Record{
		ID: strings.Repeat("0123456789abcdef", 4), Name: "web", Image: "/srv/rootfs", Rootfs: "/srv/rootfs",
		Created: created, Status: StateExited, ExitCode: 137, OOMKilled: true,
		StartedAt: created.Add(time.Second), FinishedAt: created.Add(3 * time.Second),
		Labels:  map[string]string{"b": "2", "a": "1"},
		Mounts:  []MountPoint{{Source: "/data", Destination: "/d", RW: false}, {Source: "/logs", Destination: "/l", RW: true}},
		Restart: RestartPolicy{Name: "on-failure", MaxRetries: 3},
		Limits:  specgen.Limits{Memory: 10 << 20, MemorySwap: -1, Swappiness: 0, CPUs: 1.5, PidsLimit: 50, CpusetCpus: "0-1"},
		Host:    HostOptions{Network: "none", CapAdd: []string{"NET_ADMIN"}, User: "1000:1000", ReadOnly: true},
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
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord()
	c := e.InspectRecord(r)
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
	b, err := json.Marshal(e.InspectRecord(r))
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
	e, _ := New(t.TempDir())
	r := sampleRecord()
	r.Status, r.Pid = StatePaused, 42
	if st := e.InspectRecord(r).State; !st.Running || !st.Paused || st.Pid != 42 {
		t.Errorf("paused: %+v", st)
	}
	r.Status = StateRestarting
	if st := e.InspectRecord(r).State; !st.Running || !st.Restarting || st.Pid != 0 {
		t.Errorf("restarting: %+v", st)
	}
	r.Status = ""
	if st := e.InspectRecord(r).State; st.Status != "created" || st.Running {
		t.Errorf("created: %+v", st)
	}
	// An image container: the overlay's directories.
	r.ImageID = "sha256:" + strings.Repeat("f", 64)
	g := e.InspectRecord(r).GraphDriver
	dir := e.containerDir(r.ID)
	if g.Name != "overlay" || g.Data["UpperDir"] != filepath.Join(dir, "upper") || g.Data["WorkDir"] != filepath.Join(dir, "work") ||
		g.Data["MergedDir"] != filepath.Join(dir, "rootfs") {
		t.Errorf("image container GraphDriver %+v", g)
	}
	if c := e.InspectRecord(r); c.Image != r.ImageID || c.Config.Image != "/srv/rootfs" {
		t.Errorf("Image %q Config.Image %q", c.Image, c.Config.Image)
	}
}

func TestInspectTemplate(t *testing.T) {
	e, _ := New(t.TempDir())
	c := e.InspectRecord(sampleRecord())
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

func TestStatusString(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Status: StateRunning, StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{Record{Status: StatePaused, StartedAt: now.Add(-5 * time.Minute)}, "Up 5 minutes (Paused)"},
		{Record{Status: StateRestarting, ExitCode: 1, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-2 * time.Second)}, "Restarting (1) 2 seconds ago"},
		{Record{Status: StateExited, ExitCode: 0, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-3 * time.Second)}, "Exited (0) 3 seconds ago"},
		{Record{Status: StateExited, ExitCode: 137, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-90 * time.Second)}, "Exited (137) About a minute ago"},
		{Record{Status: StateCreated}, "Created"},
		{Record{Status: StateExited, ExitCode: 127}, "Created"}, // never ran
		// Times that are not known are not 292 years ago.
		{Record{Status: StateRunning}, "Up"},
		{Record{Status: StateExited, ExitCode: 1, StartedAt: now.Add(-time.Hour)}, "Exited (1) N/A"},
		{Record{Status: StateRestarting, ExitCode: 2}, "Restarting (2) N/A"},
		{*damagedRecord(damaged(sampleRecord().ID, "/x/container.json", errors.New("unexpected end of JSON input"))),
			"Damaged (container.json: unexpected end of JSON input)"},
	} {
		if got := StatusString(&tc.r, now); got != tc.want {
			t.Errorf("status of %+v = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestHumanSince(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	if got := HumanSince(time.Time{}, now); got != "N/A" {
		t.Errorf("zero time: %q", got)
	}
	if got := HumanSince(now.Add(-3*time.Minute), now); got != "3 minutes ago" {
		t.Errorf("3 minutes: %q", got)
	}
	// A damaged record: no name, no times.
	p := NewPsEntry(damagedRecord(damaged(sampleRecord().ID, "/x/spec.json", errors.New("empty"))), now, true)
	if p.RunningFor != "N/A" || p.CreatedAt != "N/A" || p.State != StateDamaged || p.Status != "Damaged (spec.json: empty)" || len(p.ID) != 12 {
		t.Errorf("ps entry of a damaged container: %+v", p)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "Less than a second",
		time.Second:            "1 second",
		59 * time.Second:       "59 seconds",
		60 * time.Second:       "About a minute",
		119 * time.Second:      "About a minute",
		2 * time.Minute:        "2 minutes",
		59 * time.Minute:       "59 minutes",
		70 * time.Minute:       "About an hour",
		5 * time.Hour:          "5 hours",
		47 * time.Hour:         "47 hours",
		3 * 24 * time.Hour:     "3 days",
		15 * 24 * time.Hour:    "2 weeks",
		90 * 24 * time.Hour:    "3 months",
		800 * 24 * time.Hour:   "2 years",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPsEntryAndFormat(t *testing.T) {
	r := sampleRecord()
	r.Command = []string{"sh", "-c", "while true; do sleep 1; done"} // what saveSpec keeps of the spec
	now := r.FinishedAt.Add(4 * time.Second)
	p := NewPsEntry(r, now, true)
	if p.ID != "0123456789ab" || p.Names != "web" || p.Image != "/srv/rootfs" || p.State != "exited" ||
		p.Status != "Exited (137) 4 seconds ago" || p.RunningFor != "7 seconds ago" || p.Labels != "a=1,b=2" ||
		p.Mounts != "/data,/logs" || p.Pid != "-" {
		t.Errorf("ps entry %+v", p)
	}
	if want := `"sh -c while true; d…"`; p.Command != want {
		t.Errorf("Command %s, want %s", p.Command, want)
	}
	if full := NewPsEntry(r, now, false); full.ID != r.ID || full.Command != `"sh -c while true; do sleep 1; done"` {
		t.Errorf("--no-trunc: %q %s", full.ID, full.Command)
	}
	if p.Label("b") != "2" || p.Label("zz") != "" || PsHeader.Label("b") != "LABEL" {
		t.Error("Label")
	}
	exec := func(f *PsFormat, v PsEntry) string {
		var b strings.Builder
		if err := f.Tmpl.Execute(&b, v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	f, err := ParsePsFormat(`{{.ID}} {{.Names}} {{.Label "a"}}`)
	if err != nil || f.Table || f.JSON {
		t.Fatalf("ParsePsFormat: %+v %v", f, err)
	}
	if got := exec(f, p); got != "0123456789ab web 1" {
		t.Errorf("template: %q", got)
	}
	f, err = ParsePsFormat(`table {{.Names}}\t{{.Status}}`)
	if err != nil || !f.Table {
		t.Fatalf("table: %+v %v", f, err)
	}
	if got := exec(f, PsHeader); got != "NAMES\tSTATUS" {
		t.Errorf("table header %q", got)
	}
	if got := exec(f, p); got != "web\tExited (137) 4 seconds ago" {
		t.Errorf("table row %q", got)
	}
	if f, err = ParsePsFormat("json"); err != nil || !f.JSON {
		t.Errorf("json: %+v %v", f, err)
	}
	if f, err = ParsePsFormat("table"); err != nil || !f.Table || !strings.HasPrefix(exec(f, PsHeader), "CONTAINER ID\tIMAGE\tCOMMAND") {
		t.Errorf("bare table: %+v %v", f, err)
	}
	if _, err := ParsePsFormat("{{.Nope"); err == nil {
		t.Error("a broken --format parsed")
	}
	// JSON has Docker's field names and no unexported ones.
	b, _ := json.Marshal(p)
	for _, want := range []string{`"ID":"0123456789ab"`, `"Names":"web"`, `"RunningFor":"7 seconds ago"`, `"State":"exited"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("ps json lacks %s: %s", want, b)
		}
	}
}
