package network

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func testNetwork(t *testing.T, subnet string) *Network {
	t.Helper()
	old := RunDir
	RunDir = t.TempDir()
	t.Cleanup(func() { RunDir = old })
	p := netip.MustParsePrefix(subnet)
	return &Network{Name: "test", Bridge: "sdtest0", Subnet: p, Gateway: p.Addr().Next()}
}

func TestHostRange(t *testing.T) {
	for _, c := range []struct{ subnet, first, last string }{
		{"172.17.0.0/16", "172.17.0.1", "172.17.255.254"},
		{"10.0.0.0/30", "10.0.0.1", "10.0.0.2"},
		{"10.0.0.8/29", "10.0.0.9", "10.0.0.14"},
	} {
		f, l := hostRange(netip.MustParsePrefix(c.subnet))
		if f.String() != c.first || l.String() != c.last {
			t.Errorf("hostRange(%s) = %s-%s, want %s-%s", c.subnet, f, l, c.first, c.last)
		}
	}
}

func TestAllocate(t *testing.T) {
	n := testNetwork(t, "10.9.0.0/29") // gateway .1, containers .2-.6
	var got []string
	for i := range 5 {
		a, err := allocate(n, fmt.Sprintf("c%d", i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if fmt.Sprint(got) != "[10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5 10.9.0.6]" {
		t.Errorf("addresses %v", got)
	}
	if _, err := allocate(n, "c5", netip.Addr{}); !errors.Is(err, ErrSubnetFull) || err.Error() != "network test: no free address in 10.9.0.0/29" {
		t.Errorf("a full subnet: %v", err)
	}
	// Released by its holder only; then given again, the lowest first.
	if err := release(n.Bridge, netip.MustParseAddr("10.9.0.3"), "c0"); err != nil {
		t.Fatal(err)
	}
	if err := releaseAll("c1"); err != nil {
		t.Fatal(err)
	}
	if a, err := allocate(n, "c6", netip.Addr{}); err != nil || a.String() != "10.9.0.3" {
		t.Errorf("after release: %s %v", a, err)
	}
	leases, _ := Leases(n.Bridge)
	if len(leases) != 5 || leases[netip.MustParseAddr("10.9.0.3")] != "c6" {
		t.Errorf("leases %v", leases)
	}
	// A chosen address: taken, outside, the gateway.
	for _, want := range []string{"10.9.0.3", "10.9.0.9", "10.9.0.1", "10.9.0.7", "10.9.0.0"} {
		if _, err := allocate(n, "c7", netip.MustParseAddr(want)); err == nil {
			t.Errorf("allocate %s: no error", want)
		}
	}
}

func TestAllocateConcurrent(t *testing.T) {
	n := testNetwork(t, "10.9.0.0/24")
	const runs = 50
	addrs := make([]netip.Addr, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := allocate(n, fmt.Sprintf("c%d", i), netip.Addr{})
			if err != nil {
				t.Error(err)
			}
			addrs[i] = a
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("%s given twice", a)
		}
		seen[a] = true
	}
}
