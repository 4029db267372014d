package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Device rules against the real kernel: a child process in the cgroup
// (devicesChild) tries opens and mknods that the test sends it.

// devicesChild answers requests read from stdin, one a line, with "ok" or
// the errno's name on stdout:
//
//	open PATH r|w|rw               open, then read or write one byte
//	mknod PATH b|c MAJOR MINOR     make the node (and remove it again)
func devicesChild() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		err := deviceRequest(strings.Fields(sc.Text()))
		var errno unix.Errno
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.As(err, &errno):
			fmt.Println(unix.ErrnoName(errno))
		default:
			fmt.Println(strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	os.Exit(0)
}

func deviceRequest(f []string) error {
	switch {
	case len(f) == 3 && f[0] == "open":
		flags := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[f[2]]
		fd, err := unix.Open(f[1], flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if strings.Contains(f[2], "r") {
			if _, err := unix.Read(fd, make([]byte, 1)); err != nil && err != unix.EAGAIN {
				return fmt.Errorf("read: %w", err)
			}
		}
		if strings.Contains(f[2], "w") {
			if _, err := unix.Write(fd, []byte{0}); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	case len(f) == 5 && f[0] == "mknod":
		major, err1 := strconv.ParseUint(f[3], 10, 32)
		minor, err2 := strconv.ParseUint(f[4], 10, 32)
		mode := map[string]uint32{"b": unix.S_IFBLK, "c": unix.S_IFCHR}[f[2]]
		if err1 != nil || err2 != nil || mode == 0 {
			return fmt.Errorf("bad request %q", f)
		}
		if err := unix.Mknod(f[1], mode|0o600, int(unix.Mkdev(uint32(major), uint32(minor)))); err != nil {
			return err
		}
		return unix.Unlink(f[1])
	}
	return fmt.Errorf("bad request %q", f)
}

// deviceProber is a running devicesChild.
type deviceProber struct {
	t   *testing.T
	pid int
	in  io.Writer
	out *bufio.Reader
}

func startDeviceProber(t *testing.T) *deviceProber {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=devices")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &deviceProber{t: t, pid: cmd.Process.Pid, in: in, out: bufio.NewReader(out)}
}

func (p *deviceProber) expect(req, want string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, req); err != nil {
		p.t.Fatalf("%s: %v", req, err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("%s: no answer from the child: %v", req, err)
	}
	if got := strings.TrimSpace(line); got != want {
		p.t.Errorf("in the cgroup: %s: %s, want %s", req, got, want)
	}
}

// expectNot checks that req does not fail with errno bad (the device may
// still refuse for its own reasons, e.g. an unbound loop device).
func (p *deviceProber) expectNot(req, bad string) {
	p.t.Helper()
	fmt.Fprintln(p.in, req)
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("%s: no answer from the child: %v", req, err)
	}
	if got := strings.TrimSpace(line); got == bad {
		p.t.Errorf("in the cgroup: %s: %s", req, got)
	} else {
		p.t.Logf("in the cgroup: %s: %s", req, got)
	}
}

// blockDevice returns a block device of this machine (the first in
// /sys/block), or the loop device 7:0.
func blockDevice(t *testing.T) (major, minor uint32) {
	devs, _ := filepath.Glob("/sys/block/*/dev")
	slices.Sort(devs)
	for _, d := range devs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		M, err1 := strconv.ParseUint(maj, 10, 32)
		m, err2 := strconv.ParseUint(min, 10, 32)
		if ok && err1 == nil && err2 == nil {
			t.Logf("block device %s (%d:%d)", filepath.Base(filepath.Dir(d)), M, m)
			return uint32(M), uint32(m)
		}
	}
	t.Log("no block device in /sys/block: using 7:0 (loop0)")
	return 7, 0
}

// nodeDir makes a directory where device nodes work (not on a nodev
// mount), with a block node "blk" for dev and a char node "full" (1:7,
// what /dev/full is); the test process itself, outside the cgroup, may
// open both.
func nodeDir(t *testing.T, major, minor uint32) string {
	t.Helper()
	try := func(dir string) bool {
		blk, full := filepath.Join(dir, "blk"), filepath.Join(dir, "full")
		if err := unix.Mknod(blk, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
			t.Fatalf("mknod %s: %v", blk, err)
		}
		if err := unix.Mknod(full, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 7))); err != nil {
			t.Fatalf("mknod %s: %v", full, err)
		}
		fd, err := unix.Open(full, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EACCES {
			t.Logf("%s: device nodes do not work there (nodev)", dir)
			return false
		}
		if err != nil {
			t.Fatalf("open %s outside the cgroup: %v", full, err)
		}
		unix.Close(fd)
		fd, err = unix.Open(blk, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == nil {
			unix.Close(fd)
		}
		if err == unix.EPERM || err == unix.EACCES {
			t.Fatalf("open %s outside the cgroup: %v", blk, err)
		}
		t.Logf("outside the cgroup: open %s (%d:%d): %v", blk, major, minor, err)
		return true
	}
	if dir := t.TempDir(); try(dir) {
		return dir
	}
	dir, err := os.MkdirTemp(".", "devices-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if dir, _ = filepath.Abs(dir); !try(dir) {
		t.Fatal("found no directory where device nodes can be opened")
	}
	return dir
}

// devicePrograms lists the ids of the device programs attached to the
// cgroup of m (v2).
func devicePrograms(t *testing.T, m Manager) []uint32 {
	t.Helper()
	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ids, err := attachedDevicesPrograms(fd)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// expectProgramsGone waits until no program of ids exists any more.
func expectProgramsGone(t *testing.T, ids []uint32) {
	t.Helper()
	for _, id := range ids {
		gone, err := waitFor(10*time.Second, func() (bool, error) {
			fd, err := bpfProgFD(id)
			if err == nil {
				unix.Close(fd)
				return false, nil
			}
			return errors.Is(err, unix.ENOENT), nil
		})
		if err != nil || !gone {
			t.Errorf("device program %d still exists (%v)", id, err)
		}
	}
}

// expectDeviceState checks the kernel's side: on v1 devices.list, on v2
// the number of programs attached; it returns their ids.
func expectDeviceState(t *testing.T, m Manager, v1List string, v2Progs int) []uint32 {
	t.Helper()
	if Mode() == 1 {
		expectFile(t, m.Paths()["devices"], "devices.list", v1List)
		return nil
	}
	ids := devicePrograms(t, m)
	if len(ids) != v2Progs {
		t.Errorf("%d device programs attached, want %d", len(ids), v2Progs)
	}
	return ids
}

func TestDevicesCreate(t *testing.T) {
	m, _ := newManager(t)
	major, minor := blockDevice(t)
	dir := nodeDir(t, major, minor)
	if err := m.Create(&specs.LinuxResources{Devices: containerRules()}); err != nil {
		t.Fatal(err)
	}
	ids := expectDeviceState(t, m, "c 1:3 rwm\nc 1:5 rwm", 1)
	p := startDeviceProber(t)
	if err := m.Apply(p.pid); err != nil {
		t.Fatal(err)
	}
	p.expect("open /dev/null rw", "ok")
	p.expect("open /dev/zero rw", "ok")
	p.expect("open "+dir+"/blk r", "EPERM")
	p.expect("open "+dir+"/full r", "EPERM") // a char device not in the list
	p.expect(fmt.Sprintf("mknod %s/blk2 b %d %d", dir, major, minor), "EPERM")
	p.expect(fmt.Sprintf("mknod %s/null2 c 1 3", dir), "ok")
	p.expect(fmt.Sprintf("mknod %s/full2 c 1 7", dir), "EPERM")

	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for ctrl, d := range m.Paths() {
		if exists(d) {
			t.Errorf("%s: %s still exists after Destroy", ctrl, d)
		}
	}
	expectProgramsGone(t, ids) // v2: the program went with the cgroup
}

func TestDevicesSet(t *testing.T) {
	m, _ := newManager(t)
	major, minor := blockDevice(t)
	dir := nodeDir(t, major, minor)
	if err := m.Create(&specs.LinuxResources{Devices: containerRules()}); err != nil {
		t.Fatal(err)
	}
	first := expectDeviceState(t, m, "c 1:3 rwm\nc 1:5 rwm", 1)
	p := startDeviceProber(t)
	if err := m.Apply(p.pid); err != nil {
		t.Fatal(err)
	}
	p.expect("open /dev/null rw", "ok")
	blk := "open " + dir + "/blk r"
	p.expect(blk, "EPERM")

	// Narrower: /dev/zero read-only, /dev/null gone.
	narrow := []specs.LinuxDeviceCgroup{{Access: "rwm"}, devRuleSpec(true, "c", ptr[int64](1), ptr[int64](5), "r")}
	if err := m.Set(&specs.LinuxResources{Devices: narrow}); err != nil {
		t.Fatal(err)
	}
	second := expectDeviceState(t, m, "c 1:5 r", 1)
	if Mode() == 2 && len(second) == 1 && len(first) == 1 && second[0] == first[0] {
		t.Errorf("Set kept program %d", first[0])
	}
	expectProgramsGone(t, first)
	p.expect("open /dev/null rw", "EPERM")
	p.expect("open /dev/zero r", "ok")
	p.expect("open /dev/zero w", "EPERM")
	p.expect("open /dev/zero rw", "EPERM")
	p.expect(blk, "EPERM")

	// Set without device rules leaves them alone; bad rules change nothing.
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](100)}}); err != nil {
		t.Fatal(err)
	}
	hole := []specs.LinuxDeviceCgroup{{Access: "rwm"}, devRuleSpec(true, "c", ptr[int64](1), nil, "rwm"),
		devRuleSpec(false, "c", ptr[int64](1), ptr[int64](1), "rwm")}
	if err := m.Set(&specs.LinuxResources{Devices: hole}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set(a hole) = %v, want ErrInvalid", err)
	}
	expectDeviceState(t, m, "c 1:5 r", 1)
	p.expect("open /dev/zero r", "ok")
	p.expect("open /dev/null r", "EPERM")

	// A deny list: everything but writing to /dev/null.
	denyList := []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, devRuleSpec(false, "c", ptr[int64](1), ptr[int64](3), "w")}
	if err := m.Set(&specs.LinuxResources{Devices: denyList}); err != nil {
		t.Fatal(err)
	}
	expectProgramsGone(t, second)
	second = expectDeviceState(t, m, "a *:* rwm", 1)
	p.expect("open /dev/null r", "ok")
	p.expect("open /dev/null w", "EPERM")
	p.expect("open /dev/null rw", "EPERM")
	p.expect("open /dev/zero rw", "ok")
	p.expectNot(blk, "EPERM")

	// Everything allowed: no program on v2.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}); err != nil {
		t.Fatal(err)
	}
	expectDeviceState(t, m, "a *:* rwm", 0)
	expectProgramsGone(t, second)
	p.expect("open /dev/null rw", "ok")
	p.expectNot(blk, "EPERM")
	p.expect(fmt.Sprintf("mknod %s/blk2 b %d %d", dir, major, minor), "ok")

	// And back to the container's list.
	if err := m.Set(&specs.LinuxResources{Devices: containerRules()}); err != nil {
		t.Fatal(err)
	}
	last := expectDeviceState(t, m, "c 1:3 rwm\nc 1:5 rwm", 1)
	p.expect("open /dev/null rw", "ok")
	p.expect(blk, "EPERM")
	p.expect(fmt.Sprintf("mknod %s/blk2 b %d %d", dir, major, minor), "EPERM")

	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	expectProgramsGone(t, last)
}

// TestDevicesProgramLoads has the kernel's verifier check programs of
// every shape devicesProgram makes (v1 hosts too: loading needs no
// cgroup v2).
func TestDevicesProgramLoads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root (os.Geteuid() != 0)")
	}
	lists := map[string][]specs.LinuxDeviceCgroup{
		"container": containerRules(),
		"deny all":  {{Access: "rwm"}},
		"allow list with partial access and wildcards": {{Access: "rwm"},
			devRuleSpec(true, "c", nil, nil, "m"), devRuleSpec(true, "b", ptr[int64](8), nil, "r"),
			devRuleSpec(true, "c", ptr[int64](136), nil, "rw"), devRuleSpec(true, "a", nil, ptr[int64](9), "w")},
		"deny list with partial access": {{Allow: true, Access: "rwm"},
			devRuleSpec(false, "c", ptr[int64](1), ptr[int64](3), "w"), devRuleSpec(false, "b", nil, nil, "rwm"),
			devRuleSpec(false, "c", nil, ptr[int64](7), "mr")},
		"numbers above 2^31": {{Access: "rwm"},
			devRuleSpec(true, "c", ptr[int64](math.MaxUint32-1), ptr[int64](math.MaxInt32+1), "rwm")},
	}
	for i := range 200 { // a long list
		lists["long"] = append(lists["long"], devRuleSpec(true, "c", ptr[int64](int64(i)), ptr[int64](int64(i)), "rw"))
	}
	for name, rules := range lists {
		p, err := newDevicePolicy(rules)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		prog := devicesProgram(p)
		fd, err := loadDevicesProgram(prog)
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, dumpProgram(prog))
			continue
		}
		unix.Close(fd)
		t.Logf("%s: %d instructions loaded", name, len(prog))
	}
	// And the verifier's log comes with a refusal.
	_, err := loadDevicesProgram([]bpfInsn{{op: opExit}})
	if err == nil || !strings.Contains(err.Error(), "R0 !read_ok") {
		t.Errorf("loading a program without r0 set: %v, want the verifier's log", err)
	} else {
		t.Logf("refused as expected: %v", err)
	}
}
