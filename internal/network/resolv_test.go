package network

import (
	"errors"
	"strings"
	"testing"
)

func TestResolvConf(t *testing.T) {
	for _, c := range []struct{ host, want string }{
		{
			"# a comment\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n",
			"# a comment\noptions edns0 trust-ad\nsearch example.org\n",
		},
		{
			"nameserver 10.0.0.2\nnameserver 127.0.1.1\nnameserver ::1\nnameserver 192.168.1.1\nnameserver fd00::53\ndomain lan\n",
			"nameserver 10.0.0.2\nnameserver 192.168.1.1\ndomain lan\n",
		},
		{"nameserver   ::ffff:127.0.0.1\nnameserver\t10.1.1.1", "nameserver\t10.1.1.1\n"},
		{"nameserver 0.0.0.0\nnameserver not-an-address\n", ""},
		{"", ""},
		{"search a b\n", "search a b\n"},
	} {
		if got := string(ResolvConf([]byte(c.host))); got != c.want {
			t.Errorf("ResolvConf(%q) = %q, want %q", c.host, got, c.want)
		}
	}
}

func TestResolvConfWith(t *testing.T) {
	host := "nameserver 10.0.0.2\nsearch corp.example\ndomain corp\noptions ndots:1\n"
	for _, c := range []struct {
		c    DNSConfig
		want string
	}{
		{DNSConfig{}, host},
		{DNSConfig{Nameservers: []string{"10.9.9.9", "127.0.0.1"}}, "search corp.example\ndomain corp\noptions ndots:1\nnameserver 10.9.9.9\nnameserver 127.0.0.1\n"},
		{DNSConfig{Search: []string{"a.example", "b.example"}}, "nameserver 10.0.0.2\noptions ndots:1\nsearch a.example b.example\n"},
		{DNSConfig{Search: []string{"."}}, "nameserver 10.0.0.2\noptions ndots:1\n"},
		{DNSConfig{Options: []string{"ndots:3", "rotate"}}, "nameserver 10.0.0.2\nsearch corp.example\ndomain corp\noptions ndots:3 rotate\n"},
	} {
		got, err := ResolvConfWith([]byte(host), c.c)
		if err != nil || string(got) != c.want {
			t.Errorf("ResolvConfWith(%+v) = %q, %v; want %q", c.c, got, err, c.want)
		}
	}
	for _, bad := range []DNSConfig{
		{Nameservers: []string{"dns.example"}},
		{Nameservers: []string{""}},
		{Nameservers: []string{"fe80::1%eth0"}},
		{Search: []string{"a b"}},
		{Search: []string{""}},
		{Search: []string{".", "x"}},
		{Options: []string{"ndots:1\nnameserver 127.0.0.53"}}, // a line smuggled in
		{Options: []string{""}},
	} {
		if _, err := ResolvConfWith([]byte(host), bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ResolvConfWith(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// The host's own resolv.conf as a container gets it: never a loopback
// nameserver, never one that was not in the host's files.
func TestHostResolvConf(t *testing.T) {
	b, err := HostResolvConf()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nameservers(ResolvConf(b)) {
		if !reachable(ns) {
			t.Errorf("nameserver %s kept", ns)
		}
		if !strings.Contains(string(b), ns.String()) {
			t.Errorf("nameserver %s added", ns)
		}
	}
}
