package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestRunNames: run -d prints the full id; --name names the container, a
// generated adjective_scientist name otherwise; names are unique.
func TestRunNames(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	named := e.runDetached("--name", "my-box.1", rootfsDir, "sleep", "100") // checks the 64-hex id
	if c := e.inspect("my-box.1"); c.ID != named || c.Name != "/my-box.1" {
		t.Errorf("inspect my-box.1: Id %s Name %q", c.ID, c.Name)
	}
	// docker inspect -f '{{.Id}}': the JSON field names work in templates
	// (the Docker CLI falls back to the raw JSON), the Go ones too.
	for _, f := range []string{"{{.Id}}", "{{.ID}}"} {
		if r := e.run("inspect", "-f", f, "my-box.1"); r.code != 0 || r.stdout != named+"\n" {
			t.Errorf("inspect -f %s:\n%s", f, r)
		}
	}
	genRE := regexp.MustCompile(`^[a-z]+_[a-z]+[0-9]*$`)
	seen := map[string]bool{}
	for range 3 {
		id := e.runDetached(rootfsDir, "sleep", "100")
		name := strings.TrimPrefix(e.inspect(id).Name, "/")
		if !genRE.MatchString(name) || seen[name] {
			t.Errorf("generated name %q (seen before: %v)", name, seen[name])
		}
		seen[name] = true
	}
	r := e.mustRun(0, "ps", "--format", "{{.Names}}")
	if got := lines(r.stdout); len(got) != 4 || !slices.Contains(got, "my-box.1") {
		t.Errorf("ps names: %q", got)
	}
	// A name in use, a bad name: 125, nothing created.
	if r := e.run("run", "-d", "--name", "my-box.1", rootfsDir, "true"); r.code != 125 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("run --name of a name in use:\n%s", r)
	}
	if r := e.run("run", "-d", "--name", "bad/name", rootfsDir, "true"); r.code != 125 {
		t.Errorf("run --name bad/name:\n%s", r)
	}
	if n := len(lines(e.mustRun(0, "ps", "-a", "-q").stdout)); n != 4 {
		t.Errorf("after refused runs: %d containers, want 4", n)
	}
}

// TestRunRm: --rm removes the container (record, cgroups, mounts) when it
// exits, in the foreground and detached.
func TestRunRm(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("rmbox:1")
	e.mustRun(0, "import", rootfsDir, "rmbox:1")
	if r := e.mustRun(3, "run", "--rm", "--name", "fg", "rmbox:1", "sh", "-c", "echo bye; exit 3"); r.stdout != "bye\n" {
		t.Errorf("run --rm: %q", r.stdout)
	}
	if r := e.mustRun(0, "ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("run --rm left a container: %q", r.stdout)
	}
	id := e.runDetached("--rm", "rmbox:1", "sh", "-c", "sleep 0.5")
	testutil.WaitFor(t, 30*time.Second, "the --rm container to go", func() bool {
		_, err := os.Stat(filepath.Join(e.root, "containers", id))
		return os.IsNotExist(err)
	})
	e.assertGone(id)
	if r := e.run("inspect", id); r.code != 1 {
		t.Errorf("inspect of a removed --rm container:\n%s", r)
	}
	// The name is free again.
	e.mustRun(0, "run", "--rm", "--name", "fg", "rmbox:1", "true")
	e.checkNoMounts()
}

// TestRunVolumes: -v HOST:CTR (created if missing, shared both ways),
// -v HOST:CTR:ro (writes fail), anonymous -v /data removed by rm -v only.
func TestRunVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	host := filepath.Join(t.TempDir(), "not", "yet")
	ro := t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "given"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.runOut(0, "-v", host+":/vol", "-v", ro+":/ro:ro", rootfsDir, "sh", "-c",
		"echo written > /vol/f; cat /ro/given; echo x > /ro/nope 2>/dev/null || echo ro-refused; mkdir /vol/d")
	if out != "from host\nro-refused\n" {
		t.Errorf("volumes: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(b) != "written\n" {
		t.Errorf("the host does not see the file written in the volume: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(host, "d")); err != nil || !st.IsDir() {
		t.Errorf("the host does not see the directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ro, "nope")); err == nil {
		t.Errorf("a write to a :ro volume reached the host")
	}

	// Anonymous volumes: kept by rm, removed by rm -v.
	a := e.runDetached("-v", "/data", rootfsDir, "sh", "-c", "echo anon > /data/f; sleep 100")
	b := e.runDetached("-v", "/data", rootfsDir, "sh", "-c", "echo anon > /data/f; sleep 100")
	src := func(id string) string {
		c := e.inspect(id)
		if len(c.Mounts) != 1 || c.Mounts[0].Destination != "/data" || !c.Mounts[0].RW {
			t.Fatalf("inspect Mounts of an anonymous volume: %+v", c.Mounts)
		}
		return c.Mounts[0].Source
	}
	sa, sb := src(a), src(b)
	if sa == sb || !strings.HasPrefix(sa, e.root+"/") {
		t.Errorf("anonymous volumes %s and %s: want two, under the root", sa, sb)
	}
	testutil.WaitFor(t, 10*time.Second, "the containers to write their volumes", func() bool {
		_, e1 := os.Stat(filepath.Join(sa, "f"))
		_, e2 := os.Stat(filepath.Join(sb, "f"))
		return e1 == nil && e2 == nil
	})
	e.mustRun(0, "rm", "-f", "-v", a)
	e.assertGone(a)
	if _, err := os.Stat(sa); !os.IsNotExist(err) {
		t.Errorf("rm -v kept the anonymous volume %s: %v", sa, err)
	}
	e.mustRun(0, "rm", "-f", b)
	e.assertGone(b)
	if _, err := os.Stat(filepath.Join(sb, "f")); err != nil {
		t.Errorf("rm without -v removed the anonymous volume: %v", err)
	}
	// The host directory of a named bind is never removed.
	c := e.runDetached("-v", host+":/vol", rootfsDir, "true")
	e.waitStatus(c, "exited", 30*time.Second)
	e.mustRun(0, "rm", "-v", c)
	if _, err := os.Stat(filepath.Join(host, "f")); err != nil {
		t.Errorf("rm -v removed a host directory: %v", err)
	}
}

// TestRunRmVolumes: as Docker does, --rm removes the container's anonymous
// volumes with it (foreground, detached, and a run that could not start),
// and leaves the host directories of named binds.
func TestRunRmVolumes(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	host := t.TempDir()
	vols := filepath.Join(e.root, "volumes")
	noVolumes := func(what string) {
		t.Helper()
		if ents, _ := os.ReadDir(vols); len(ents) != 0 {
			t.Errorf("%s left %d anonymous volumes in %s", what, len(ents), vols)
		}
	}
	if out := e.runOut(0, "--rm", "-v", "/data", "-v", host+":/host", rootfsDir, "sh", "-c", "echo x > /data/f; echo y > /host/f; cat /data/f"); out != "x\n" {
		t.Errorf("run --rm -v /data: %q", out)
	}
	noVolumes("run --rm")
	id := e.runDetached("--rm", "-v", "/data", rootfsDir, "sh", "-c", "echo x > /data/f")
	testutil.WaitFor(t, 30*time.Second, "the --rm container to go", func() bool {
		_, err := os.Stat(filepath.Join(e.root, "containers", id))
		return os.IsNotExist(err)
	})
	noVolumes("run -d --rm")
	for _, args := range [][]string{{"run", "-v", "/data", rootfsDir, "/no/such/program"}, {"run", "-d", "-v", "/data", rootfsDir, "/no/such/program"}} {
		if r := e.run(args...); r.code != 127 {
			t.Errorf("want exit 127:\n%s", r)
		}
		noVolumes(strings.Join(args[:2], " ") + " of a missing program")
	}
	if _, err := os.Stat(filepath.Join(host, "f")); err != nil {
		t.Errorf("--rm removed the host directory of a bind: %v", err)
	}
}

// TestRunOptions: -u, --entrypoint, --env-file, -l.
func TestRunOptions(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	if out := e.runOut(0, "-u", "65534:65534", rootfsDir, "sh", "-c", "id -u; id -g; echo $HOME"); out != "65534\n65534\n/nonexistent\n" {
		t.Errorf("-u 65534:65534: %q", out)
	}
	// The user's home is HOME's default only: -e HOME stays.
	if out := e.runOut(0, "-u", "nobody", "-e", "HOME=/srv", rootfsDir, "sh", "-c", "echo $HOME"); out != "/srv\n" {
		t.Errorf("-u nobody -e HOME=/srv: HOME %q", out)
	}
	if out := e.runOut(0, "-u", "nobody", rootfsDir, "id", "-u"); out != "65534\n" {
		t.Errorf("-u nobody: %q", out)
	}
	if out := e.runOut(0, "-u", "1234", rootfsDir, "sh", "-c", "id -u; id -g"); out != "1234\n0\n" {
		t.Errorf("-u 1234 (no passwd entry): %q", out)
	}
	if out := e.runOut(0, "--entrypoint", "echo", rootfsDir, "from", "entrypoint"); out != "from entrypoint\n" {
		t.Errorf("--entrypoint echo: %q", out)
	}

	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# a comment\nA=1\n\nB=two words\nC=\nA_FROM_HOST\n"), 0o644)
	t.Setenv("A_FROM_HOST", "host value")
	out := e.runOut(0, "--env-file", envFile, "-e", "B=overridden", rootfsDir, "sh", "-c", `echo "$A|$B|${C-unset}|$A_FROM_HOST"`)
	if out != "1|overridden||host value\n" {
		t.Errorf("--env-file: %q", out)
	}
	if r := e.run("run", "--rm", "--env-file", "/nonexistent/env", rootfsDir, "true"); r.code != 125 {
		t.Errorf("--env-file of a missing file:\n%s", r)
	}

	id := e.runDetached("-l", "app=web", "--label", "tier=front end", "-l", "empty=", rootfsDir, "sleep", "100")
	labels := e.inspect(id).Config.Labels
	if labels["app"] != "web" || labels["tier"] != "front end" || len(labels) != 3 {
		t.Errorf("labels: %v", labels)
	}
	if v, ok := labels["empty"]; !ok || v != "" {
		t.Errorf("label empty=: %v", labels)
	}
	if got := e.state(id, `{{index .Config.Labels "tier"}}`); got != "front end" {
		t.Errorf("inspect -f label: %q", got)
	}
}

// TestExecOptions: exec -d, -e, -w, -u.
func TestExecOptions(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	// The rootfs directory is shared by every test: writes go to a volume.
	vol := t.TempDir()
	os.Chmod(vol, 0o755)
	id := e.runDetached("--name", "ex", "-e", "BASE=1", "-w", "/tmp", "-v", vol+":/work", rootfsDir, "sleep", "100")
	if r := e.mustRun(0, "exec", "ex", "sh", "-c", "echo $BASE; pwd; id -u"); r.stdout != "1\n/tmp\n0\n" {
		t.Errorf("exec defaults (the container's env, cwd, user): %q", r.stdout)
	}
	if r := e.mustRun(0, "exec", "-e", "FOO=bar", "-e", "BASE=2", "ex", "sh", "-c", "echo $FOO $BASE"); r.stdout != "bar 2\n" {
		t.Errorf("exec -e: %q", r.stdout)
	}
	if r := e.mustRun(0, "exec", "-w", "/etc", "ex", "pwd"); r.stdout != "/etc\n" {
		t.Errorf("exec -w /etc: %q", r.stdout)
	}
	// As docker exec (runc): a missing working directory is an error.
	if r := e.run("exec", "-w", "/work/new/dir", "ex", "pwd"); r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "/work/new/dir") {
		t.Errorf("exec -w of a missing directory:\n%s", r)
	}
	if r := e.mustRun(0, "exec", "-u", "65534:65534", "ex", "sh", "-c", "id -u; id -g"); r.stdout != "65534\n65534\n" {
		t.Errorf("exec -u 65534:65534: %q", r.stdout)
	}
	if r := e.mustRun(0, "exec", "-u", "nobody", "ex", "id", "-un"); r.stdout != "nobody\n" {
		t.Errorf("exec -u nobody: %q", r.stdout)
	}
	if r := e.mustRun(0, "exec", "-u", "nobody", "ex", "sh", "-c", "touch /root/x 2>/dev/null || echo denied"); r.stdout != "denied\n" {
		t.Errorf("exec -u nobody wrote to /root: %q", r.stdout)
	}
	if r := e.run("exec", "ex", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec status: %s", r)
	}
	if r := e.run("exec", "ex", "nosuchcommand"); r.code != 127 {
		t.Errorf("exec of a missing command: want 127:\n%s", r)
	}

	// exec -d returns at once; the process runs on in the container.
	start := time.Now()
	r := e.mustRun(0, "exec", "-d", "ex", "sh", "-c", "sleep 2; echo done > /work/flag; sleep 100")
	returned := time.Since(start)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("exec -d printed %q %q", r.stdout, r.stderr)
	}
	// The detached process may be reparented to us (see TestExecDetachedParent):
	// have the reaper reap it.
	for _, pid := range containerPids(id) {
		trackPid(pid)
	}
	flag := filepath.Join(vol, "flag")
	if _, err := os.Stat(flag); err == nil && returned < 1500*time.Millisecond {
		t.Errorf("exec -d returned after %s, the flag written after 2s is already there", returned)
	}
	testutil.WaitFor(t, 20*time.Second, "the exec -d process to write its flag", func() bool {
		b, _ := os.ReadFile(flag)
		return string(b) == "done\n"
	})
	// It is a process of the container (rm -f ends it with the container).
	if r := e.mustRun(0, "top", "ex"); !strings.Contains(r.stdout, "sleep 100") || strings.Count(r.stdout, "sleep") < 2 {
		t.Errorf("top does not show the exec -d process:\n%s", r.stdout)
	}
	e.rmf(id)
	if r := e.run("exec", "ex", "true"); r.code != 125 {
		t.Errorf("exec of a removed container:\n%s", r)
	}
}

// TestContainerReferences: every command that names a container takes its
// full id, a unique id prefix or its name; an ambiguous prefix is an error
// listing the candidates.
func TestContainerReferences(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached("--name", "refbox", rootfsDir, "sh", "-c", "echo up; trap 'exit 0' TERM; while :; do sleep 0.1; done")
	for _, ref := range []string{id, id[:7], "refbox"} {
		for _, args := range [][]string{
			{"exec", ref, "true"},
			{"logs", ref},
			{"inspect", "-f", "{{.ID}}", ref},
			{"top", ref},
			{"stats", "--no-stream", ref},
			{"update", "--pids-limit", "60", ref},
			{"pause", ref},
			{"unpause", ref},
			{"kill", "-s", "USR1", ref},
			{"restart", "-t", "5", ref},
			{"stop", "-t", "5", ref},
			{"start", ref},
		} {
			r := e.run(args...)
			if r.code != 0 {
				t.Errorf("by %q:\n%s", ref, r)
			}
			if args[0] == "inspect" && strings.TrimSpace(r.stdout) != id {
				t.Errorf("inspect %s: %q", ref, r.stdout)
			}
		}
		e.waitStatus(id, "running", 30*time.Second)
	}
	for i, ref := range []string{id, id[:7], "refbox"} {
		e.mustRun(0, "kill", ref)
		if r := e.mustRun(0, "wait", ref); r.stdout != "137\n" {
			t.Errorf("wait %s: %q", ref, r.stdout)
		}
		if i < 2 {
			e.mustRun(0, "start", ref)
			e.waitStatus(id, "running", 30*time.Second)
		}
	}
	e.mustRun(0, "rm", id[:9])
	e.assertGone(id)

	// Containers until two ids share their first digit (at most 17).
	byDigit := map[byte][]string{}
	var pair []string
	for pair == nil {
		c := e.runDetached(rootfsDir, "sleep", "100")
		byDigit[c[0]] = append(byDigit[c[0]], c)
		if len(byDigit[c[0]]) == 2 {
			pair = byDigit[c[0]]
		}
	}
	prefix := pair[0][:1]
	for _, args := range [][]string{
		{"inspect", prefix}, {"exec", prefix, "true"}, {"logs", prefix}, {"stop", prefix},
		{"start", prefix}, {"kill", prefix}, {"wait", prefix}, {"pause", prefix}, {"unpause", prefix},
		{"update", "--memory", "64m", prefix}, {"top", prefix}, {"stats", "--no-stream", prefix},
		{"restart", prefix}, {"rm", "-f", prefix},
	} {
		r := e.run(args...)
		if r.code == 0 || !strings.Contains(r.stderr, "ambiguous") ||
			!strings.Contains(r.stderr, pair[0][:12]) || !strings.Contains(r.stderr, pair[1][:12]) {
			t.Errorf("an ambiguous prefix must fail, listing %s and %s:\n%s", pair[0][:12], pair[1][:12], r)
		}
	}
	for _, c := range pair {
		if st := e.state(c, "{{.State.Status}}"); st != "running" {
			t.Errorf("container %s is %s after commands with an ambiguous prefix", c[:12], st)
		}
	}
	// A missing reference.
	if r := e.run("stop", "nosuchbox"); r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("stop nosuchbox:\n%s", r)
	}
}

// TestRunBadInput: options found wrong once the container's record exists
// (a user not in the image, a file volume on a directory) end with 125
// and one line on stderr, and leave no record, mount or cgroup.
func TestRunBadInput(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("bad:1")
	e.mustRun(0, "import", rootfsDir, "bad:1")
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, args := range [][]string{
		{"-u", "nosuchuser", rootfsDir, "true"},
		{"-u", "nosuchuser", "bad:1", "true"},
		{"-d", "-u", "nobody:nosuchgroup", "bad:1", "true"},
		{"--rm", "-u", "nosuchuser", "bad:1", "true"},
		{"-v", file + ":/etc", "bad:1", "true"}, // a file on a directory
	} {
		r := e.run(append([]string{"run"}, args...)...)
		// (A mount is refused by the init, after the start line.)
		errLines := slices.DeleteFunc(lines(r.stderr), func(l string) bool { return strings.HasPrefix(l, "[+] start container with id ") })
		if r.code != 125 || strings.Contains(r.stderr, "panic") || len(errLines) != 1 {
			t.Errorf("want exit 125 and one line on stderr:\n%s", r)
		}
		e.checkNoMounts()
		if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) != 0 {
			t.Errorf("run %q left %d container directories", args, len(ents))
			for _, ent := range ents {
				e.run("rm", "-f", ent.Name())
			}
		}
	}
}

// TestExecDetachedParent: the process of exec -d belongs to the container:
// once the exec command returns, its parent is inside the container (as
// under Docker, where the shim reaps it), not whatever reaps the exec
// command's orphans. Else the container's init, when it is killed, cannot
// finish dying until that outside reaper reaps the process (the kernel
// waits for every process of the pid namespace to be reaped): stop and
// rm -f hang for as long as it does not.
func TestExecDetachedParent(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	id := e.runDetached(rootfsDir, "sleep", "100")
	initPid := e.record(id).Pid
	e.mustRun(0, "exec", "-d", id, "sleep", "99")
	pid := waitContainerProcess(t, id, "sleep\x0099\x00")
	st, _ := testutil.ReadProcStat(pid)
	ppid := st.PPid
	if !slices.Contains(containerPids(id), ppid) {
		t.Errorf("the exec -d process %d has parent %d (%s), outside the container (init %d): "+
			"a reaper outside the container must reap it before the container can die", pid, ppid, comm(ppid), initPid)
	}
	// rm -f ends it with the container, however slow our reaper is.
	start := time.Now()
	e.rmf(id)
	if d := time.Since(start); d > timeout(5*time.Second) {
		t.Errorf("rm -f took %s", d)
	}
}

// waitContainerProcess waits for the process of container id whose
// /proc/PID/cmdline is cmdline, and tracks it (so that the test's cleanup
// does not hang when it is ours).
func waitContainerProcess(t *testing.T, id, cmdline string) int {
	t.Helper()
	var pid int
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("the process %q in the container", cmdline), func() bool {
		for _, p := range containerPids(id) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); string(b) == cmdline {
				pid = p
				return true
			}
		}
		return false
	})
	trackPid(pid)
	return pid
}

// containerPids lists the processes of a container's cgroups.
func containerPids(id string) []int { return testutil.CgroupProcs("/sdocker/" + id) }

func comm(pid int) string {
	if pid == os.Getpid() {
		return "the test process"
	}
	st, _ := testutil.ReadProcStat(pid)
	return st.Comm
}
