package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		in   string
		want []PortMapping
		err  string
	}{
		{in: "80", want: []PortMapping{{ContainerPort: 80, Proto: "tcp"}}},
		{in: "8080:80", want: []PortMapping{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}}},
		{in: "127.0.0.1:8080:80/udp", want: []PortMapping{{HostIP: lo, HostPort: 8080, ContainerPort: 80, Proto: "udp"}}},
		{in: "127.0.0.1::80", want: []PortMapping{{HostIP: lo, ContainerPort: 80, Proto: "tcp"}}},
		{in: "0.0.0.0:1:2", want: []PortMapping{{HostPort: 1, ContainerPort: 2, Proto: "tcp"}}},
		{in: "8000-8001:80-81", want: []PortMapping{{HostPort: 8000, ContainerPort: 80, Proto: "tcp"}, {HostPort: 8001, ContainerPort: 81, Proto: "tcp"}}},
		{in: "90-91/udp", want: []PortMapping{{ContainerPort: 90, Proto: "udp"}, {ContainerPort: 91, Proto: "udp"}}},
		{in: "65535:65535", want: []PortMapping{{HostPort: 65535, ContainerPort: 65535, Proto: "tcp"}}},
		{in: "0", err: `"0" is not a port`},
		{in: "65536:80", err: `"65536" is not a port`},
		{in: "80:0", err: `"0" is not a port`},
		{in: "", err: `"" is not a port`},
		{in: "-1", err: `"" is not a port`},
		{in: "80/sctp", err: `protocol "sctp"`},
		{in: "80/tcp/udp", err: `protocol "tcp/udp"`},
		{in: "a:b:c:d", err: "too many colons"},
		{in: "::1:80:80", err: "too many colons"},
		{in: "localhost:80:80", err: "not an IPv4 address"},
		{in: "81-80", err: "ends before it starts"},
		{in: "1-3:1-2", err: "differ in length"},
		{in: "x", err: `"x" is not a port`},
	} {
		got, err := ParsePublish(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "publish ") {
				t.Errorf("ParsePublish(%q): %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("ParsePublish(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("ParsePublish(%q)[%d] = %+v, want %+v", c.in, i, got[i], c.want[i])
			}
		}
	}
	m := PortMapping{HostIP: lo, HostPort: 8080, ContainerPort: 80, Proto: "udp"}
	if m.String() != "127.0.0.1:8080->80/udp" {
		t.Errorf("String: %s", m)
	}
}
