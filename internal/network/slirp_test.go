package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Without slirp4netns the error names the package that has it.
func TestStartSlirpMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	_, _, err := StartSlirp("/proc/self/ns/net", filepath.Join(dir, "pid"), filepath.Join(dir, "sock"), nil)
	if err == nil || !strings.Contains(err.Error(), "slirp4netns package") {
		t.Fatalf("StartSlirp without slirp4netns: %v", err)
	}
	if names, _ := os.ReadDir(dir); len(names) > 0 {
		t.Errorf("left in %s: %v", dir, names)
	}
}

// A host port that is taken by the time slirp4netns publishes it fails
// Wait with the port named; StopSlirp then ends slirp4netns (its exit
// pipe) and removes its files, and the port it did publish is free.
func TestSlirpPortTaken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root")
	}
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("no slirp4netns")
	}
	ns := exec.Command("unshare", "-n", "sleep", "60")
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Process.Kill(); _ = ns.Wait() })
	netns := fmt.Sprintf("/proc/%d/ns/net", ns.Process.Pid)
	waitNetns(t, netns)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := uint16(l.Addr().(*net.TCPAddr).Port)
	lo := netip.MustParseAddr("127.0.0.1")
	dir := t.TempDir()
	pidFile, api := filepath.Join(dir, "pid"), filepath.Join(dir, "sock")
	ports := []PortMapping{{HostIP: lo, ContainerPort: 80, Proto: "tcp"}, {HostIP: lo, HostPort: taken, ContainerPort: 81, Proto: "tcp"}}
	s, out, err := StartSlirp(netns, pidFile, api, ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = StopSlirp(pidFile, api, true) })
	err = s.Wait()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d->81/tcp", taken)) {
		t.Fatalf("Wait with port %d taken: %v", taken, err)
	}
	if err := StopSlirp(pidFile, api, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pidFile, api} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	l2, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", out[0].HostPort))
	if err != nil {
		t.Errorf("the published port %d after StopSlirp: %v", out[0].HostPort, err)
	} else {
		l2.Close()
	}
}

// waitNetns waits until the namespace at path is not the caller's: unshare
// has made it.
func waitNetns(t *testing.T, path string) {
	t.Helper()
	var own unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && st.Ino != own.Ino {
			return
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
	t.Fatalf("%s: no namespace of its own", path)
}
