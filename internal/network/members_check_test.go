package network

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckAliases(t *testing.T) {
	user := &Network{Name: "app", Subnet: netip.MustParsePrefix("10.20.0.0/24")}
	def := &Network{Name: DefaultName}
	if err := CheckAliases(user, []string{"db", "db.internal", "x_1", "A-b", strings.Repeat("a", 253)}); err != nil {
		t.Error(err)
	}
	if err := CheckAliases(def, nil); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		n       *Network
		aliases []string
	}{
		{def, []string{"db"}},
		{user, []string{""}},
		{user, []string{"a b"}},
		{user, []string{"a#b"}},
		{user, []string{"-a"}},
		{user, []string{"ok", "a\nb"}},
		{user, []string{strings.Repeat("a", 254)}},
	} {
		if err := CheckAliases(c.n, c.aliases); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckAliases(%s, %q) = %v", c.n.Name, c.aliases, err)
		}
	}
}

func TestCheckIP(t *testing.T) {
	n := &Network{Name: "app", Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.20.0.1")}
	taken := func(a netip.Addr) bool { return a == netip.MustParseAddr("10.20.0.7") }
	for _, ok := range []string{"10.20.0.2", "10.20.0.254", "::ffff:10.20.0.9"} {
		if a, err := CheckIP(n, ok, taken); err != nil || !n.Subnet.Contains(a) {
			t.Errorf("CheckIP(%q) = %v, %v", ok, a, err)
		}
	}
	for bad, want := range map[string]string{
		"10.20.0.7":   "already in use",
		"10.20.0.1":   "the gateway",
		"10.20.0.0":   "network or broadcast",
		"10.20.0.255": "network or broadcast",
		"10.21.0.5":   "not in subnet 10.20.0.0/24",
		"fd00::5":     "only IPv4",
		"10.20.0":     "not an IP address",
		"":            "not an IP address",
	} {
		if _, err := CheckIP(n, bad, taken); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckIP(%q) = %v, want %q", bad, err, want)
		}
	}
	if _, err := CheckIP(&Network{Name: DefaultName, Subnet: n.Subnet}, "10.20.0.5", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("--ip on the default network: %v", err)
	}
}
