package integration

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestBadInput gives sdocker bad input: each case gets one clear
// "sdocker: ..." line on stderr, Docker's exit status, and leaves no cgroup,
// mount or container record behind.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		args    []string
		nonRoot bool
		code    int
		msg     string // regexp the error line must match
	}{
		{name: "unknown flag", args: []string{"run", "--no-such-flag", rootfsDir, "true"}, code: 125, msg: `no-such-flag`},
		{name: "memory limit 10x", args: []string{"run", "--memory-limit", "10x", rootfsDir, "true"}, code: 125, msg: `memory-limit|10x`},
		{name: "memory 10q", args: []string{"run", "--memory", "10q", rootfsDir, "true"}, code: 125, msg: `memory|10q`},
		{name: "swappiness 101", args: []string{"run", "--memory-swappiness", "101", rootfsDir, "true"}, code: 125, msg: `swappiness`},
		{name: "cpu quota -5", args: []string{"run", "--cpu-quota", "-5", rootfsDir, "true"}, code: 125, msg: `quota`},
		{name: "cpus 1000", args: []string{"run", "--cpus", "1000", rootfsDir, "true"}, code: 125, msg: `--cpus 1000: range of CPUs is from 0.01 to [0-9]+\.00, as there are only [0-9]+ CPUs available`},
		{name: "cpus negative", args: []string{"run", "--cpus", "-2", rootfsDir, "true"}, code: 125, msg: `range of CPUs`},
		{name: "cpus NaN", args: []string{"run", "--cpus", "NaN", rootfsDir, "true"}, code: 125, msg: `--cpus NaN`},
		{name: "cpus and quota", args: []string{"run", "--cpus", "1", "--cpu-quota", "50000", rootfsDir, "true"}, code: 125, msg: `conflicting options: --cpus and --cpu-quota`},
		{name: "memory 5m", args: []string{"run", "--memory", "5m", rootfsDir, "true"}, code: 125, msg: `minimum is 6 MiB`},
		{name: "cpu shares -1", args: []string{"run", "--cpu-shares", "-1", rootfsDir, "true"}, code: 125, msg: `cpu shares -1`},
		{name: "pids limit -5", args: []string{"run", "--pids-limit", "-5", rootfsDir, "true"}, code: 125, msg: `pids limit -5`},
		{name: "cpuset not online", args: []string{"run", "--cpuset-cpus", "4095", rootfsDir, "true"}, code: 125, msg: `cpu`},
		{name: "hostname too long", args: []string{"run", "-n", strings.Repeat("h", 60), rootfsDir, "true"}, code: 125, msg: `hostname`},
		{name: "rootfs missing", args: []string{"run", "/no/such/rootfs", "true"}, code: 125, msg: `/no/such/rootfs`},
		{name: "command not found", args: []string{"run", rootfsDir, "no-such-command"}, code: 127, msg: `no-such-command`},
		{name: "not executable", args: []string{"run", rootfsDir, "/etc/passwd"}, code: 126, msg: `/etc/passwd`},
		{name: "not root", args: []string{"run", rootfsDir, "true"}, nonRoot: true, code: 125, msg: `root`},
		{name: "not root ps", args: []string{"ps"}, nonRoot: true, code: 125, msg: `root`},
		{name: "rm missing", args: []string{"rm", "no-such-container"}, code: 125, msg: `no-such-container`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.sub(t)
			before := allSdockerCgroups()
			o := runOpts{}
			if tc.nonRoot {
				o.bin = nonRootCopy(t)
				o.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
			}
			records := len(e.recordIDs())
			r := e.runWith(o, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			lines := errorLines(r.stderr)
			if len(lines) != 1 || !regexp.MustCompile(tc.msg).MatchString(lines[0]) {
				t.Errorf("want one line \"sdocker: ...\" matching %q on stderr", tc.msg)
			}
			for _, l := range nonEmptyLines(r.stderr) {
				if !strings.HasPrefix(l, "sdocker: ") && !startLine.MatchString(l+"\n") {
					t.Errorf("stderr has more than the error: %q", l)
				}
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("sdocker panicked")
			}
			if r.stdout != "" && tc.args[0] == "run" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if n := len(e.recordIDs()); n != records {
				t.Errorf("a container record was left behind (%d records, want %d)", n, records)
			}
			if id := r.shortID(); id != "" {
				assertNoCgroups(t, id)
			}
			assertNoNewCgroups(t, before)
			if m := testutil.MountsUnder(rootfsDir); len(m) > 0 {
				t.Errorf("mounts left on the rootfs: %q", m)
			}
			if t.Failed() {
				t.Logf("%s", r)
			}
		})
	}
}

// assertNoNewCgroups fails t if a container cgroup appeared since before
// and stays empty: one left by a failed command. (Others' live containers
// have processes; a just-made one is given a second to fill or go.)
func assertNoNewCgroups(t *testing.T, before map[string]bool) {
	t.Helper()
	var left []string
	for d := range allSdockerCgroups() {
		if !before[d] {
			left = append(left, d)
		}
	}
	if len(left) == 0 {
		return
	}
	time.Sleep(time.Second)
	for _, d := range left {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err == nil && strings.TrimSpace(string(b)) == "" {
			t.Errorf("empty cgroup left behind: %s", d)
		}
	}
}

// nonRootCopy copies sdocker where uid 65534 can run it.
func nonRootCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(workDir, "nonroot")
	bin := filepath.Join(dir, "sdocker")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(sdockerBin)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin+".tmp", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}
