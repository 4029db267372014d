package engine

import (
	"strings"
	"testing"
	"time"
)

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0
  eth0:   1200      10    0    0    0     0          0         0      800       8    0    0    0     0       0          0
 veth1:     34       1    0    0    0     0          0         0       66       1    0    0    0     0       0          0
`
	rx, tx := ParseNetDev(strings.NewReader(dev))
	if rx != 1234 || tx != 866 {
		t.Errorf("rx %d tx %d, want 1234 866", rx, tx)
	}
}

func TestParseProcStat(t *testing.T) {
	const stat = `cpu  100 0 50 800 20 5 25 7 0 0
cpu0 50 0 25 400 10 2 13 3 0 0
cpu1 50 0 25 400 10 3 12 4 0 0
intr 12345
ctxt 999
`
	ns, cpus, err := parseProcStat(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	// user..softirq = 1000 ticks of 10ms.
	if ns != 10*uint64(time.Second) || cpus != 2 {
		t.Errorf("got %d ns, %d cpus", ns, cpus)
	}
}

func TestParseMemTotal(t *testing.T) {
	if got := parseMemTotal("MemTotal:       16318604 kB\nMemFree: 1 kB\n"); got != 16318604*1024 {
		t.Errorf("MemTotal %d", got)
	}
	if got := parseMemTotal("nothing"); got != 0 {
		t.Errorf("no MemTotal: %d", got)
	}
}

func TestParsePressureTotal(t *testing.T) {
	const psi = "some avg10=1.50 avg60=0.20 avg300=0.05 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=789\n"
	if n, ok := ParsePressureTotal(psi); !ok || n != 123456 {
		t.Errorf("some total %d %v, want 123456", n, ok)
	}
	// cpu.pressure of kernels before 5.13 has no full line.
	if n, ok := ParsePressureTotal("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"); !ok || n != 7 {
		t.Errorf("some only: %d %v", n, ok)
	}
	for _, bad := range []string{"", "full avg10=0.00 total=5\n", "some avg10=0.00\n", "some total=x\n"} {
		if _, ok := ParsePressureTotal(bad); ok {
			t.Errorf("ParsePressureTotal(%q): ok", bad)
		}
	}
}
