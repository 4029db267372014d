package network

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkJoin measures a join and a leave on a network that already has
// 0, 10 and 100 members: on a user-defined network each rewrites every
// member's hosts file, on the default network only the joining one's.
func BenchmarkJoin(b *testing.B) {
	for _, c := range []struct {
		net  string
		size int
	}{{"app", 0}, {"app", 10}, {"app", 100}, {DefaultName, 100}} {
		size := c.size
		b.Run(fmt.Sprintf("%s/members=%d", c.net, size), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s.hostNets = func() ([]HostNet, error) { return nil, nil }
			n, err := s.Create(CreateOptions{Name: "app", Subnet: "10.30.0.0/16"})
			if c.net == DefaultName {
				n, err = s.Default()
			}
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			m := func(i int) Member {
				return Member{
					ContainerID: fmt.Sprintf("%064x", i+1), Name: fmt.Sprintf("c%d", i),
					Addr: netip.AddrFrom4([4]byte{10, 30, byte((i + 2) >> 8), byte(i + 2)}), HostsPath: fmt.Sprintf("%s/hosts-%d", dir, i),
				}
			}
			for i := range size {
				if err := s.Join(n, m(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if err := s.Join(n, m(size)); err != nil {
					b.Fatal(err)
				}
				if err := s.Leave(n, m(size).ContainerID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
