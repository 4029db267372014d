package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testStore is a store in a temporary root whose host has the routes and
// addresses given.
func testStore(t *testing.T, host ...HostNet) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.hostNets = func() ([]HostNet, error) { return host, nil }
	return s
}

func route(cidr, dev string) HostNet {
	return HostNet{Prefix: netip.MustParsePrefix(cidr).Masked(), Dev: dev}
}

func addr(cidr, dev string) HostNet {
	p := netip.MustParsePrefix(cidr)
	return HostNet{Prefix: p.Masked(), Addr: p.Addr(), Dev: dev}
}

// files lists the store directory, so that a refusal can be shown to have
// written nothing.
func files(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != s.dir && filepath.Base(p) != "lock" {
			out = append(out, strings.TrimPrefix(p, s.dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "web", "my-net_1.0", "0net", "A"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-net", ".net", "_net", "my net", "a/b", "net:1", "é", "a\n", "bridge", "host", "none", "default"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}

func TestParseSubnet(t *testing.T) {
	for _, ok := range []string{"10.1.0.0/16", "192.168.5.0/24", "10.0.0.0/8", "10.9.9.8/30", "0.0.0.0/1"} {
		if _, err := ParseSubnet(ok); err != nil {
			t.Errorf("ParseSubnet(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"10.1.0.1/16":         "it should be 10.1.0.0/16",
		"10.1.0.0":            "not an address/length CIDR",
		"10.1.0.0/33":         "not an address/length CIDR",
		"10.1.0.0/-1":         "not an address/length CIDR",
		"300.1.0.0/16":        "not an address/length CIDR",
		"":                    "not an address/length CIDR",
		"fd00::/64":           "only IPv4",
		"10.1.2.3/32":         "at least a /30",
		"10.1.2.2/31":         "at least a /30",
		"::ffff:10.0.0.0/104": "only IPv4",
	} {
		_, err := ParseSubnet(bad)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSubnet(%q) = %v, want an ErrInvalid with %q", bad, err, want)
		}
	}
}

func TestParseGateway(t *testing.T) {
	p := netip.MustParsePrefix("10.5.0.0/24")
	for _, ok := range []string{"10.5.0.1", "10.5.0.254", "10.5.0.100"} {
		if a, err := ParseGateway(p, ok); err != nil || a.String() != ok {
			t.Errorf("ParseGateway(%q) = %v, %v", ok, a, err)
		}
	}
	for _, bad := range []string{"10.5.0.0", "10.5.0.255", "10.5.1.1", "10.5.0", "x", "", "fe80::1%eth0", "fd00::1"} {
		if _, err := ParseGateway(p, bad); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseGateway(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if b := Broadcast(netip.MustParsePrefix("172.18.0.0/16")); b.String() != "172.18.255.255" {
		t.Errorf("Broadcast = %s", b)
	}
}

func TestCreate(t *testing.T) {
	s := testStore(t)
	n, err := s.Create(CreateOptions{Name: "web", Subnet: "10.7.0.0/24", Gateway: "10.7.0.254", Internal: true, Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.ID) != 64 || n.Bridge != "sd-"+n.ID[:12] || len(n.Bridge) > 15 || n.Driver != "bridge" {
		t.Errorf("network %+v", n)
	}
	got, err := s.Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subnet.String() != "10.7.0.0/24" || got.Gateway.String() != "10.7.0.254" || !got.Internal || got.Labels["a"] != "b" || got.Created.IsZero() {
		t.Errorf("stored %+v", got)
	}
	// Without a gateway it is the subnet's first address.
	n, err = s.Create(CreateOptions{Name: "db", Subnet: "10.8.0.0/16"})
	if err != nil || n.Gateway.String() != "10.8.0.1" {
		t.Fatalf("db: %+v, %v", n, err)
	}
	// Without a subnet: the first pool subnet that is free.
	n, err = s.Create(CreateOptions{Name: "auto"})
	if err != nil || n.Subnet.String() != "172.18.0.0/16" || n.Gateway.String() != "172.18.0.1" {
		t.Fatalf("auto: %+v, %v", n, err)
	}
	nets, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"auto", "db", "web"}) {
		t.Errorf("List = %v", names)
	}
}

func TestCreateRefused(t *testing.T) {
	s := testStore(t, route("192.168.1.0/24", "eth0"), addr("10.200.3.4/16", "wlan0"), addr("127.0.0.1/8", "lo"))
	if _, err := s.Create(CreateOptions{Name: "taken", Subnet: "10.50.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	before := files(t, s)
	for _, c := range []struct {
		o    CreateOptions
		is   error
		want string
	}{
		{CreateOptions{Name: "taken"}, ErrExists, "network with name taken already exists"},
		{CreateOptions{Name: "bridge"}, ErrExists, "already exists: it is pre-defined"},
		{CreateOptions{Name: "bad name"}, ErrInvalid, "only [a-zA-Z0-9]"},
		{CreateOptions{Name: ""}, ErrInvalid, "needs a name"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.0/33"}, ErrInvalid, "CIDR"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.1/16"}, ErrInvalid, "it should be 10.1.0.0/16"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.0/32"}, ErrInvalid, "/30"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.0/16", Gateway: "10.2.0.1"}, ErrInvalid, "not in subnet"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.0/16", Gateway: "10.1.255.255"}, ErrInvalid, "broadcast"},
		{CreateOptions{Name: "n", Subnet: "10.1.0.0/16", Gateway: "10.1.0.0"}, ErrInvalid, "broadcast"},
		{CreateOptions{Name: "n", Gateway: "10.1.0.1"}, ErrInvalid, "needs a subnet"},
		{CreateOptions{Name: "n", Subnet: "10.50.3.0/24"}, ErrOverlap, "overlaps network taken (10.50.0.0/16)"},
		{CreateOptions{Name: "n", Subnet: "10.0.0.0/8"}, ErrOverlap, "overlaps network taken"},
		{CreateOptions{Name: "n", Subnet: "192.168.0.0/16"}, ErrOverlap, "route 192.168.1.0/24 (dev eth0)"},
		{CreateOptions{Name: "n", Subnet: "10.200.9.0/24"}, ErrOverlap, "address 10.200.3.4/16 (dev wlan0)"},
		{CreateOptions{Name: "n", Subnet: "127.5.0.0/16"}, ErrOverlap, "dev lo"},
		{CreateOptions{Name: "n", Labels: map[string]string{"": "x"}}, ErrInvalid, "the key is empty"},
	} {
		_, err := s.Create(c.o)
		if err == nil || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%+v) = %v, want %v with %q", c.o, err, c.is, c.want)
		}
	}
	if after := files(t, s); !slices.Equal(before, after) {
		t.Errorf("a refused create changed the store: %v, then %v", before, after)
	}
}

func TestCreatePicksAroundHostAndNetworks(t *testing.T) {
	// 172.18 is the host's, 172.19 a network's; 172.20-31 overlap a /12
	// route: the /24 fallback comes next, past the first one taken.
	s := testStore(t, route("172.18.0.0/16", "eth0"), route("172.20.0.0/14", "tun0"), route("172.24.0.0/13", "tun1"), addr("10.89.0.7/24", "eth1"))
	if _, err := s.Create(CreateOptions{Name: "mine", Subnet: "172.19.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Create(CreateOptions{Name: "next"})
	if err != nil || n.Subnet.String() != "10.89.1.0/24" || n.Gateway.String() != "10.89.1.1" {
		t.Fatalf("next: %+v, %v", n, err)
	}
	// A host that takes every pool subnet: a clear error.
	s = testStore(t, route("172.16.0.0/12", "a"), route("10.89.0.0/16", "b"))
	if _, err := s.Create(CreateOptions{Name: "full"}); !errors.Is(err, ErrNoSubnet) {
		t.Fatalf("every pool taken: %v", err)
	}
}

// Concurrent creates without a subnet each get their own: the check and the
// write are under the store's lock.
func TestCreateConcurrent(t *testing.T) {
	s := testStore(t)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Each with its own Store, as separate commands would be.
			o, err := Open(filepath.Dir(s.dir))
			if err != nil {
				errs[i] = err
				return
			}
			o.hostNets = s.hostNets
			_, errs[i] = o.Create(CreateOptions{Name: fmt.Sprintf("n%d", i)})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	nets, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]string{}
	for _, nw := range nets {
		if other, ok := seen[nw.Subnet]; ok {
			t.Errorf("%s and %s share %s", nw.Name, other, nw.Subnet)
		}
		seen[nw.Subnet] = nw.Name
	}
	if len(nets) != n {
		t.Errorf("%d networks, want %d", len(nets), n)
	}
}

func writeNet(t *testing.T, s *Store, name, id string) {
	t.Helper()
	n := &Network{Name: name, ID: id, Driver: "bridge", Bridge: "sd-" + id[:12],
		Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.1")}
	if err := s.write(n); err != nil {
		t.Fatal(err)
	}
}

func TestGet(t *testing.T) {
	s := testStore(t)
	a := "abc1" + strings.Repeat("0", 60)
	b := "abc2" + strings.Repeat("0", 60)
	writeNet(t, s, "one", a)
	writeNet(t, s, "two", b)
	// A network named like another's id prefix: the full id wins over a
	// name, a name over a prefix.
	writeNet(t, s, "abc2", "f"+strings.Repeat("1", 63))
	for ask, want := range map[string]string{"one": "one", a: "one", "abc1": "one", b: "two", "abc2": "abc2", "f1": "abc2"} {
		n, err := s.Get(ask)
		if err != nil || n.Name != want {
			t.Errorf("Get(%q) = %v, %v; want %s", ask, n, err, want)
		}
	}
	if _, err := s.Get("abc"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Get(abc) = %v, want ErrAmbiguous", err)
	}
	for _, missing := range []string{"three", "abc3", "", "0"} {
		if _, err := s.Get(missing); !errors.Is(err, ErrNotFound) || (missing != "" && !strings.Contains(err.Error(), missing)) {
			t.Errorf("Get(%q) = %v, want ErrNotFound naming it", missing, err)
		}
	}
}

func TestRemove(t *testing.T) {
	s := testStore(t)
	n, err := s.Create(CreateOptions{Name: "gone", Subnet: "10.3.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	// What a member that was never told to leave left behind.
	if err := s.Join(n, Member{ContainerID: "x", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(n.ID[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after rm: %v", err)
	}
	if _, err := os.Stat(s.membersDir(n.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("members left: %v", err)
	}
	if err := s.Remove("gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rm again: %v", err)
	}
	if _, err := s.Default(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("bridge"); !errors.Is(err, ErrDefault) {
		t.Errorf("rm bridge: %v", err)
	}
	// Its subnet is free again.
	if _, err := s.Create(CreateOptions{Name: "again", Subnet: "10.3.0.0/24"}); err != nil {
		t.Error(err)
	}
}

func TestDefault(t *testing.T) {
	t.Setenv(DefaultSubnetEnv, "")
	s := testStore(t)
	n, err := s.Default()
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "bridge" || n.Bridge != "sdocker0" || n.Subnet.String() != "172.17.0.0/16" || n.Gateway.String() != "172.17.0.1" || n.UserDefined() {
		t.Errorf("default %+v", n)
	}
	// Written once: the same id on every use, and Get("bridge") is it.
	again, err := s.Get("bridge")
	if err != nil || again.ID != n.ID {
		t.Errorf("again %+v, %v", again, err)
	}
	// A create without a subnet does not take the default's.
	u, err := s.Create(CreateOptions{Name: "u", Subnet: "172.17.5.0/24"})
	if err == nil || !errors.Is(err, ErrOverlap) {
		t.Errorf("create on the default's subnet: %+v, %v", u, err)
	}

	// 172.17 taken on the host: the next free one.
	s = testStore(t, route("172.17.0.0/16", "eth0"), route("172.18.0.0/16", "eth1"))
	if n, err = s.Default(); err != nil || n.Subnet.String() != "172.19.0.0/16" {
		t.Errorf("172.17 taken: %+v, %v", n, err)
	}
	// The bridge already up (another root's): its subnet and address.
	s = testStore(t, addr("10.77.0.9/24", "sdocker0"), route("10.77.0.0/24", "sdocker0"))
	if n, err = s.Default(); err != nil || n.Subnet.String() != "10.77.0.0/24" || n.Gateway.String() != "10.77.0.9" {
		t.Errorf("bridge up: %+v, %v", n, err)
	}
}

func TestDefaultFromEnv(t *testing.T) {
	t.Setenv(DefaultSubnetEnv, "10.123.0.0/24")
	s := testStore(t, addr("10.200.0.1/16", "eth0"))
	n, err := s.Default()
	if err != nil || n.Subnet.String() != "10.123.0.0/24" || n.Gateway.String() != "10.123.0.1" {
		t.Fatalf("%+v, %v", n, err)
	}
	// Read only when the definition is first written.
	t.Setenv(DefaultSubnetEnv, "10.124.0.0/24")
	if n, err = s.Default(); err != nil || n.Subnet.String() != "10.123.0.0/24" {
		t.Errorf("second use: %+v, %v", n, err)
	}
	// A bad or overlapping value is an error naming it, and writes nothing.
	for _, bad := range []string{"10.200.5.0/24", "10.1.0.1/24", "nonsense"} {
		t.Setenv(DefaultSubnetEnv, bad)
		s := testStore(t, addr("10.200.0.1/16", "eth0"))
		if _, err := s.Default(); err == nil || !strings.Contains(err.Error(), DefaultSubnetEnv) {
			t.Errorf("%s: %v", bad, err)
		}
		if f := files(t, s); len(f) != 0 {
			t.Errorf("%s: left %v", bad, f)
		}
	}
}

// The host's own routes and addresses, read through netlink (no root
// needed): the loopback network is there, a default route is not.
func TestHostRoutes(t *testing.T) {
	host, err := hostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	lo := false
	for _, h := range host {
		if h.Prefix.Bits() == 0 {
			t.Errorf("a default route is listed: %v", h)
		}
		if h.Dev == "lo" && h.Prefix.Contains(netip.MustParseAddr("127.0.0.1")) {
			lo = true
		}
	}
	if !lo {
		t.Errorf("127.0.0.1 on lo missing from %v", host)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(CreateOptions{Name: "lo", Subnet: "127.9.0.0/16"}); !errors.Is(err, ErrOverlap) {
		t.Errorf("a subnet on the loopback's: %v", err)
	}
}

// A definition cut short (a full disk, a crash) or emptied: the other
// networks work, the damaged one is named, can be removed, and its name is
// not taken by another meanwhile; a damaged default network is written
// again.
func TestDamagedDefinition(t *testing.T) {
	s := testStore(t)
	for _, name := range []string{"good", "bad", "empty"} {
		if _, err := s.Create(CreateOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	def, err := s.Default()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"bad": `{"Name":"bad","Id":"12`, "empty": "", "bridge": "{}"} {
		if err := os.WriteFile(s.path(name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nets, err := s.List()
	if !errors.Is(err, ErrDamaged) || len(nets) != 1 || nets[0].Name != "good" ||
		!strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "empty.json") {
		t.Fatalf("List = %v, %v", nets, err)
	}
	if n, err := s.Get("good"); err != nil || n.Name != "good" {
		t.Errorf("Get(good) = %v, %v", n, err)
	}
	if _, err := s.Get("bad"); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("Get(bad) = %v", err)
	}
	if _, err := s.Create(CreateOptions{Name: "bad"}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "network rm bad") {
		t.Errorf("Create(bad) = %v", err)
	}
	if err := s.Remove("bad"); err != nil {
		t.Errorf("Remove(bad) = %v", err)
	}
	if _, err := s.Create(CreateOptions{Name: "bad"}); err != nil {
		t.Errorf("Create(bad) after rm = %v", err)
	}
	n, err := s.Default()
	if err != nil || n.Name != DefaultName || n.Subnet != def.Subnet || n.Bridge != DefaultBridge {
		t.Errorf("damaged default: %+v, %v", n, err)
	}
	if _, err := s.Get("empty"); !errors.Is(err, ErrDamaged) {
		t.Errorf("Get(empty) = %v", err)
	}
}
