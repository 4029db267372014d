package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputLeavesNothing: each bad input of run and create (an unknown
// --mount key, a missing --device, a soft --ulimit above the hard one, a
// host-only --sysctl or any --sysctl with --network host, a --log-opt
// max-size that is no size) is refused with one line and exit 125, before
// anything is made: no container record, cgroup, mount, named or
// anonymous volume.
func TestBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	cgroupsBefore := sdockerCgroups()
	host := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,src=" + host + ",dst=/h,colour=red"}, `unknown key "colour"`},
		{[]string{"--mount", "type=volume,src=badvol2,dst=/w,size=1"}, `unknown key "size"`},
		{[]string{"--mount", "type=tmpfs,dst=/t,tmpfs-colour=1"}, `unknown key "tmpfs-colour"`},
		{[]string{"--device", "/dev/no-such-device"}, "/dev/no-such-device"},
		{[]string{"--device", "/dev/no-such-device:/dev/x:rw"}, "/dev/no-such-device"},
		{[]string{"--ulimit", "nofile=10:5"}, "--ulimit"},
		{[]string{"--sysctl", "kernel.pid_max=100000"}, "--sysctl"},
		{[]string{"--sysctl", "vm.swappiness=10"}, "--sysctl"},
		{[]string{"--sysctl", "net.core.somaxconn=99", "--network", "host"}, "--sysctl"},
		{[]string{"--log-opt", "max-size=abc"}, "max-size"},
		{[]string{"--log-opt", "max-file=x"}, "max-file"},
	} {
		for _, cmd := range [][]string{{"run", "--rm"}, {"run", "-d"}, {"create"}} {
			args := append(append([]string{}, cmd...), "--name", "bad", "-v", "badvol:/bv", "-v", "/anon")
			args = append(append(args, c.args...), rootfsDir, "true")
			e.assertRefused(e.run(args...), c.want)
		}
	}
	checkNoNewCgroups(t, cgroupsBefore)
	if ls := e.mustRun(0, "volume", "ls", "-q").stdout; ls != "" {
		t.Errorf("refused runs left volumes: %q", ls)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "volumes")); len(ents) > 0 {
		t.Errorf("refused runs left %d entries in the volume store", len(ents))
	}
	// The name is still free: nothing holds it.
	e.mustRun(0, "create", "--name", "bad", rootfsDir, "true")
	e.mustRun(0, "rm", "bad")
}

// TestBadInputCpAndVolumeRm: cp to a missing directory, either way, into
// a running and a stopped container, is refused (exit 125) and makes no
// directory on either side; volume rm of a volume a container uses,
// running or not, is refused with Docker's status (1) and leaves the
// volume, its data and the container as they were.
func TestBadInputCpAndVolumeRm(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	host := t.TempDir()
	src := filepath.Join(host, "f")
	if err := os.WriteFile(src, []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.runDetached("--name", "cpbad", "--network", "none", "-v", "busy:/data", rootfsDir, "sh", "-c", "echo kept > /data/k; echo ready; sleep 100")
	e.waitLog(id, 1, timeout(10e9))
	for _, state := range []string{"running", "stopped"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{src, "cpbad:/no/such/f"}, "could not find the file /no/such in container cpbad"},
			{[]string{src, "cpbad:/data/no/such/f"}, "could not find the file /data/no/such in container cpbad"},
			{[]string{"cpbad:/data/k", filepath.Join(host, "missing", "x")}, "could not find the file " + filepath.Join(host, "missing")},
		} {
			r := e.run(append([]string{"cp"}, c.args...)...)
			if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s: want exit 125 and %q:\n%s", state, c.want, r)
			}
		}
		if _, err := os.Stat(filepath.Join(host, "missing")); err == nil {
			t.Errorf("%s: a refused cp made %s", state, filepath.Join(host, "missing"))
		}
		e.checkNoMounts()
		if state == "running" {
			e.mustRun(0, "stop", "-t", "0", "cpbad")
		}
	}
	e.mustRun(0, "start", "cpbad")
	if got := e.mustRun(0, "exec", "cpbad", "sh", "-c", "ls -d /no /data/no 2>&1; cat /data/k").stdout; strings.Contains(got, "/no\n") || !strings.HasSuffix(got, "kept\n") {
		t.Errorf("after the refused cp: %q", got)
	}

	data := filepath.Join(e.root, "volumes", "busy", "_data", "k")
	for _, state := range []string{"running", "stopped"} {
		r := e.run("volume", "rm", "busy")
		if r.code != 1 || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "volume is in use") || !strings.Contains(r.stderr, id[:12]) {
			t.Errorf("%s: volume rm of a volume in use:\n%s", state, r)
		}
		if b, err := os.ReadFile(data); err != nil || string(b) != "kept\n" {
			t.Errorf("%s: a refused volume rm touched the data: %q %v", state, b, err)
		}
		if ls := e.mustRun(0, "volume", "ls", "-q").stdout; ls != "busy\n" {
			t.Errorf("%s: volume ls after a refused rm: %q", state, ls)
		}
		if state == "running" {
			e.mustRun(0, "stop", "-t", "0", "cpbad")
		}
	}
	e.mustRun(0, "start", "cpbad")
	if got := e.mustRun(0, "exec", "cpbad", "cat", "/data/k").stdout; got != "kept\n" {
		t.Errorf("the container after a refused volume rm: %q", got)
	}
	e.rmf(id)
	e.mustRun(0, "volume", "rm", "busy")
}
