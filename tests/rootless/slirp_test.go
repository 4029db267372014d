package rootless

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// slirp4netns configures the container's namespace while the init boots:
// the program's first instruction finds it up (its address and default
// route). podman's form of the option works; its other options are
// refused. A slirp4netns that fails fails the start with its reason and
// leaves nothing.
func TestRootlessSlirpStart(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if !usableNetwork(t, u, "slirp4netns") {
		t.SkipNow()
	}
	for _, mode := range []string{"slirp4netns", "slirp4netns:port_handler=slirp4netns"} {
		out := u.mustRun(t, "run", "--rm", "--network", mode, "box", "sh", "-c", "ip -4 -o addr show scope global; ip route show default")
		if !strings.Contains(out, "inet 10.0.2.100/") || !strings.Contains(out, "default via 10.0.2.2") {
			t.Errorf("--network %s: the network when the program starts: %q, want 10.0.2.100 and a default route", mode, out)
		}
	}
	checkNoSlirpLeft(t, u)
	// A detached container's slirp4netns ends with the container (its
	// monitor stops it), before any rm.
	id := strings.TrimSpace(u.mustRun(t, "run", "-d", "--network", "slirp4netns", "box", "true"))
	t.Cleanup(func() { u.run(t, "rm", "-f", id) })
	testutil.WaitFor(t, testutil.Timeout(20*time.Second), "the container exits", func() bool {
		out, _, _ := u.run(t, "inspect", "--format", "{{.State.Status}}", id)
		return strings.TrimSpace(out) == "exited"
	})
	checkNoSlirpLeft(t, u)
	u.mustRun(t, "rm", id)
	if _, stderr, code := u.run(t, "run", "--rm", "--network", "slirp4netns:port_handler=rootlesskit", "box", "true"); code != 125 || !strings.Contains(stderr, "port_handler=rootlesskit") {
		t.Errorf("an unsupported option: exit %d, %q", code, stderr)
	}
	// A slirp4netns that fails.
	_, stderr, code := runWithFailing(t, u, "slirp4netns", "run", "--rm", "--network", "slirp4netns", "box", "true")
	if msg := lastLine(stderr); code != 125 || !strings.Contains(msg, "slirp4netns") || !strings.Contains(msg, "cannot configure the namespace") {
		t.Errorf("a slirp4netns that fails: exit %d, %q; want 125 and its error in one line", code, stderr)
	}
	checkNothingLeft(t, u)
}

// Ports published through slirp4netns's API socket answer on the host's
// loopback, TCP and UDP, again after a restart; rm -f frees them. A host port taken fails the
// start with a clear error and leaves nothing: no container, no
// slirp4netns.
func TestRootlessSlirpPublish(t *testing.T) {
	u := newUser(t, true)
	u.importImage(t, "box")
	if !usableNetwork(t, u, "slirp4netns") {
		t.SkipNow()
	}
	port, uport := freePort(t), freeUDPPort(t)
	id := strings.TrimSpace(u.mustRun(t, "run", "-d", "--network", "slirp4netns",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "-p", fmt.Sprintf("127.0.0.1:%d:8081/udp", uport), "box",
		"sh", "-c", "while true; do echo hello-from-container | nc -l -p 8080; done"))
	t.Cleanup(func() { u.run(t, "rm", "-f", id) })
	waitHello(t, port)
	// (busybox has no UDP server: the published UDP port is held by
	// slirp4netns on the host.)
	if c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", uport)); err == nil {
		c.Close()
		t.Errorf("UDP port %d not published", uport)
	}
	// A restart ends its slirp4netns and starts another on the same ports.
	u.mustRun(t, "restart", "-t", "0", id)
	waitHello(t, port)
	if out := u.mustRun(t, "port", id); !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", port)) || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", uport)) {
		t.Errorf("port: %q", out)
	}
	u.mustRun(t, "rm", "-f", id)
	if c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still open after rm -f", port)
	}
	if c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", uport)); err != nil {
		t.Errorf("UDP port %d not free after rm -f: %v", uport, err)
	} else {
		c.Close()
	}
	checkNothingLeft(t, u)
	checkNoSlirpLeft(t, u)

	// A host port taken.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	_, stderr, code := u.run(t, "run", "--rm", "--network", "slirp4netns", "-p", fmt.Sprintf("127.0.0.1:%d:80", taken), "box", "true")
	if msg := lastLine(stderr); code != 125 || !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", taken)) {
		t.Errorf("a host port taken: exit %d, %q; want 125 and the port in one line", code, stderr)
	}
	checkNothingLeft(t, u)
	checkNoSlirpLeft(t, u)
}

// lastLine is the last line of s, the error of a failed command.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// freeUDPPort is a UDP port of 127.0.0.1 that nothing is bound to.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// checkNoSlirpLeft fails t if a slirp4netns of u's runs still.
func checkNoSlirpLeft(t *testing.T, u *testUser) { checkNoProcessLeft(t, u, "slirp4netns") }
