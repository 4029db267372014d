package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// exec with arguments and every flag containerd and podman use.
func TestExec(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.spec.Process.Env = append(b.spec.Process.Env, "FROM_CONFIG=yes")
	b.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1111, Hard: 2222}}
	b.createStart()
	initPid := b.state().Pid

	t.Run("args", func(t *testing.T) {
		b := b.sub(t)
		out := b.mustExec("sh", "-c", "echo hello $((6*7)); echo $FROM_CONFIG")
		if got := lines(out); len(got) != 2 || got[0] != "hello 42" || got[1] != "yes" {
			t.Errorf("exec output %q, want hello 42 and the config's env", out)
		}
	})
	t.Run("config rlimits", func(t *testing.T) {
		// runc 1.1 built with Go >= 1.19 fails this: its exec'd process
		// gets the soft NOFILE limit raised to the hard one by the Go
		// runtime of `runc init` (opencontainers/runc#4195, fixed by #4266).
		b := b.sub(t)
		if out := strings.TrimSpace(b.mustExec("sh", "-c", "ulimit -n")); out != "1111" {
			if runcBefore(1, 2) {
				t.Logf("runc %d.%d: exec'd process's ulimit -n = %q (the known bug above)", runcVersion[0], runcVersion[1], out)
				return
			}
			t.Errorf("exec'd process: ulimit -n = %q, want the config's 1111", out)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		b := b.sub(t)
		if r := b.exec("sh", "-c", "exit 3"); r.code != 3 {
			t.Errorf("exit status %d, want 3\n%v", r.code, r)
		}
	})
	t.Run("same namespaces", func(t *testing.T) {
		b := b.sub(t)
		// pid 1 of the exec'd process's pid namespace is the init.
		out := b.mustExec("sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
		if !strings.Contains(out, "while :") {
			t.Errorf("pid 1 seen by exec is %q, not the container's init", out)
		}
		for _, ns := range []string{"mnt", "net", "ipc", "uts", "pid"} {
			want, err := os.Readlink("/proc/" + strconv.Itoa(initPid) + "/ns/" + ns)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSpace(b.mustExec("readlink", "/proc/self/ns/"+ns))
			if got != want {
				t.Errorf("exec'd process is in %s, the init in %s", got, want)
			}
		}
	})
	t.Run("cwd", func(t *testing.T) {
		b := b.sub(t)
		if out := strings.TrimSpace(b.mustExec("--cwd", "/tmp", "--", "pwd")); out != "/tmp" {
			t.Errorf("--cwd /tmp: pwd = %q", out)
		}
		if out := strings.TrimSpace(b.mustExec("--cwd=/etc", "--", "pwd")); out != "/etc" {
			t.Errorf("--cwd=/etc: pwd = %q", out)
		}
	})
	t.Run("env", func(t *testing.T) {
		b := b.sub(t)
		out := b.mustExec("--env", "FOO=bar", "--env", "BAZ=qux", "--", "sh", "-c", "echo $FOO $BAZ")
		if strings.TrimSpace(out) != "bar qux" {
			t.Errorf("--env: got %q", out)
		}
		// --env overrides a variable of the config: the program's
		// environment has it once, with the new value (a program reading
		// it with getenv(3) gets the first one).
		out = b.mustExec("--env", "FROM_CONFIG=overridden", "--", "cat", "/proc/self/environ")
		var vals []string
		for _, kv := range strings.Split(out, "\x00") {
			if v, ok := strings.CutPrefix(kv, "FROM_CONFIG="); ok {
				vals = append(vals, v)
			}
		}
		if strings.Join(vals, ",") != "overridden" {
			t.Errorf("exec --env FROM_CONFIG=overridden: the environment has FROM_CONFIG = %q, want once overridden", vals)
		}
	})
	t.Run("user", func(t *testing.T) {
		b := b.sub(t)
		out := b.mustExec("--user", "1000:1001", "--", "cat", "/proc/self/status")
		if uid := strings.Fields(testutil.StatusField(out, "Uid")); len(uid) != 4 || uid[0] != "1000" || uid[1] != "1000" {
			t.Errorf("--user 1000:1001: Uid %v", uid)
		}
		if gid := strings.Fields(testutil.StatusField(out, "Gid")); len(gid) != 4 || gid[0] != "1001" {
			t.Errorf("--user 1000:1001: Gid %v", gid)
		}
		if eff := testutil.StatusField(out, "CapEff"); eff != "0000000000000000" {
			t.Errorf("a non-root exec has effective capabilities %s", eff)
		}
	})
	t.Run("cap", func(t *testing.T) {
		b := b.sub(t)
		out := b.mustExec("--cap", "CAP_SYS_ADMIN", "--", "cat", "/proc/self/status")
		bit := uint64(1) << 21
		eff, _ := strconv.ParseUint(testutil.StatusField(out, "CapEff"), 16, 64)
		bnd, _ := strconv.ParseUint(testutil.StatusField(out, "CapBnd"), 16, 64)
		if eff&bit == 0 || bnd&bit == 0 {
			t.Errorf("--cap CAP_SYS_ADMIN: CapEff %s CapBnd %s lack it", testutil.StatusField(out, "CapEff"), testutil.StatusField(out, "CapBnd"))
		}
		// CVE-2022-29162: --cap must not reach the inheritable set.
		if inh := testutil.StatusField(out, "CapInh"); inh != "0000000000000000" {
			t.Errorf("--cap CAP_SYS_ADMIN set inheritable capabilities: CapInh %s", inh)
		}
		// The container's own processes keep their set.
		init, _ := os.ReadFile("/proc/" + strconv.Itoa(initPid) + "/status")
		ieff, _ := strconv.ParseUint(testutil.StatusField(string(init), "CapEff"), 16, 64)
		if ieff&bit != 0 {
			t.Errorf("the init has CAP_SYS_ADMIN after an exec --cap")
		}
	})
	t.Run("process file", func(t *testing.T) {
		b := b.sub(t)
		p := specs.Process{
			Args: []string{"sh", "-c", "echo $PF_VAR; pwd; id -u; id -g"},
			Env:  []string{"PATH=/bin", "PF_VAR=from-process-json"},
			Cwd:  "/etc",
			User: specs.User{UID: 123, GID: 456},
		}
		data, _ := json.Marshal(p)
		pf := filepath.Join(b.dir, "process.json")
		if err := os.WriteFile(pf, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := b.mustExec("--process", pf, "--")
		want := []string{"from-process-json", "/etc", "123", "456"}
		if got := lines(out); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("--process: got %q, want %q", got, want)
		}
		out = b.mustExec("--process="+pf, "--")
		if got := lines(out); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("--process=: got %q, want %q", got, want)
		}
	})
	t.Run("detach pid-file", func(t *testing.T) {
		b := b.sub(t)
		pidFile := filepath.Join(b.dir, "exec.pid")
		r := b.withFiles(runOpts{}, "exec", "--detach", "--pid-file", pidFile, b.id, "sh", "-c", "echo detached-ran; exec sleep 1000")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		data, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatalf("--pid-file: %v", err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		b.addPids(pid)
		if pid <= 0 || !testutil.ProcessRunning(pid) {
			t.Fatalf("detached exec's pid %q is not running", data)
		}
		b.waitOutput("detached-ran")
		var pids []int
		json.Unmarshal([]byte(mustRT(t, "ps", "--format", "json", b.id).stdout), &pids)
		found := false
		for _, p := range pids {
			found = found || p == pid
		}
		if !found {
			t.Errorf("detached exec pid %d not in ps %v", pid, pids)
		}
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if !strings.HasPrefix(string(cmd), "sleep\x001000") {
			t.Errorf("pid-file names %q, not the exec'd process", cmd)
		}
	})
	t.Run("tty console-socket", func(t *testing.T) {
		b := b.sub(t)
		// As containerd does it: --detach, the pty master to a socket.
		// (runc refuses --console-socket without --detach.)
		cs := newConsoleSocket(t)
		pidFile := filepath.Join(b.dir, "tty.pid")
		r := b.withFiles(runOpts{}, "exec", "--detach", "--tty", "--console-socket", cs.path, "--pid-file", pidFile, b.id, "sh")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		data, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		b.addPids(pid)
		master := cs.master(t)
		ptyExpectLine(t, master, "echo hi\n", "hi")
		ptyExpectLine(t, master, "tty | grep -q '^/dev/pts/[0-9]*$' && echo tty-ok\n", "tty-ok")
		master.Write([]byte("exit 5\n"))
		if !waitGone(pid, pollTimeout) {
			t.Errorf("the exec'd shell %d did not end after exit", pid)
		}
	})
}

// A container with process.terminal gets its pty through --console-socket.
func TestConsoleSocket(t *testing.T) {
	b := newBundle(t)
	master := b.startShellOnTerminal(t)
	ptyExpectLine(t, master, "echo hi\n", "hi")
	// The shell's stdin, stdout and stderr are the pty; it is the session
	// leader with the pty as controlling terminal.
	ptyExpectLine(t, master, "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty\n", "all-tty")
	ptyExpectLine(t, master, "ls -l /proc/self/fd/0 | grep -q /dev/pts/ && echo pts-ok\n", "pts-ok")
	ptyExpectLine(t, master, "[ \"$(cat /proc/self/stat | cut -d' ' -f7)\" != 0 ] && echo has-ctty\n", "has-ctty")
	master.Write([]byte("exit\n"))
	b.waitStatus("stopped")
}

// ps lists the container's processes (table through ps(1), or JSON pids);
// list lists the containers.
func TestPsAndList(t *testing.T) {
	b := newBundle(t)
	b.sh("sleep 1000 & echo ready; while :; do sleep 1; done")
	b.createStart()
	st := b.state()

	var pids []int
	r := mustRT(t, "ps", "--format", "json", b.id)
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
		t.Fatalf("ps --format json: not a JSON array of pids: %v\n%s", err, r.stdout)
	}
	hasInit := false
	for _, p := range pids {
		hasInit = hasInit || p == st.Pid
	}
	if !hasInit || len(pids) < 2 {
		t.Errorf("ps --format json = %v, want the init %d and its sleep", pids, st.Pid)
	}
	r = mustRT(t, "ps", b.id)
	if ls := lines(r.stdout); len(ls) < 3 || !strings.Contains(ls[0], "PID") || !strings.Contains(r.stdout, strconv.Itoa(st.Pid)) {
		t.Errorf("ps (table): want a header with PID and a line per process\n%s", r.stdout)
	}

	r = mustRT(t, "list")
	if ls := lines(r.stdout); len(ls) < 2 || !strings.Contains(ls[0], "ID") || !strings.Contains(r.stdout, b.id) {
		t.Errorf("list: want a header and %s\n%s", b.id, r.stdout)
	}
	for _, l := range lines(r.stdout) {
		if f := strings.Fields(l); len(f) > 2 && f[0] == b.id && (f[1] != strconv.Itoa(st.Pid) || f[2] != "running") {
			t.Errorf("list line %q: want pid %d running", l, st.Pid)
		}
	}
	r = mustRT(t, "list", "--format", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, r.stdout)
	}
	found := false
	for _, c := range list {
		if c["id"] == b.id {
			found = true
			if c["status"] != "running" || c["bundle"] != b.dir {
				t.Errorf("list --format json entry %v", c)
			}
		}
	}
	if !found {
		t.Errorf("list --format json lacks %s: %s", b.id, r.stdout)
	}
	r = mustRT(t, "list", "-q")
	if !contains(lines(r.stdout), b.id) {
		t.Errorf("list -q lacks %s: %q", b.id, r.stdout)
	}
}

// pause freezes every process (a counter stops); resume thaws them.
func TestPauseResume(t *testing.T) {
	b := newBundle(t)
	b.sh("i=0; echo ready; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done")
	b.createStart()
	pid := b.state().Pid
	counterFile := "/proc/" + strconv.Itoa(pid) + "/root/tmp/counter"
	counter := func() int {
		data, _ := os.ReadFile(counterFile)
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return n
	}
	start := counter()
	testutil.WaitFor(t, pollTimeout, "the counter to advance", func() bool { return counter() > start })

	mustRT(t, "pause", b.id)
	if st := b.state(); st.Status != "paused" {
		t.Errorf("status after pause = %q, want paused", st.Status)
	}
	if cgroupV1() {
		if s := readCgroupFile(t, "freezer", b.cgPath, "freezer.state"); s != "FROZEN" {
			t.Errorf("freezer.state = %s after pause", s)
		}
	}
	c1 := counter()
	time.Sleep(1500 * time.Millisecond)
	if c2 := counter(); c2 != c1 {
		t.Errorf("the counter advanced while paused: %d -> %d", c1, c2)
	}
	if r := rt(t, "pause", b.id); r.code == 0 {
		t.Errorf("pause of a paused container succeeded")
	}

	mustRT(t, "resume", b.id)
	if st := b.state(); st.Status != "running" {
		t.Errorf("status after resume = %q, want running", st.Status)
	}
	c3 := counter()
	testutil.WaitFor(t, pollTimeout, "the counter to advance after resume", func() bool { return counter() > c3 })
	if r := rt(t, "resume", b.id); r.code == 0 {
		t.Errorf("resume of a running container succeeded")
	}

	// A paused container can be killed and deleted.
	mustRT(t, "pause", b.id)
	mustRT(t, "delete", "--force", b.id)
	waitGone(pid, 10*time.Second)
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		t.Errorf("cgroups left after delete --force of a paused container: %v", dirs)
	}
}

// update changes the cgroup files: flags, --resources FILE and --resources -.
func TestUpdate(t *testing.T) {
	if !cgroupV1() {
		t.Skip("the cgroup files checked are v1's")
	}
	b := newBundle(t)
	b.long()
	b.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(256 << 20))}
	b.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(100))}
	b.createStart()
	file := func(ctrl, name string) string { return readCgroupFile(t, ctrl, b.cgPath, name) }
	if got := file("memory", "memory.limit_in_bytes"); got != strconv.Itoa(256<<20) {
		t.Fatalf("memory.limit_in_bytes = %s before update", got)
	}

	mustRT(t, "update", "--memory", strconv.Itoa(64<<20), b.id)
	if got := file("memory", "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("update --memory: memory.limit_in_bytes = %s", got)
	}
	mustRT(t, "update", "--memory="+strconv.Itoa(96<<20), b.id)
	if got := file("memory", "memory.limit_in_bytes"); got != strconv.Itoa(96<<20) {
		t.Errorf("update --memory=: memory.limit_in_bytes = %s", got)
	}
	mustRT(t, "update", "--pids-limit", "50", b.id)
	if got := file("pids", "pids.max"); got != "50" {
		t.Errorf("update --pids-limit: pids.max = %s", got)
	}
	mustRT(t, "update", "--cpu-period", "100000", "--cpu-quota", "50000", b.id)
	if got := file("cpu", "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("update --cpu-quota: cpu.cfs_quota_us = %s", got)
	}
	if got := file("cpu", "cpu.cfs_period_us"); got != "100000" {
		t.Errorf("update --cpu-period: cpu.cfs_period_us = %s", got)
	}

	rf := filepath.Join(b.dir, "resources.json")
	os.WriteFile(rf, []byte(`{"pids":{"limit":42},"cpu":{"shares":512}}`), 0o644)
	mustRT(t, "update", "--resources", rf, b.id)
	if got := file("pids", "pids.max"); got != "42" {
		t.Errorf("update --resources FILE: pids.max = %s", got)
	}
	if got := file("cpu", "cpu.shares"); got != "512" {
		t.Errorf("update --resources FILE: cpu.shares = %s", got)
	}
	r := rtWith(t, runOpts{stdin: strings.NewReader(`{"memory":{"limit":100663296},"pids":{"limit":33}}`)},
		"update", "--resources", "-", b.id)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	if got := file("memory", "memory.limit_in_bytes"); got != "100663296" {
		t.Errorf("update --resources -: memory.limit_in_bytes = %s", got)
	}
	if got := file("pids", "pids.max"); got != "33" {
		t.Errorf("update --resources -: pids.max = %s", got)
	}
	// The new limit holds for the container: 33 processes at most.
	r = b.withFiles(runOpts{}, "exec", b.id, "sh", "-c", "for i in $(seq 1 40); do sleep 30 </dev/null >/dev/null 2>&1 & done; echo spawned")
	if n := len(testutil.CgroupProcs(b.cgPath)); n > 33 {
		t.Errorf("%d processes in the container's cgroup with pids.max 33", n)
	}
	b.addPids(testutil.CgroupProcs(b.cgPath)...)
}

// events --stats prints one JSON stats event with cpu, memory and pids.
func TestEventsStats(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.createStart()
	r := mustRT(t, "events", "--stats", b.id)
	var ev struct {
		Type string                     `json:"type"`
		ID   string                     `json:"id"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("events --stats: not one JSON object: %v\n%s", err, r.stdout)
	}
	if ev.Type != "stats" || ev.ID != b.id {
		t.Errorf("events --stats: type %q id %q, want stats %s", ev.Type, ev.ID, b.id)
	}
	for _, k := range []string{"cpu", "memory", "pids"} {
		if _, ok := ev.Data[k]; !ok {
			t.Errorf("events --stats: data lacks %q: %s", k, r.stdout)
		}
	}
	var pids struct {
		Current uint64 `json:"current"`
	}
	json.Unmarshal(ev.Data["pids"], &pids)
	if pids.Current < 1 {
		t.Errorf("events --stats: pids.current = %d", pids.Current)
	}
	var mem struct {
		Usage struct {
			Usage uint64 `json:"usage"`
		} `json:"usage"`
	}
	json.Unmarshal(ev.Data["memory"], &mem)
	if mem.Usage.Usage == 0 {
		t.Errorf("events --stats: memory.usage.usage = 0: %s", ev.Data["memory"])
	}
}

// features prints valid JSON with ociVersionMax.
func TestFeatures(t *testing.T) {
	requireRoot(t)
	r := rtWith(t, runOpts{noRoot: true}, "features")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var f struct {
		OCIVersionMin string   `json:"ociVersionMin"`
		OCIVersionMax string   `json:"ociVersionMax"`
		Hooks         []string `json:"hooks"`
		MountOptions  []string `json:"mountOptions"`
		Linux         struct {
			Namespaces []string `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("features: not JSON: %v\n%s", err, r.stdout)
	}
	if !strings.HasPrefix(f.OCIVersionMax, "1.") || !strings.HasPrefix(f.OCIVersionMin, "1.") {
		t.Errorf("features: ociVersionMin %q ociVersionMax %q", f.OCIVersionMin, f.OCIVersionMax)
	}
	for _, h := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"} {
		if !contains(f.Hooks, h) {
			t.Errorf("features: hooks lack %s: %v", h, f.Hooks)
		}
	}
	for _, o := range []string{"ro", "nosuid", "nodev", "noexec", "rbind"} {
		if !contains(f.MountOptions, o) {
			t.Errorf("features: mountOptions lack %s", o)
		}
	}
	for _, ns := range []string{"pid", "network", "mount", "ipc", "uts", "cgroup", "user"} {
		if !contains(f.Linux.Namespaces, ns) {
			t.Errorf("features: linux.namespaces lack %s: %v", ns, f.Linux.Namespaces)
		}
	}
}

// spec writes a default config.json (deny-all device rule, the standard
// namespaces) and refuses to overwrite one.
func TestSpec(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	r := rtWith(t, runOpts{noRoot: true}, "spec", "--bundle", dir)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("spec wrote invalid JSON: %v", err)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || s.Process == nil || len(s.Process.Args) == 0 {
		t.Errorf("spec: root %+v process %+v", s.Root, s.Process)
	}
	if s.Linux == nil || s.Linux.Resources == nil || len(s.Linux.Resources.Devices) == 0 ||
		s.Linux.Resources.Devices[0].Allow || s.Linux.Resources.Devices[0].Access != "rwm" ||
		s.Linux.Resources.Devices[0].Type != "" && s.Linux.Resources.Devices[0].Type != "a" {
		t.Errorf("spec: the first device rule is not deny-all: %+v", s.Linux)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	for _, want := range []string{"pid", "network", "ipc", "uts", "mount"} {
		if !contains(ns, want) {
			t.Errorf("spec: namespaces %v lack %s", ns, want)
		}
	}
	if r := rtWith(t, runOpts{noRoot: true}, "spec", "--bundle", dir); r.code == 0 {
		t.Errorf("spec over an existing config.json succeeded")
	}
	// Without --bundle: the working directory.
	dir2 := t.TempDir()
	if r := rtWith(t, runOpts{noRoot: true, dir: dir2}, "spec"); r.code != 0 {
		t.Fatalf("%v", r)
	}
	if _, err := os.Stat(filepath.Join(dir2, "config.json")); err != nil {
		t.Errorf("spec without --bundle: %v", err)
	}
}
