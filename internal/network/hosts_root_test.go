package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// bindHosts bind-mounts m's hosts file on a file of its own, as a
// container's /etc/hosts is, and returns that file's path.
func bindHosts(t *testing.T, m Member) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "etc-hosts")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(m.HostsPath, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", m.HostsPath, target, err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	return target
}

// What a container sees through its bind-mounted /etc/hosts follows every
// join and leave on its network: the files are rewritten in place, never
// replaced (a bind mount keeps the inode it was made on).
func TestJoinLeaveBindMounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	s, n, dir := userNetwork(t, "app", "10.13.0.0/24")
	a := member(t, dir, idA, "a", "10.13.0.2")
	b := member(t, dir, idB, "b", "10.13.0.3")
	c := member(t, dir, idC, "c", "10.13.0.4")
	seen := map[string]string{}
	for _, m := range []Member{a, b} {
		if err := s.Join(n, m); err != nil {
			t.Fatal(err)
		}
		seen[m.Name] = bindHosts(t, m)
	}
	check := func(when, who, want string) {
		t.Helper()
		got, err := os.ReadFile(seen[who])
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.TrimPrefix(string(got), localhostLines); g != want {
			t.Errorf("%s, %s sees:\n%s\nwant:\n%s", when, who, g, want)
		}
	}
	check("a and b", "a", "10.13.0.2\ta aaaaaaaaaaaa\n10.13.0.3\tb bbbbbbbbbbbb\n")
	if err := s.Join(n, c); err != nil {
		t.Fatal(err)
	}
	check("c joined", "a", "10.13.0.2\ta aaaaaaaaaaaa\n10.13.0.3\tb bbbbbbbbbbbb\n10.13.0.4\tc cccccccccccc\n")
	check("c joined", "b", "10.13.0.3\tb bbbbbbbbbbbb\n10.13.0.2\ta aaaaaaaaaaaa\n10.13.0.4\tc cccccccccccc\n")
	if err := s.Leave(n, idA); err != nil {
		t.Fatal(err)
	}
	check("a left", "b", "10.13.0.3\tb bbbbbbbbbbbb\n10.13.0.4\tc cccccccccccc\n")
	check("a left", "a", "")
	if err := s.LeaveAll(idC); err != nil {
		t.Fatal(err)
	}
	check("c stopped", "b", "10.13.0.3\tb bbbbbbbbbbbb\n")
}
