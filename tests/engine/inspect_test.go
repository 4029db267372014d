package engine

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

func TestInspectRunning(t *testing.T) {
	e := newEnv(t)
	vol := filepath.Join(e.root, "vol")
	id := e.runDetached("--name", "web", "-l", "tier=front", "--memory", "64m", "--pids-limit", "50",
		"--restart", "on-failure:3", "-v", vol+":/data:ro", "-e", "GREETING=hi", "-w", "/tmp",
		rootfsDir, "sleep", "100")
	c := e.inspect("web")
	rec := e.record(id)

	if c.ID != id || c.Name != "/web" || c.Path != "sleep" || !slices.Equal(c.Args, []string{"100"}) {
		t.Errorf("Id %q Name %q Path %q Args %q", c.ID, c.Name, c.Path, c.Args)
	}
	if created, err := time.Parse(time.RFC3339Nano, c.Created); err != nil || time.Since(created) > time.Minute {
		t.Errorf("Created %q: %v", c.Created, err)
	}
	st := c.State
	if st.Status != "running" || !st.Running || st.Paused || st.Restarting || st.OOMKilled || st.Dead ||
		st.Pid != rec.Pid || st.Pid <= 0 || st.ExitCode != 0 || st.FinishedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("State %+v (record pid %d)", st, rec.Pid)
	}
	if started, err := time.Parse(time.RFC3339Nano, st.StartedAt); err != nil || time.Since(started) > time.Minute {
		t.Errorf("StartedAt %q: %v", st.StartedAt, err)
	}
	if c.Image != rootfsDir || c.Config.Image != rootfsDir {
		t.Errorf("Image %q, Config.Image %q, want %s", c.Image, c.Config.Image, rootfsDir)
	}
	if c.LogPath != filepath.Join(e.root, "containers", id, "container-json.log") {
		t.Errorf("LogPath %q", c.LogPath)
	}
	if _, err := os.Stat(c.LogPath); err != nil {
		t.Errorf("LogPath: %v", err)
	}
	cfg := c.Config
	if !slices.Equal(cfg.Cmd, []string{"sleep", "100"}) || cfg.WorkingDir != "/tmp" || cfg.Labels["tier"] != "front" ||
		!slices.Contains(cfg.Env, "GREETING=hi") || cfg.Tty || !strings.HasPrefix(cfg.Hostname, "sdocker") {
		t.Errorf("Config %+v", cfg)
	}
	h := c.HostConfig
	if h.Memory != 64<<20 || h.PidsLimit == nil || *h.PidsLimit != 50 || h.MemorySwappiness != nil ||
		h.RestartPolicy.Name != "on-failure" || h.RestartPolicy.MaximumRetryCount != 3 || h.AutoRemove ||
		h.NetworkMode != "bridge" || h.Privileged || h.ReadonlyRootfs {
		t.Errorf("HostConfig %+v", h)
	}
	if !slices.Equal(h.Binds, []string{vol + ":/data:ro"}) {
		t.Errorf("Binds %q", h.Binds)
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Type != "bind" || c.Mounts[0].Source != vol || c.Mounts[0].Destination != "/data" ||
		c.Mounts[0].RW || c.Mounts[0].Mode != "ro" {
		t.Errorf("Mounts %+v", c.Mounts)
	}
	if c.GraphDriver.Name != "none" || c.GraphDriver.Data["MergedDir"] != rootfsDir {
		t.Errorf("GraphDriver %+v", c.GraphDriver)
	}

	// The raw JSON: Docker's names, null for what is unset.
	raw := e.mustRun(0, "inspect", id).stdout
	for _, want := range []string{`"Id": "` + id + `"`, `"MemorySwappiness": null`, `"OOMKilled": false`, `"NanoCpus": 0`} {
		if !strings.Contains(raw, want) {
			t.Errorf("inspect output lacks %s:\n%s", want, raw)
		}
	}

	// --format.
	for format, want := range map[string]string{
		"{{.State.Status}}":                  "running",
		"{{.State.Pid}}":                     strconv.Itoa(rec.Pid),
		"{{.Name}} {{.HostConfig.Memory}}":   "/web 67108864",
		"{{json .Config.Cmd}}":               `["sleep","100"]`,
		`{{index .Config.Labels "tier"}}`:    "front",
		"{{json .HostConfig.RestartPolicy}}": `{"Name":"on-failure","MaximumRetryCount":3}`,
	} {
		if r := e.mustRun(0, "inspect", "-f", format, id); r.stdout != want+"\n" {
			t.Errorf("inspect -f %q = %q, want %q", format, r.stdout, want)
		}
	}
	var cfgJSON map[string]any
	if err := json.Unmarshal([]byte(e.mustRun(0, "inspect", "--format", "{{json .Config}}", id).stdout), &cfgJSON); err != nil || cfgJSON["WorkingDir"] != "/tmp" {
		t.Errorf("{{json .Config}}: %v %v", cfgJSON, err)
	}
}

func TestInspectErrors(t *testing.T) {
	e := newEnv(t)
	a := e.runDetached("--name", "a", rootfsDir, "sleep", "100")
	// One missing among two found: both shown, exit 1, an error for the third.
	r := e.run("inspect", "a", "nope", a[:10])
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
		t.Errorf("inspect a nope a: want 2 entries: %v\n%s", err, r)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "no such object: nope") { // as Docker: not a container, image, network or volume
		t.Errorf("inspect with a missing name: want exit 1 and \"no such object: nope\":\n%s", r)
	}
	r = e.run("inspect", "-f", "{{.State.Status}}", "nope", "a")
	if r.code != 1 || r.stdout != "running\n" {
		t.Errorf("inspect -f with a missing one:\n%s", r)
	}
	if r := e.run("inspect", "nope"); r.code != 1 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("inspect of nothing found: want [] and exit 1:\n%s", r)
	}
	if r := e.run("inspect", "-f", "{{.NoSuchField}}", "a"); r.code != 1 || !strings.Contains(r.stderr, "NoSuchField") {
		t.Errorf("a template naming a missing field:\n%s", r)
	}
	if r := e.run("inspect", "-f", "{{.State", "a"); r.code != 1 || !strings.Contains(r.stderr, "template") {
		t.Errorf("a broken template:\n%s", r)
	}
}

// TestInspectOOM: a container the OOM killer ended shows OOMKilled and
// exit code 137.
func TestInspectOOM(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached("--memory-limit", "10485760", "--memory-swappiness", "0", rootfsDir, "memory-test")
	c := e.waitStatus(id, "exited", 60*time.Second)
	st := c.State
	if !st.OOMKilled || st.ExitCode != 137 || st.Running || st.Pid != 0 || st.Error != "" {
		t.Errorf("after the OOM kill: State %+v", st)
	}
	started, err1 := time.Parse(time.RFC3339Nano, st.StartedAt)
	finished, err2 := time.Parse(time.RFC3339Nano, st.FinishedAt)
	if err1 != nil || err2 != nil || !finished.After(started) {
		t.Errorf("StartedAt %q FinishedAt %q", st.StartedAt, st.FinishedAt)
	}
	h := c.HostConfig
	if h.Memory != 10485760 || h.MemorySwappiness == nil || *h.MemorySwappiness != 0 {
		t.Errorf("HostConfig Memory %d MemorySwappiness %v", h.Memory, h.MemorySwappiness)
	}
	if r := e.mustRun(0, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", id); r.stdout != "true 137\n" {
		t.Errorf("inspect -f: %q", r.stdout)
	}
	// Its output went to the log.
	if r := e.mustRun(0, "logs", "--tail", "1", id); !strings.Contains(r.stdout+r.stderr, "malloc") {
		t.Errorf("logs of memory-test: %s", r)
	}
}

// TestInspectStale: when the monitor of a container is killed, the
// container's init (started without a parent-death signal, see
// internal/engine/monitor.go) runs on until the next command: inspect
// kills it, removes its cgroups and reports the container exited.
func TestInspectStale(t *testing.T) {
	e := newEnv(t)
	id := e.runDetached(rootfsDir, "sleep", "100")
	rec := e.record(id)
	if rec.Monitor <= 0 || rec.Pid <= 0 {
		t.Fatalf("record has no monitor or pid: %+v", rec)
	}
	trackPid(rec.Pid) // it becomes ours when the monitor is gone
	if err := syscall.Kill(rec.Monitor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the monitor to die", func() bool { return processGone(rec.Monitor) })
	c := e.inspect(id)
	if c.State.Status != "exited" || c.State.Running || c.State.Pid != 0 || c.State.ExitCode != 137 {
		t.Errorf("after the monitor died: State %+v", c.State)
	}
	testutil.WaitFor(t, 10*time.Second, "the container's init to be killed", func() bool { return processGone(rec.Pid) })
	if d := cgroupDirs(id); len(d) > 0 {
		t.Errorf("cgroups left after the monitor died: %q", d)
	}
}

func TestPsFormat(t *testing.T) {
	e := newEnv(t)
	up := e.runDetached("--name", "up", "-l", "a=1", "-l", "b=2", rootfsDir, "sh", "-c", "echo a long command line; sleep 100")
	down := e.runDetached("--name", "down", rootfsDir, "sh", "-c", "exit 3")
	e.waitStatus(down, "exited", 10*time.Second)

	r := e.mustRun(0, "ps", "--format", "{{.ID}} {{.Names}} {{.State}}")
	if want := up[:12] + " up running\n"; r.stdout != want {
		t.Errorf("ps --format: %q, want %q", r.stdout, want)
	}
	r = e.mustRun(0, "ps", "-a", "--no-trunc", "--format", "{{.ID}}|{{.Names}}|{{.Status}}|{{.Command}}|{{.Labels}}|{{.Label \"b\"}}")
	got := lines(r.stdout)
	if len(got) != 2 {
		t.Fatalf("ps -a --format: %q", r.stdout)
	}
	byName := map[string][]string{}
	for _, l := range got {
		f := strings.Split(l, "|")
		byName[f[1]] = f
	}
	if f := byName["up"]; f == nil || f[0] != up || !strings.HasPrefix(f[2], "Up ") ||
		f[3] != `"sh -c echo a long command line; sleep 100"` || f[4] != "a=1,b=2" || f[5] != "2" {
		t.Errorf("up: %q", f)
	}
	if f := byName["down"]; f == nil || f[0] != down || !strings.HasPrefix(f[2], "Exited (3) ") || !strings.HasSuffix(f[2], " ago") {
		t.Errorf("down: %q", f)
	}
	// Without --no-trunc: 12-digit ids, commands of 20 characters.
	r = e.mustRun(0, "ps", "--format", "{{.Command}}")
	if r.stdout != "\"sh -c echo a long c…\"\n" {
		t.Errorf("truncated command: %q", r.stdout)
	}

	// json: one object per line, Docker's field names.
	r = e.mustRun(0, "ps", "-a", "--format", "json")
	var objs []map[string]string
	for _, l := range lines(r.stdout) {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ps --format json line %q: %v", l, err)
		}
		objs = append(objs, m)
	}
	if len(objs) != 2 {
		t.Fatalf("ps -a --format json: %q", r.stdout)
	}
	for _, m := range objs {
		for _, k := range []string{"ID", "Names", "Image", "Command", "CreatedAt", "RunningFor", "Status", "State", "Labels", "Mounts"} {
			if _, ok := m[k]; !ok {
				t.Errorf("json entry lacks %s: %v", k, m)
			}
		}
		if m["Names"] == "up" && (m["State"] != "running" || m["Image"] != rootfsDir || !strings.HasSuffix(m["RunningFor"], " ago")) {
			t.Errorf("json entry of up: %v", m)
		}
	}

	// table: a header from the field names, aligned columns.
	r = e.mustRun(0, "ps", "-a", "--format", `table {{.Names}}\t{{.State}}`)
	tl := lines(r.stdout)
	if len(tl) != 3 || strings.Join(strings.Fields(tl[0]), " ") != "NAMES STATE" {
		t.Fatalf("ps --format table:\n%s", r.stdout)
	}
	col := strings.Index(tl[0], "STATE")
	for _, l := range tl[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("ps --format table: column not aligned:\n%s", r.stdout)
		}
	}
	// -q wins over --format; the default table is unchanged.
	if r := e.mustRun(0, "ps", "-q", "--format", "{{.Names}}"); r.stdout != up[:12]+"\n" {
		t.Errorf("ps -q --format: %q", r.stdout)
	}
	if r := e.mustRun(0, "ps"); !strings.HasPrefix(r.stdout, "CONTAINER ID") || !strings.Contains(r.stdout, "up") {
		t.Errorf("ps:\n%s", r.stdout)
	}
	if r := e.run("ps", "--format", "{{.Nope"); r.code != 125 {
		t.Errorf("a broken --format:\n%s", r)
	}
}

// TestInspectImage: a container of an image runs on an overlay, and
// inspect names its directories.
func TestInspectImage(t *testing.T) {
	e := newEnv(t)
	e.mustRun(0, "import", rootfsDir, "inspectme:v1")
	t.Cleanup(func() { e.run("rmi", "inspectme:v1") })
	id := e.runDetached("inspectme:v1", "sleep", "100")
	c := e.inspect(id)
	dir := filepath.Join(e.root, "containers", id)
	g := c.GraphDriver
	if c.Driver != "overlay" || g.Name != "overlay" || g.Data["UpperDir"] != filepath.Join(dir, "upper") ||
		g.Data["WorkDir"] != filepath.Join(dir, "work") || g.Data["MergedDir"] != filepath.Join(dir, "rootfs") {
		t.Errorf("GraphDriver %+v", g)
	}
	for _, d := range append(strings.Split(g.Data["LowerDir"], ":"), g.Data["UpperDir"], g.Data["MergedDir"]) {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("GraphDriver directory %q: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(g.Data["MergedDir"], "bin", "sh")); err != nil {
		t.Errorf("MergedDir is not the container's root: %v", err)
	}
	if !strings.HasPrefix(c.Image, "sha256:") || c.Config.Image != "inspectme:v1" {
		t.Errorf("Image %q, Config.Image %q", c.Image, c.Config.Image)
	}
	if r := e.mustRun(0, "ps", "--format", "{{.Image}}"); r.stdout != "inspectme:v1\n" {
		t.Errorf("ps --format {{.Image}}: %q", r.stdout)
	}
}

// TestInspectConfig: Config is Docker's container config: the image's
// config with run's choices over it, the entrypoint and the command apart
// (Path and Args together), the environment of the image and of -e in
// Docker's order without the engine's own variables (HOSTNAME, HOME, TERM),
// the labels, exposed ports and volumes of both, the stop signal; an older
// record without the config shows the same, read from its spec.
func TestInspectConfig(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	archive := filepath.Join(t.TempDir(), "cfg.tar")
	imgEnv := []string{"PATH=/usr/bin:/bin", "IMG=image", "OVER=image"}
	writeDockerArchive(t, archive, []dockerImage{{tags: []string{"cfgimg:1"}, layers: [][]byte{layerTar(t, rootfsDir, nil)}, config: imageConfig{
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo default"}, Env: imgEnv, WorkingDir: "/srv", User: "nobody",
		ExposedPorts: []string{"80/tcp"}, Volumes: []string{"/imgvol"}, Labels: map[string]string{"from": "image", "x": "image"},
		StopSignal: "SIGUSR2",
	}}})
	e.cleanupImage("cfgimg:1")
	e.mustRun(0, "load", "-i", archive)

	// The image's entrypoint, run's command, environment, label, port and
	// volume: a running container.
	id := e.runDetached("-e", "OVER=run", "-e", "NEW=1", "-l", "x=run", "-p", "127.0.0.1::8080", "-v", "/data",
		"cfgimg:1", "exec sleep 100")
	c := e.inspect(id)
	cfg := c.Config
	if c.Path != "/bin/sh" || !slices.Equal(c.Args, []string{"-c", "exec sleep 100"}) ||
		!slices.Equal(cfg.Entrypoint, []string{"/bin/sh", "-c"}) || !slices.Equal(cfg.Cmd, []string{"exec sleep 100"}) {
		t.Errorf("Path %q Args %q Entrypoint %q Cmd %q", c.Path, c.Args, cfg.Entrypoint, cfg.Cmd)
	}
	if want := []string{"OVER=run", "NEW=1", "PATH=/usr/bin:/bin", "IMG=image"}; !slices.Equal(cfg.Env, want) {
		t.Errorf("Env %q, want %q", cfg.Env, want)
	}
	if cfg.WorkingDir != "/srv" || cfg.User != "nobody" || cfg.StopSignal != "SIGUSR2" || cfg.Image != "cfgimg:1" ||
		cfg.Hostname == "" || cfg.Tty || !maps.Equal(cfg.Labels, map[string]string{"from": "image", "x": "run"}) {
		t.Errorf("Config %+v", cfg)
	}
	if !maps.Equal(cfg.ExposedPorts, map[string]struct{}{"80/tcp": {}, "8080/tcp": {}}) ||
		!maps.Equal(cfg.Volumes, map[string]struct{}{"/imgvol": {}, "/data": {}}) {
		t.Errorf("ExposedPorts %v Volumes %v", cfg.ExposedPorts, cfg.Volumes)
	}
	// The container's environment has the engine's variables Config.Env
	// leaves out, HOSTNAME the Config's Hostname.
	if r := e.mustRun(0, "exec", id, "sh", "-c", "echo $HOSTNAME $OVER $NEW $IMG"); r.stdout != cfg.Hostname+" run 1 image\n" {
		t.Errorf("the container's environment: %q (Hostname %q)", r.stdout, cfg.Hostname)
	}
	// Templates, Docker's JSON shapes.
	for format, want := range map[string]string{
		"{{json .Config.Entrypoint}}":                       `["/bin/sh","-c"]`,
		"{{json .Config.Cmd}}":                              `["exec sleep 100"]`,
		"{{.Path}} {{join .Args \"|\"}}":                    "/bin/sh -c|exec sleep 100",
		"{{json .Config.ExposedPorts}}":                     `{"80/tcp":{},"8080/tcp":{}}`,
		"{{range $v, $_ := .Config.Volumes}}{{$v}},{{end}}": "/data,/imgvol,",
		"{{.Config.StopSignal}} {{.Config.WorkingDir}} {{.Config.User}} {{.Config.Image}}": "SIGUSR2 /srv nobody cfgimg:1",
		`{{index .Config.Labels "from"}}`:                                                  "image",
	} {
		if got := e.state(id, format); got != want {
			t.Errorf("inspect -f %q = %q, want %q", format, got, want)
		}
	}
	var whole map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.state(id, "{{json .Config}}")), &whole); err != nil {
		t.Fatalf("{{json .Config}}: %v", err)
	}
	for _, k := range []string{"Hostname", "User", "ExposedPorts", "Tty", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint", "Labels", "StopSignal"} {
		if _, ok := whole[k]; !ok {
			t.Errorf("{{json .Config}} lacks %s: %v", k, whole)
		}
	}

	// --entrypoint (its arguments the command), -t, -u, -w and
	// --stop-signal over the image's; no TERM in Env.
	r := e.mustRun(0, "create", "-t", "--entrypoint", "/bin/echo", "-u", "0", "-w", "/tmp", "--stop-signal", "SIGHUP", "cfgimg:1", "a", "b")
	ep := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { e.remove(ep) })
	c = e.inspect(ep)
	cfg = c.Config
	if c.Path != "/bin/echo" || !slices.Equal(c.Args, []string{"a", "b"}) || !slices.Equal(cfg.Entrypoint, []string{"/bin/echo"}) ||
		!slices.Equal(cfg.Cmd, []string{"a", "b"}) || !slices.Equal(cfg.Env, imgEnv) || !cfg.Tty ||
		cfg.User != "0" || cfg.WorkingDir != "/tmp" || cfg.StopSignal != "SIGHUP" {
		t.Errorf("--entrypoint: Path %q Args %q Config %+v", c.Path, c.Args, cfg)
	}
	// --entrypoint "": no entrypoint (null), the arguments the command.
	r = e.mustRun(0, "create", "--entrypoint", "", "cfgimg:1", "sleep", "1")
	noEP := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { e.remove(noEP) })
	if c := e.inspect(noEP); c.Path != "sleep" || !slices.Equal(c.Args, []string{"1"}) || c.Config.Entrypoint != nil ||
		!slices.Equal(c.Config.Cmd, []string{"sleep", "1"}) {
		t.Errorf("--entrypoint \"\": Path %q Args %q Entrypoint %q Cmd %q", c.Path, c.Args, c.Config.Entrypoint, c.Config.Cmd)
	}
	if raw := e.mustRun(0, "inspect", noEP).stdout; !strings.Contains(raw, `"Entrypoint": null`) {
		t.Errorf("no entrypoint is not null:\n%s", raw)
	}

	// The image's entrypoint and command; the same from an older record
	// without the config (its environment's order aside).
	r = e.mustRun(0, "create", "-t", "cfgimg:1")
	def := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { e.remove(def) })
	c = e.inspect(def)
	if !slices.Equal(c.Config.Entrypoint, []string{"/bin/sh", "-c"}) || !slices.Equal(c.Config.Cmd, []string{"echo default"}) ||
		!slices.Equal(c.Config.Env, imgEnv) {
		t.Errorf("the image's: Entrypoint %q Cmd %q Env %q", c.Config.Entrypoint, c.Config.Cmd, c.Config.Env)
	}
	dropRecordConfig(t, filepath.Join(e.root, "containers", def, "container.json"))
	old := e.inspect(def)
	slices.Sort(old.Config.Env)
	slices.Sort(c.Config.Env)
	if !reflect.DeepEqual(old.Config, c.Config) || old.Path != c.Path || !slices.Equal(old.Args, c.Args) {
		t.Errorf("an older record:\n%+v\nwant\n%+v", old.Config, c.Config)
	}
}

// dropRecordConfig removes the config from a container record, as an
// older sdocker wrote it.
func dropRecordConfig(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["config"]; !ok {
		t.Fatalf("%s has no config: %s", path, b)
	}
	delete(rec, "config")
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
