package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/specgen"
)

// validSpec is the smallest config.json this runtime takes.
func validSpec() *specs.Spec {
	return &specs.Spec{Version: "1.0.2", Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}}
}

// Every config this runtime cannot honour is refused as invalid input,
// naming the field; what the spec lets a runtime ignore goes through.
func TestValidateRefusals(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	for _, c := range []struct {
		mutate func(s *specs.Spec)
		field  string // "": valid
	}{
		{func(s *specs.Spec) {}, ""},
		{func(s *specs.Spec) { s.Version = "1.2.1" }, ""},
		{func(s *specs.Spec) { s.Process = nil }, ""}, // create refuses it later (checkConsole)
		{func(s *specs.Spec) { s.Hostname, s.Annotations = "h", map[string]string{"a": "b"} }, ""},
		{func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} }, ""},
		{func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}} }, ""},
		{func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/data", Options: []string{"rbind", "ro"}}}
		}, ""},
		{func(s *specs.Spec) { s.Version = "" }, "ociVersion"},
		{func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion"},
		{func(s *specs.Spec) { s.Version = "0.9" }, "ociVersion"},
		{func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{func(s *specs.Spec) { s.Root.Path = "" }, "root.path"},
		{func(s *specs.Spec) { s.Linux = nil }, "linux"},
		{func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, "linux.uidMappings"},
		{func(s *specs.Spec) { s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, "linux.uidMappings"},
		{func(s *specs.Spec) { userns(s, 0, 100000, 65536) }, ""},
		{func(s *specs.Spec) {
			userns(s, 0, 100000, 65536)
			s.Linux.Namespaces = s.Linux.Namespaces[1:] // no mount namespace
		}, "linux.namespaces"},
		{func(s *specs.Spec) {
			userns(s, 0, 100000, 65536)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 65535, HostID: 300000, Size: 2})
		}, "linux.uidMappings[1]"},
		{func(s *specs.Spec) { userns(s, 0, 100000, 65536); s.Linux.GIDMappings = nil }, "linux.uidMappings"},
		{func(s *specs.Spec) { userns(s, 1, 100000, 65536) }, "linux.uidMappings"},
		{func(s *specs.Spec) { userns(s, 0, 100000, 10); s.Process.User.UID = 10 }, "process.user.uid"},
		{func(s *specs.Spec) { userns(s, 0, 100000, 10); s.Process.User.AdditionalGids = []uint32{20} }, "process.user"},
		{func(s *specs.Spec) { userns(s, 0, 4294967000, 1000) }, "linux.uidMappings[0]"},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace},
				specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"})
		}, "linux.namespaces"},
		{func(s *specs.Spec) {
			userns(s, 0, 100000, 65536)
			s.Mounts = []specs.Mount{{Destination: "/d", Type: "bind", Source: "/s", Options: []string{"rbind", "idmap"}}}
		}, ""},
		{func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/d", Type: "bind", Options: []string{"idmap"}}}
		}, "mounts[0].options"},
		{func(s *specs.Spec) { s.Linux.MountLabel = "system_u" }, "linux.mountLabel"},
		{func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }, "linux.intelRdt"},
		{func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{} }, "linux.timeOffsets"},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -5}, "boottime": {Secs: 1, Nanosecs: 999999999}}
		}, ""},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace, Path: "/proc/1/ns/time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets"},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, "linux.timeOffsets"},
		{func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
		}, "linux.timeOffsets"},
		{func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{} }, "linux.memoryPolicy"},
		{func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth0": {}} }, "linux.netDevices"},
		{func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}}
		}, "linux.resources.hugepageLimits"},
		{func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx": {}}}
		}, "linux.resources.rdma"},
		{func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}
		}, "linux.resources.unified"},
		{func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, "linux.personality.domain"},
		{func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/ok"}, {Destination: "rel"}} }, "mounts[1].destination"},
		{func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/d", Options: []string{"ro", "idmap"}}} }, "mounts[0].options"},
		{func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/d", Options: []string{"ridmap"}}} }, "mounts[0].options"},
		{func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/d", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}}
		}, "mounts[0].uidMappings"},
		{func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{func(s *specs.Spec) { s.Process.CommandLine = "sh" }, "process.commandLine"},
		{func(s *specs.Spec) { s.Process.Cwd = "work" }, "process.cwd"},
		{func(s *specs.Spec) { s.Process.SelinuxLabel = "l" }, "process.selinuxLabel"},
		{func(s *specs.Spec) { s.Process.ApparmorProfile = "p" }, "process.apparmorProfile"},
		{func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{} }, "process.scheduler"},
		{func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{} }, "process.ioPriority"},
		{func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{} }, "process.execCPUAffinity"},
		{func(s *specs.Spec) { s.Process.User.Username = "u" }, "process.user.username"},
	} {
		s := validSpec()
		c.mutate(s)
		err := Validate(s)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate: %v; want it accepted", err)
		case c.field != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ": "+c.field+": ")):
			t.Errorf("Validate: %v; want ErrInvalid naming %s", err, c.field)
		}
	}
}

// config.json that is not JSON, or not valid, is invalid input that says
// which file; a valid one decodes whole.
func TestParseSpec(t *testing.T) {
	if _, err := parseSpec("/b/config.json", []byte(`{"ociVersion":`)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "parse /b/config.json") {
		t.Errorf("parseSpec of cut JSON: %v; want ErrInvalid naming the file", err)
	}
	if _, err := parseSpec("/b/config.json", []byte(`{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{},"process":{"args":["sh"],"cwd":"."}}`)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "process.cwd") {
		t.Errorf("parseSpec of a relative cwd: %v; want ErrInvalid naming process.cwd", err)
	}
	want := validSpec()
	want.Annotations = map[string]string{"k": "v"}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSpec("config.json", b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseSpec: %+v, %v; want %+v", got, err, want)
	}
}

// readConfig names the file it could not read.
func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := readConfig(dir); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) {
		t.Errorf("readConfig without config.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, b, err := readConfig(dir); err != nil || p != filepath.Join(dir, "config.json") || string(b) != "{}" {
		t.Errorf("readConfig: %q, %q, %v", p, b, err)
	}
}

// The early decode takes from config.json exactly what cloning the init
// needs, as the full decode reads it, and declines what it cannot read
// (the full decode then reports it).
func TestEarlySpec(t *testing.T) {
	full := validSpec()
	full.Process.Terminal = true
	full.Process.Env = []string{"A=1"}
	full.Hostname = "h"
	full.Linux.CgroupsPath = "/x/y"
	full.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}}
	full.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: new(int64)}}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	early, ok := earlySpec(b)
	if !ok {
		t.Fatal("earlySpec declined a valid spec")
	}
	want := &specs.Spec{Process: &specs.Process{Terminal: true},
		Linux: &specs.Linux{Namespaces: full.Linux.Namespaces, CgroupsPath: "/x/y"}}
	if !reflect.DeepEqual(early, want) {
		t.Errorf("earlySpec: %+v; want %+v", early, want)
	}
	if cgroupPath(early, "id") != cgroupPath(full, "id") {
		t.Errorf("cgroup path early %q, full %q", cgroupPath(early, "id"), cgroupPath(full, "id"))
	}
	for _, bad := range []string{``, `{`, `[]`, `{"process":{"args":["sh"]}}`, `{"linux":{}}`, `{"process":null,"linux":{}}`, `{"process":{"terminal":"yes"},"linux":{}}`} {
		if s, ok := earlySpec([]byte(bad)); ok {
			t.Errorf("earlySpec(%q) = %+v; want it declined", bad, s)
		}
	}
}

func TestCgroupPath(t *testing.T) {
	for _, c := range []struct {
		spec *specs.Spec
		want string
	}{
		{&specs.Spec{}, "/sdocker-runc/c1"},
		{&specs.Spec{Linux: &specs.Linux{}}, "/sdocker-runc/c1"},
		{&specs.Spec{Linux: &specs.Linux{CgroupsPath: "/a/b"}}, "/a/b"},
		{&specs.Spec{Linux: &specs.Linux{CgroupsPath: "a/b"}}, "/a/b"},
		{&specs.Spec{Linux: &specs.Linux{CgroupsPath: "/a/../b/"}}, "/b"},
		{&specs.Spec{Linux: &specs.Linux{CgroupsPath: "../../escape"}}, "/escape"},
	} {
		if got := cgroupPath(c.spec, "c1"); got != c.want {
			t.Errorf("cgroupPath(%+v) = %q; want %q", c.spec.Linux, got, c.want)
		}
	}
}

// A terminal needs a console socket and a console socket a terminal; a
// process is required.
func TestCheckConsole(t *testing.T) {
	for _, c := range []struct {
		process  *specs.Process
		socket   string
		refusing string // "": accepted
	}{
		{&specs.Process{}, "", ""},
		{&specs.Process{Terminal: true}, "/run/console.sock", ""},
		{nil, "", "process: a process is required"},
		{&specs.Process{Terminal: true}, "", "process.terminal needs --console-socket"},
		{&specs.Process{}, "/run/console.sock", "--console-socket given but process.terminal is false"},
	} {
		err := checkConsole(&specs.Spec{Process: c.process}, c.socket)
		if c.refusing == "" && err != nil || c.refusing != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.refusing)) {
			t.Errorf("checkConsole(%+v, %q): %v; want %q", c.process, c.socket, err, c.refusing)
		}
	}
}

// The state hooks and `state` see is the spec's: "paused" is not one of
// its statuses, so a paused container shows as running; the fields beyond
// the spec's stay out.
func TestSpecState(t *testing.T) {
	st := newTestState("s")
	st.Status = StatusPaused
	var got map[string]any
	if err := json.Unmarshal(st.specState(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ociVersion": specs.Version, "id": "s", "status": "running", "pid": float64(os.Getpid()),
		"bundle": "/bundles/s", "annotations": map[string]any{"org.example.key": "value"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("specState: %v; want %v", got, want)
	}
	if st.Status != StatusPaused {
		t.Errorf("specState changed the state's status to %q", st.Status)
	}
	st.Status = specs.StateCreated
	if err := json.Unmarshal(st.specState(), &got); err != nil || got["status"] != "created" {
		t.Errorf("specState of a created container: %v, %v", got, err)
	}
}

// The default device rules are appended to a spec's resources, made when
// it has none, after the spec's own rules.
func TestAddDefaultDevices(t *testing.T) {
	s := validSpec()
	addDefaultDevices(s)
	want := &specs.LinuxResources{}
	specgen.AddDefaultDevices(want)
	if !reflect.DeepEqual(s.Linux.Resources, want) || len(want.Devices) == 0 {
		t.Errorf("resources: %+v; want the default rules %+v", s.Linux.Resources, want)
	}
	own := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: new(int64), Access: "r"}
	s = validSpec()
	s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{own}}
	addDefaultDevices(s)
	if d := s.Linux.Resources.Devices; len(d) != len(want.Devices)+1 || !reflect.DeepEqual(d[0], own) || !reflect.DeepEqual(d[1:], want.Devices) {
		t.Errorf("devices: %+v; want the spec's rule, then the defaults", d)
	}
}

// The runtime's hooks of create run in the spec's order: every prestart
// hook, then every createRuntime hook, each given the state with the
// init's pid and the status "creating"; a failing hook stops the ones
// after it. Without hooks there is nothing to run.
func TestCreateRuntimeHooks(t *testing.T) {
	if createRuntimeHooks(newTestState("n")) != nil {
		t.Error("createRuntimeHooks without hooks is not nil")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "order")
	hook := func(name string, code int) specs.Hook {
		// Each hook appends its name and the state it read.
		script := `read -r state; printf '%s %s\n' "$0" "$state" >>` + out + `; exit ` + string(rune('0'+code))
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script, name}}
	}
	st := newTestState("h")
	st.Status = specs.StateCreated // what whileStarting may have written already
	st.Config.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart0", 0), hook("prestart1", 0)}, //nolint:staticcheck // SA1019: a spec may still carry prestart hooks
		CreateRuntime:   []specs.Hook{hook("createRuntime0", 0)},
		CreateContainer: []specs.Hook{hook("createContainer0", 0)}, // the init's: not run here
	}
	run := createRuntimeHooks(st)
	if run == nil {
		t.Fatal("createRuntimeHooks with hooks is nil")
	}
	state, err := run(4242)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.State
	if err := json.Unmarshal(state, &s); err != nil || s.Pid != 4242 || s.Status != specs.StateCreating || s.ID != "h" {
		t.Errorf("state given to the init's hooks: %s, %v", state, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, got, _ := strings.Cut(line, " ")
		names = append(names, name)
		if got != string(state) {
			t.Errorf("%s read the state %s; want %s", name, got, state)
		}
	}
	if want := []string{"prestart0", "prestart1", "createRuntime0"}; !reflect.DeepEqual(names, want) {
		t.Errorf("hooks ran %v; want %v", names, want)
	}
	if st.Status != specs.StateCreated || st.Pid != os.Getpid() {
		t.Errorf("running the hooks changed the state: %+v", st.State)
	}

	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	st.Config.Hooks.Prestart[0] = hook("prestart0", 3) //nolint:staticcheck // SA1019: as above
	if _, err := run(4242); err == nil || !strings.Contains(err.Error(), "hooks.prestart[0]") {
		t.Errorf("a failing prestart hook: %v; want its error naming hooks.prestart[0]", err)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 1 {
		t.Errorf("hooks ran after the failing one: %q", b)
	}
}

// The MUSTs of config.md that parseSpec checks beyond Validate: hooks with
// an absolute path and a positive timeout, one rlimit per type, no empty
// annotation key; a relative mount destination is relative to /.
func TestParseSpecMusts(t *testing.T) {
	zero, five := 0, 5
	for _, c := range []struct {
		mutate func(*specs.Spec)
		field  string // "" : accepted
	}{
		{func(s *specs.Spec) {}, ""},
		{func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: &five}}}
		}, ""},
		{func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "true"}}} }, "hooks.poststop[0].path"},
		{func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/a"}, {Path: "/b", Timeout: &zero}}}
		}, "hooks.createRuntime[1].timeout"},
		{func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE"}, {Type: "RLIMIT_CORE"}, {Type: "RLIMIT_NOFILE"}}
		}, "process.rlimits[2].type"},
		{func(s *specs.Spec) { s.Annotations = map[string]string{"": "v"} }, "annotations"},
	} {
		s := validSpec()
		c.mutate(s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseSpec("/b/config.json", b)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("parseSpec: %v; want it accepted", err)
		case c.field != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ": "+c.field+": ")):
			t.Errorf("parseSpec: %v; want ErrInvalid naming %s", err, c.field)
		}
	}
	s := validSpec()
	s.Mounts = []specs.Mount{{Destination: "rel/dir", Type: "tmpfs"}, {Destination: "/abs", Type: "tmpfs"}}
	b, _ := json.Marshal(s)
	got, err := parseSpec("/b/config.json", b)
	if err != nil || got.Mounts[0].Destination != "/rel/dir" || got.Mounts[1].Destination != "/abs" {
		t.Errorf("relative mount destination: %v %+v", err, got)
	}
}

// userns gives s a new user namespace mapping n ids from c to h, uids and
// gids alike.
func userns(s *specs.Spec, c, h, n uint32) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.UserNamespace})
	m := []specs.LinuxIDMapping{{ContainerID: c, HostID: h, Size: n}}
	s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
}
