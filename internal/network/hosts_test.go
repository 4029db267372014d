package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

const idA = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
const idB = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
const idC = "cccccccccccc0000000000000000000000000000000000000000000000000003"

func TestHostsFile(t *testing.T) {
	self := Member{
		ContainerID: idA, Name: "web", Aliases: []string{"www", "web"}, Hostname: "web.example.org",
		Addr: netip.MustParseAddr("172.18.0.2"), ExtraHosts: []string{"db.local:10.0.0.9", "v6=[fd00::1]"},
	}
	others := []Member{
		{ContainerID: idB, Name: "db", Aliases: []string{"database"}, Hostname: "ignored", Addr: netip.MustParseAddr("172.18.0.3")},
		{ContainerID: idC, Name: "cache", ShortID: "cccc", Addr: netip.MustParseAddr("172.18.0.4")},
		{ContainerID: "dddd", Name: "nowhere"},           // no address: no line
		{ContainerID: idA, Name: "web", Addr: self.Addr}, // itself among the others: once
	}
	want := `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
10.0.0.9	db.local
fd00::1	v6
172.18.0.2	web.example.org web www aaaaaaaaaaaa
172.18.0.3	db database bbbbbbbbbbbb
172.18.0.4	cache cccc
`
	if got := string(HostsFile(self, others)); got != want {
		t.Errorf("HostsFile:\n%s\nwant:\n%s", got, want)
	}
	// The default hostname is the short id: said once.
	got := string(HostsFile(Member{ContainerID: idA, Name: "x", Hostname: "aaaaaaaaaaaa", Addr: netip.MustParseAddr("10.1.0.2")}, nil))
	if !strings.HasSuffix(got, "\n10.1.0.2\taaaaaaaaaaaa x\n") {
		t.Errorf("default hostname:\n%s", got)
	}
	// A name that would break the line is left out.
	got = string(HostsFile(Member{ContainerID: idA, Name: "x", Hostname: "evil 1.2.3.4 bank", Aliases: []string{"a#b", "ok"}, Addr: netip.MustParseAddr("10.1.0.2")}, nil))
	if !strings.HasSuffix(got, "\n10.1.0.2\tx ok aaaaaaaaaaaa\n") {
		t.Errorf("bad names:\n%s", got)
	}
	// No address (network none): the localhost lines only.
	if got := string(HostsFile(Member{ContainerID: idA, Name: "x"}, nil)); got != localhostLines {
		t.Errorf("no address:\n%s", got)
	}
}

func TestParseExtraHost(t *testing.T) {
	for in, want := range map[string]string{
		"a:1.2.3.4": "a 1.2.3.4", "a=1.2.3.4": "a 1.2.3.4", "h:fd00::1": "h fd00::1",
		"h:[fd00::2]": "h fd00::2", "h=::1": "h ::1", "h:::ffff:1.2.3.4": "h 1.2.3.4",
	} {
		n, ip, err := ParseExtraHost(in)
		if err != nil || n+" "+ip.String() != want {
			t.Errorf("ParseExtraHost(%q) = %s %s, %v; want %s", in, n, ip, err, want)
		}
	}
	for _, bad := range []string{"", "a", "a:", ":1.2.3.4", "a:1.2.3", "a b:1.2.3.4", "a:host-gateway", "a:fe80::1%eth0", "a#b:1.2.3.4"} {
		if _, _, err := ParseExtraHost(bad); err == nil {
			t.Errorf("ParseExtraHost(%q) accepted", bad)
		}
	}
}

func TestCheckExtraHosts(t *testing.T) {
	gw := netip.MustParseAddr("172.17.0.1")
	got, err := CheckExtraHosts([]string{"a:10.0.0.1", "gw:host-gateway", "b=host-gateway", "c:fd00::1"}, gw)
	if err != nil || strings.Join(got, " ") != "a:10.0.0.1 gw:172.17.0.1 b:172.17.0.1 c:fd00::1" {
		t.Errorf("CheckExtraHosts = %q, %v", got, err)
	}
	if _, err := CheckExtraHosts([]string{"gw:host-gateway"}, netip.Addr{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("host-gateway without a gateway: %v", err)
	}
	for _, bad := range []string{"a", "a:b", "a b:1.2.3.4", ":1.2.3.4"} {
		if _, err := CheckExtraHosts([]string{"ok:1.2.3.4", bad}, gw); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckExtraHosts(%q) = %v", bad, err)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestWriteInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	if err := WriteInPlace(p, []byte("a long first content\nof two lines\n")); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, p)
	for _, c := range []string{"short\n", "", "longer than the short one, and then some\n"} {
		if err := WriteInPlace(p, []byte(c)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != c {
			t.Errorf("content %q, want %q", b, c)
		}
		if inode(t, p) != ino {
			t.Errorf("the file was replaced, not rewritten")
		}
	}
	// Never through a symlink.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(link, []byte("x")); !errors.Is(err, unix.ELOOP) {
		t.Errorf("through a symlink: %v", err)
	}
}

// member is a running container on a network of the test: its hosts file
// in its own directory.
func member(t *testing.T, dir, id, name string, addr string) Member {
	t.Helper()
	cdir := filepath.Join(dir, id)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	return Member{ContainerID: id, Name: name, Addr: netip.MustParseAddr(addr), HostsPath: filepath.Join(cdir, "hosts")}
}

// userNetwork is a user-defined network in a store of its own, and a
// directory for its members' container directories.
func userNetwork(t *testing.T, name, subnet string) (*Store, *Network, string) {
	t.Helper()
	s := testStore(t)
	n, err := s.Create(CreateOptions{Name: name, Subnet: subnet})
	if err != nil {
		t.Fatal(err)
	}
	return s, n, t.TempDir()
}

func hostsOfFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(b), localhostLines)
}

func TestJoinLeave(t *testing.T) {
	s, n, dir := userNetwork(t, "app", "10.9.0.0/24")
	a := member(t, dir, idA, "a", "10.9.0.2")
	b := member(t, dir, idB, "b", "10.9.0.3")
	b.Aliases = []string{"bee"}
	if err := s.Join(n, a); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, a.HostsPath); got != "10.9.0.2\ta aaaaaaaaaaaa\n" {
		t.Errorf("a alone:\n%s", got)
	}
	inoA := inode(t, a.HostsPath)
	// b joins later: a resolves b, b resolves a.
	if err := s.Join(n, b); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, a.HostsPath); got != "10.9.0.2\ta aaaaaaaaaaaa\n10.9.0.3\tb bee bbbbbbbbbbbb\n" {
		t.Errorf("a with b:\n%s", got)
	}
	if got := hostsOfFile(t, b.HostsPath); got != "10.9.0.3\tb bee bbbbbbbbbbbb\n10.9.0.2\ta aaaaaaaaaaaa\n" {
		t.Errorf("b with a:\n%s", got)
	}
	inoB := inode(t, b.HostsPath)
	ms, err := s.Members(n)
	if err != nil || len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" || ms[0].Network != "app" {
		t.Errorf("Members = %+v, %v", ms, err)
	}
	// b leaves: a no longer resolves it, b resolves nobody.
	if err := s.Leave(n, idB); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, a.HostsPath); got != "10.9.0.2\ta aaaaaaaaaaaa\n" {
		t.Errorf("a after b left:\n%s", got)
	}
	if got := hostsOfFile(t, b.HostsPath); got != "" {
		t.Errorf("b after it left:\n%s", got)
	}
	if inode(t, a.HostsPath) != inoA || inode(t, b.HostsPath) != inoB {
		t.Error("a hosts file was replaced, not rewritten")
	}
	// Leaving again, or a network never joined, is no error.
	if err := s.Leave(n, idB); err != nil {
		t.Error(err)
	}
	if ms, _ := s.Members(n); len(ms) != 1 {
		t.Errorf("members after leave: %+v", ms)
	}
}

// A container on two networks resolves the members of both; one on the
// default network only resolves nobody; a container removed without
// leaving (its directory gone) does not stop the others' rewrite.
func TestJoinSeveralNetworks(t *testing.T) {
	s := testStore(t)
	dir := t.TempDir()
	front, err := s.Create(CreateOptions{Name: "front", Subnet: "10.10.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Create(CreateOptions{Name: "back", Subnet: "10.11.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	def, err := s.Default()
	if err != nil {
		t.Fatal(err)
	}
	web := member(t, dir, idA, "web", "10.10.0.2")
	db := member(t, dir, idB, "db", "10.11.0.2")
	api := member(t, dir, idC, "api", "10.10.0.3")
	apiBack := api
	apiBack.Addr = netip.MustParseAddr("10.11.0.3")
	for _, j := range []struct {
		n *Network
		m Member
	}{{front, web}, {back, db}, {front, api}, {back, apiBack}} {
		if err := s.Join(j.n, j.m); err != nil {
			t.Fatal(err)
		}
	}
	if got := hostsOfFile(t, api.HostsPath); got != "10.10.0.3\tapi cccccccccccc\n10.11.0.2\tdb bbbbbbbbbbbb\n10.10.0.2\tweb aaaaaaaaaaaa\n" &&
		got != "10.10.0.3\tapi cccccccccccc\n10.10.0.2\tweb aaaaaaaaaaaa\n10.11.0.2\tdb bbbbbbbbbbbb\n" {
		t.Errorf("api on both:\n%s", got)
	}
	if got := hostsOfFile(t, web.HostsPath); got != "10.10.0.2\tweb aaaaaaaaaaaa\n10.10.0.3\tapi cccccccccccc\n" {
		t.Errorf("web on front:\n%s", got)
	}
	if got := hostsOfFile(t, db.HostsPath); got != "10.11.0.2\tdb bbbbbbbbbbbb\n10.11.0.3\tapi cccccccccccc\n" {
		t.Errorf("db on back:\n%s", got)
	}
	// api leaves back (a disconnect): it still resolves web, not db.
	if err := s.Leave(back, idC); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, api.HostsPath); got != "10.10.0.3\tapi cccccccccccc\n10.10.0.2\tweb aaaaaaaaaaaa\n" {
		t.Errorf("api after leaving back:\n%s", got)
	}
	if got := hostsOfFile(t, db.HostsPath); got != "10.11.0.2\tdb bbbbbbbbbbbb\n" {
		t.Errorf("db after api left:\n%s", got)
	}
	// On the default network nobody is resolved by name.
	other := member(t, dir, "eeeeeeeeeeee", "other", "172.17.0.5")
	if err := s.Join(def, other); err != nil {
		t.Fatal(err)
	}
	webDef := web
	webDef.Addr = netip.MustParseAddr("172.17.0.6")
	if err := s.Join(def, webDef); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, other.HostsPath); got != "172.17.0.5\tother eeeeeeeeeeee\n" {
		t.Errorf("other on the default network:\n%s", got)
	}
	// web's own line stays its first network's address.
	if got := hostsOfFile(t, web.HostsPath); got != "10.10.0.2\tweb aaaaaaaaaaaa\n10.10.0.3\tapi cccccccccccc\n" {
		t.Errorf("web on front and the default:\n%s", got)
	}
	// web's directory goes without a leave; api stops (LeaveAll).
	if err := os.RemoveAll(filepath.Dir(web.HostsPath)); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveAll(idC); err != nil {
		t.Fatal(err)
	}
	if nets, err := s.NetworksOf(idC); err != nil || len(nets) != 0 {
		t.Errorf("api still on %v, %v", nets, err)
	}
	if nets, err := s.NetworksOf(idA); err != nil || len(nets) != 2 {
		t.Errorf("web on %v, %v", nets, err)
	}
	if _, err := os.Stat(web.HostsPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hosts file of a removed container was made again: %v", err)
	}
}

// Containers joining and leaving at once (each with its own Store, as
// separate commands): every hosts file ends up naming exactly the members
// that are left.
func TestJoinLeaveConcurrent(t *testing.T) {
	s, n, dir := userNetwork(t, "busy", "10.14.0.0/24")
	const count = 24
	ms := make([]Member, count)
	for i := range ms {
		ms[i] = member(t, dir, fmt.Sprintf("%064x", i+1), fmt.Sprintf("c%02d", i), fmt.Sprintf("10.14.0.%d", i+2))
	}
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i := range ms {
		wg.Go(func() {
			o, err := Open(filepath.Dir(s.dir))
			if err == nil {
				err = o.Join(n, ms[i])
			}
			if err == nil && i%3 == 0 {
				err = o.Leave(n, ms[i].ContainerID)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		got := hostsOfFile(t, m.HostsPath)
		if i%3 == 0 {
			if got != "" {
				t.Errorf("%s left but resolves:\n%s", m.Name, got)
			}
			continue
		}
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		if len(lines) != count-count/3 {
			t.Errorf("%s has %d lines:\n%s", m.Name, len(lines), got)
		}
		for j, o := range ms {
			has := strings.Contains(got, o.Addr.String()+"\t"+o.Name+" ")
			if has != (j%3 != 0) {
				t.Errorf("%s: %s named %v:\n%s", m.Name, o.Name, has, got)
			}
		}
	}
}

// A member record cut short does not stop the others' joins and leaves;
// the container it belongs to can still leave.
func TestDamagedMember(t *testing.T) {
	s, n, dir := userNetwork(t, "app", "10.15.0.0/24")
	a := member(t, dir, idA, "a", "10.15.0.2")
	b := member(t, dir, idB, "b", "10.15.0.3")
	c := member(t, dir, idC, "c", "10.15.0.4")
	for _, m := range []Member{a, b} {
		if err := s.Join(n, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.memberPath(n.ID, idB), []byte(`{"ContainerID":"bbb`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(n, c); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, c.HostsPath); got != "10.15.0.4\tc cccccccccccc\n10.15.0.2\ta aaaaaaaaaaaa\n" {
		t.Errorf("c beside a damaged b:\n%s", got)
	}
	if ms, err := s.Members(n); err != nil || len(ms) != 2 {
		t.Errorf("Members = %+v, %v", ms, err)
	}
	if err := s.Leave(n, idB); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.memberPath(n.ID, idB)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b's damaged record stays: %v", err)
	}
	if err := os.WriteFile(s.memberPath(n.ID, idC), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveAll(idC); err != nil {
		t.Fatal(err)
	}
	if got := hostsOfFile(t, a.HostsPath); got != "10.15.0.2\ta aaaaaaaaaaaa\n" {
		t.Errorf("a after c left:\n%s", got)
	}
}

func TestJoinRefused(t *testing.T) {
	s := testStore(t)
	n, err := s.Create(CreateOptions{Name: "n", Subnet: "10.12.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", ".hidden"} {
		if err := s.Join(n, Member{ContainerID: id}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Join(%q) = %v", id, err)
		}
		if err := s.Leave(n, id); !errors.Is(err, ErrInvalid) {
			t.Errorf("Leave(%q) = %v", id, err)
		}
	}
	// A hosts file in a directory that is gone: an error, and no member.
	m := Member{ContainerID: idA, Name: "a", HostsPath: filepath.Join(t.TempDir(), "gone", "hosts")}
	if err := s.Join(n, m); err == nil {
		t.Error("Join with a hosts file in a missing directory accepted")
	}
	if ms, _ := s.Members(n); len(ms) != 0 {
		t.Errorf("members %+v", ms)
	}
}
