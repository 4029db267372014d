package engine

// Networking on the real kernel: the default bridge, published ports
// reached from the host, from another container (hairpin) and from an
// "outside" network namespace the test makes and wires to the host by a
// veth pair on a subnet of its own (198.18.0.0/15, the benchmarking range,
// never the host's), outbound NAT to a server in that namespace, UDP,
// cleanup after kill -9, 50 concurrent runs, bad inputs. Packets go only to
// loopback, to the host's own addresses and to namespaces the test made.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/tests/testutil"
)

// nettoolDir holds the static nettool (testdata/nettool), built once and
// bind-mounted into containers at /nt.
var nettoolDir = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(workDir, "nettool")
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nettool"), "./testdata/nettool")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nettool: %w\n%s", err, out)
	}
	return dir, nil
})

// netEnv is an env whose containers can run /nt/nettool.
func netEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	dir, err := nettoolDir()
	if err != nil {
		t.Fatal(err)
	}
	e.nettool = dir
	e.trackRoot()
	return e
}

// nt is the run options and rootfs of a container running nettool ARGS.
func (e *env) nt(opts []string, args ...string) []string {
	out := append([]string{"-v", e.nettool + ":/nt:ro"}, opts...)
	out = append(out, rootfsDir, "/nt/nettool")
	return append(out, args...)
}

// server starts a detached nettool server on port 8080 with run options
// opts, checks what it leaves when removed, and returns its id.
func (e *env) server(opts ...string) string {
	e.t.Helper()
	return e.served(e.runDetached(e.nt(opts, "serve", "8080")...))
}

// served waits for the server of container id to listen, and when the test
// ends removes it and checks what it leaves.
func (e *env) served(id string) string {
	e.t.Helper()
	e.t.Cleanup(func() {
		e.remove(id)
		assertNetworkGone(e.t, id)
	})
	testutil.WaitFor(e.t, 10*time.Second, "the server to listen", func() bool {
		b, _ := os.ReadFile(e.LogPath(id))
		return strings.Contains(string(b), "listening")
	})
	return id
}

// LogPath is container id's log file.
func (e *env) LogPath(id string) string {
	return filepath.Join(e.root, "containers", id, "container-json.log")
}

// containerIP is the address of container id on its first network.
func (e *env) containerIP(id string) netip.Addr {
	e.t.Helper()
	r := e.record(id)
	if len(r.Networks) == 0 || !r.Networks[0].IP.IsValid() {
		e.t.Fatalf("container %s has no network address in its record: %+v", id[:12], r.Networks)
	}
	return r.Networks[0].IP
}

// get asks the nettool server at addr from the host; it returns the answer.
func get(proto, addr string) (string, error) {
	c, err := net.DialTimeout(proto+"4", addr, timeout(5*time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout(5 * time.Second)))
	if proto == "udp" {
		if _, err := c.Write([]byte("x")); err != nil {
			return "", err
		}
	}
	return bufio.NewReader(c).ReadString('\n')
}

// answerFrom checks that answer is the greeting of container id and returns
// the client address the server saw.
func answerFrom(t *testing.T, answer, id string) netip.Addr {
	t.Helper()
	f := strings.Fields(answer)
	if len(f) != 3 || f[0] != "hello" || !strings.HasSuffix(f[1], "@"+id[:12]) {
		t.Fatalf("answer %q is not from container %s", answer, id[:12])
	}
	ap, err := netip.ParseAddrPort(f[2])
	if err != nil {
		t.Fatalf("answer %q: %v", answer, err)
	}
	return ap.Addr()
}

// hostAddr is an IPv4 address of the host other than loopback.
func hostAddr(t *testing.T) netip.Addr {
	t.Helper()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "sd") {
			continue
		}
		as, _ := i.Addrs()
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				return p.Addr()
			}
		}
	}
	t.Skip("the host has no IPv4 address but loopback")
	return netip.Addr{}
}

// freeHostPort is a TCP and UDP port nothing listens on now.
func freeHostPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", ":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port)); err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// outside is a network namespace the test made, wired to the host by a veth
// pair on a /30 of 198.18.0.0/16: Host is the host's end, Addr its own.
type outside struct {
	Name       string
	Host, Addr netip.Addr
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newOutside(t *testing.T) *outside {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is needed to wire the test's outside namespace")
	}
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	// A /30 of 198.18.0.0/16 from the random bytes (198.19.0.0/16 is for
	// the tests' networks).
	base := netip.AddrFrom4([4]byte{198, 18, b[1], b[2] &^ 3})
	o := &outside{Name: "sdtest-" + tag, Host: base.Next(), Addr: base.Next().Next()}
	hostEnd, nsEnd := "ot"+tag+"h", "ot"+tag+"n"
	ip(t, "netns", "add", o.Name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", o.Name).Run() })
	ip(t, "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd, "netns", o.Name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostEnd).Run() })
	ip(t, "addr", "add", o.Host.String()+"/30", "dev", hostEnd)
	ip(t, "link", "set", hostEnd, "up")
	ip(t, "-n", o.Name, "addr", "add", o.Addr.String()+"/30", "dev", nsEnd)
	ip(t, "-n", o.Name, "link", "set", nsEnd, "up")
	ip(t, "-n", o.Name, "link", "set", "lo", "up")
	ip(t, "-n", o.Name, "route", "add", "default", "via", o.Host.String())
	return o
}

// run runs nettool ARGS in the outside namespace.
func (o *outside) command(dir string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", o.Name, filepath.Join(dir, "nettool")}, args...)...)
}

// assertNetworkGone checks that container id holds nothing of the host's
// network: no veth (its namespace is torn down by the kernel in the
// background: waited for), no namespace mount, lease, port or rule.
func assertNetworkGone(t *testing.T, id string) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "the veth of "+id[:12]+" to go", func() bool {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if strings.HasPrefix(i.Name, "sd"+id[:12]) {
				return false
			}
		}
		return true
	})
	if _, err := os.Stat(network.NetnsPath(id)); err == nil {
		t.Errorf("container %s: network namespace %s left", id[:12], network.NetnsPath(id))
	}
	for _, dir := range []string{filepath.Join(network.RunDir, "ports")} {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			if owner, _ := os.Readlink(filepath.Join(dir, ent.Name())); owner == id {
				t.Errorf("container %s: port %s left reserved", id[:12], ent.Name())
			}
		}
	}
	bridges, _ := os.ReadDir(filepath.Join(network.RunDir, "leases"))
	for _, b := range bridges {
		leases, _ := network.Leases(b.Name())
		for a, owner := range leases {
			if owner == id {
				t.Errorf("container %s: lease of %s on %s left", id[:12], a, b.Name())
			}
		}
	}
	if n, err := network.RuleCount(id); err != nil || n != 0 {
		t.Errorf("container %s: %d firewall rules left (%v)", id[:12], n, err)
	}
}

func TestNetworkContainersTalk(t *testing.T) {
	e := netEnv(t)
	srv := e.server()
	addr := e.containerIP(srv)
	out := e.runOut(0, e.nt(nil, "get", "tcp", addr.String()+":8080")...)
	client := answerFrom(t, out, srv)
	// The client came straight over the bridge, from its own address.
	a := e.record(srv).Networks[0]
	if subnet := netip.PrefixFrom(a.IP, a.PrefixLen).Masked(); !subnet.Contains(client) || client == a.Gateway || client == addr {
		t.Errorf("the server saw client %s, want another address of %s", client, subnet)
	}
	// UDP too.
	out = e.runOut(0, e.nt(nil, "get", "udp", addr.String()+":8080")...)
	answerFrom(t, out, srv)
}

func TestNetworkPublishedPort(t *testing.T) {
	e := netEnv(t)
	out := newOutside(t)
	port := freeHostPort(t)
	p := fmt.Sprint(port)
	srv := e.server("-p", p+":8080", "-p", p+":8080/udp")
	host := hostAddr(t)
	for _, proto := range []string{"tcp", "udp"} {
		for _, a := range []string{"127.0.0.1", host.String()} {
			ans, err := get(proto, a+":"+p)
			if err != nil {
				t.Fatalf("%s %s:%s from the host: %v", proto, a, p, err)
			}
			answerFrom(t, ans, srv)
		}
		// From the outside namespace, to the host's address on its link:
		// the server sees the outside client's own address.
		b, err := out.command(e.nettool, "get", proto, out.Host.String()+":"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("%s from outside: %v\n%s", proto, err, b)
		}
		if from := answerFrom(t, string(b), srv); from != out.Addr {
			t.Errorf("%s from outside: the server saw %s, want the client's %s", proto, from, out.Addr)
		}
		// Hairpin: another container through the host's address.
		ans := e.runOut(0, e.nt(nil, "get", proto, host.String()+":"+p)...)
		answerFrom(t, ans, srv)
	}
	// port, ps and inspect show it.
	if got := e.mustRun(0, "port", srv).stdout; got != fmt.Sprintf("8080/tcp -> 0.0.0.0:%s\n8080/udp -> 0.0.0.0:%s\n", p, p) {
		t.Errorf("port: %q", got)
	}
	if got := e.mustRun(0, "port", srv, "8080/udp").stdout; got != "0.0.0.0:"+p+"\n" {
		t.Errorf("port 8080/udp: %q", got)
	}
	if got := e.mustRun(0, "ps", "--format", "{{.Ports}}").stdout; got != fmt.Sprintf("0.0.0.0:%s->8080/tcp, 0.0.0.0:%s->8080/udp\n", p, p) {
		t.Errorf("ps Ports: %q", got)
	}
	var settings struct {
		IPAddress, Gateway string
		Ports              map[string][]struct{ HostIp, HostPort string }
		Networks           map[string]struct{ IPAddress, Gateway, MacAddress, NetworkID string }
	}
	js := e.mustRun(0, "inspect", "-f", "{{json .NetworkSettings}}", srv).stdout
	if err := json.Unmarshal([]byte(js), &settings); err != nil {
		t.Fatalf("inspect NetworkSettings %q: %v", js, err)
	}
	ipAddr := e.containerIP(srv).String()
	bridge := settings.Networks["bridge"]
	if settings.IPAddress != ipAddr || bridge.IPAddress != ipAddr || bridge.Gateway != settings.Gateway || bridge.NetworkID == "" ||
		!strings.HasPrefix(bridge.MacAddress, "02:42:") || len(settings.Ports["8080/tcp"]) != 1 || settings.Ports["8080/tcp"][0].HostPort != p {
		t.Errorf("inspect NetworkSettings: %s", js)
	}
	// The container reaches itself through its published port.
	e.mustRun(0, "exec", srv, "/nt/nettool", "get", "tcp", host.String()+":"+p)
	e.rmf(srv)
	assertNetworkGone(t, srv)
	if _, err := get("tcp", "127.0.0.1:"+p); err == nil {
		t.Errorf("port %s still answers after rm", p)
	}
}

func TestNetworkEphemeralPort(t *testing.T) {
	e := netEnv(t)
	srv := e.server("-p", "127.0.0.1::8080")
	ports := e.record(srv).Networks[0].Ports
	if len(ports) != 1 || ports[0].HostPort == 0 || ports[0].HostIP != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("ports %+v, want one on 127.0.0.1 with a picked host port", ports)
	}
	ans, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].HostPort))
	if err != nil {
		t.Fatal(err)
	}
	answerFrom(t, ans, srv)
	// Published on 127.0.0.1 only: not on the host's other addresses.
	if _, err := get("tcp", fmt.Sprintf("%s:%d", hostAddr(t), ports[0].HostPort)); err == nil {
		t.Errorf("a port published on 127.0.0.1 answers on %s", hostAddr(t))
	}
}

func TestNetworkOutboundNAT(t *testing.T) {
	e := netEnv(t)
	out := newOutside(t)
	srv := out.command(e.nettool, "serve", "9000")
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "listening\n" {
		t.Fatalf("outside server: %q", line)
	}
	ans := e.runOut(0, e.nt(nil, "get", "tcp", out.Addr.String()+":9000")...)
	f := strings.Fields(ans)
	if len(f) != 3 {
		t.Fatalf("answer %q", ans)
	}
	// Masqueraded: the outside saw the host's address on its link.
	if from, err := netip.ParseAddrPort(f[2]); err != nil || from.Addr() != out.Host {
		t.Errorf("the outside server saw %s, want the host's %s", f[2], out.Host)
	}
	// --network none has no way out.
	e.mustRun(1, append([]string{"run", "--rm", "--network", "none"}, e.nt(nil, "get", "tcp", out.Addr.String()+":9000")...)...)
}

func TestNetworkModes(t *testing.T) {
	e := netEnv(t)
	got := e.runOut(0, e.nt([]string{"--network", "none"}, "addrs")...)
	if strings.TrimSpace(got) != "" {
		t.Errorf("--network none has addresses %q", got)
	}
	got = e.runOut(0, e.nt(nil, "addrs")...)
	if !strings.HasPrefix(got, "eth0=") {
		t.Errorf("the default network gives %q, want eth0=ADDR", got)
	}
	// Its /etc files: --add-host (host-gateway is the gateway), --dns.
	got = e.runOut(0, "--add-host", "gw:host-gateway", "--dns", "10.53.0.1", "--dns-search", "example.test", rootfsDir, "sh", "-c", "cat /etc/hosts /etc/resolv.conf")
	for _, want := range []string{"\tgw\n", "nameserver 10.53.0.1\n", "search example.test\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("/etc/hosts and /etc/resolv.conf lack %q:\n%s", want, got)
		}
	}
	srv := e.server()
	addr := e.containerIP(srv)
	got = e.runOut(0, e.nt([]string{"--network", "container:" + srv}, "addrs")...)
	if !strings.Contains(got, addr.String()) {
		t.Errorf("--network container: sees %q, want the address %s of the other", got, addr)
	}
	// The namespace is joinable by path (nsenter, an OCI spec).
	if _, err := exec.LookPath("nsenter"); err == nil {
		b, err := exec.Command("nsenter", "--net="+network.NetnsPath(srv), filepath.Join(e.nettool, "nettool"), "addrs").CombinedOutput()
		if err != nil || !strings.Contains(string(b), addr.String()) {
			t.Errorf("nsenter --net=%s: %v %q", network.NetnsPath(srv), err, b)
		}
	}
}

func TestNetworkCleanupAfterKill9(t *testing.T) {
	e := netEnv(t)
	p := fmt.Sprint(freeHostPort(t))
	for _, victim := range []string{"monitor", "run"} {
		t.Run(victim, func(t *testing.T) {
			var id string
			if victim == "monitor" {
				id = e.runDetached(e.nt([]string{"-p", p + ":8080"}, "serve", "8080")...)
				r := e.record(id)
				syscall.Kill(r.Monitor, syscall.SIGKILL)
				testutil.WaitFor(t, 10*time.Second, "the monitor to die", func() bool { return processGone(r.Monitor) })
			} else {
				cmd := e.command(append([]string{"run", "--rm"}, e.nt([]string{"-p", p + ":8080"}, "serve", "8080")...)...)
				stdout, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				bufio.NewReader(stdout).ReadString('\n') // it runs
				cmd.Process.Kill()
				cmd.Wait()
				ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
				if len(ents) != 1 {
					t.Fatalf("%d containers, want the one killed", len(ents))
				}
				id = ents[0].Name()
			}
			// The next command collects it.
			e.mustRun(0, "ps", "-a")
			if victim == "monitor" {
				e.rmf(id)
			}
			assertNetworkGone(t, id)
			// Its port can be published again.
			id2 := e.server("-p", p+":8080")
			e.rmf(id2)
		})
	}
}

func TestNetworkConcurrentAddresses(t *testing.T) {
	e := netEnv(t)
	const n = 50
	results := e.runConcurrently(n, "run", "-d", rootfsDir, "sleep", "600")
	ids := make([]string, n)
	for i, r := range results {
		ids[i] = strings.TrimSpace(r.stdout)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, id := range ids {
			if idRE.MatchString(id) {
				wg.Add(1)
				go func() { defer wg.Done(); e.run("rm", "-f", id) }()
			}
		}
		wg.Wait()
		for _, id := range ids {
			if idRE.MatchString(id) {
				assertNetworkGone(t, id)
			}
		}
	})
	seen := map[netip.Addr]string{}
	for i, id := range ids {
		if results[i].code != 0 || !idRE.MatchString(id) {
			t.Fatalf("run %d:\n%s", i, results[i])
		}
		a := e.containerIP(id)
		if other, dup := seen[a]; dup {
			t.Errorf("containers %s and %s both have %s", other[:12], id[:12], a)
		}
		seen[a] = id
	}
}

func TestNetworkBadInput(t *testing.T) {
	e := netEnv(t)
	p := freeHostPort(t)
	srv := e.server("-p", fmt.Sprintf("%d:8080", p))
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	listened := l.Addr().(*net.TCPAddr).Port
	stopped := e.runDetached(rootfsDir, "true")
	e.waitStatus(stopped, "exited", 10*time.Second)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "0:80"}, `"0" is not a port`},
		{[]string{"-p", "65536:80"}, `"65536" is not a port`},
		{[]string{"-p", "80/sctp"}, `protocol "sctp"`},
		{[]string{"-p", "x:1:2:3"}, "too many colons"},
		{[]string{"-p", "10-12:80-81"}, "ranges differ"},
		{[]string{"-p", "300.1.1.1:80:80"}, "not an IPv4 address"},
		{[]string{"-p", fmt.Sprintf("%d:80", p)}, "published by container " + srv[:12]},
		{[]string{"-p", fmt.Sprintf("%d:80", listened)}, "already in use"},
		{[]string{"--network", "nosuch"}, "nosuch"},
		{[]string{"--network", "none", "-p", "80"}, "need a bridge network"},
		{[]string{"--name", "self", "--network", "container:self"}, "its own network namespace"},
		{[]string{"--network", "container:" + stopped}, "not running"},
		{[]string{"--network", "container:nosuch"}, "nosuch"},
		{[]string{"--ip", "172.17.0.9"}, "only on user-defined networks"},
		{[]string{"--network-alias", "x"}, "only on user-defined networks"},
		{[]string{"--add-host", "bad"}, "want NAME:IP"},
		{[]string{"--network", "none", "--add-host", "h:host-gateway"}, "host-gateway needs a bridge network"},
	} {
		before, _ := os.ReadDir(filepath.Join(e.root, "containers"))
		r := e.run(append(append([]string{"run", "--rm"}, c.args...), rootfsDir, "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("run %s: want exit 125 and one line with %q:\n%s", strings.Join(c.args, " "), c.want, r)
		}
		after, _ := os.ReadDir(filepath.Join(e.root, "containers"))
		if len(after) != len(before) {
			t.Errorf("run %s left a container", strings.Join(c.args, " "))
		}
	}
	// Nothing was published by the refused runs.
	if n, _ := network.RuleCount(srv); n != 1 {
		t.Errorf("%d rules for the server, want its one port", n)
	}
}

// userNetwork creates a network with `network create ARGS NAME` and removes
// it when the test ends, checking that its bridge goes.
func (e *env) userNetwork(args ...string) (name, bridge string) {
	e.t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name = "t" + hex.EncodeToString(b)
	e.mustRun(0, append(append([]string{"network", "create"}, args...), name)...)
	e.t.Cleanup(func() {
		e.mustRun(0, "network", "rm", name)
		if _, err := net.InterfaceByName(bridge); err == nil || bridge == "" {
			e.t.Errorf("network %s: bridge %q left after network rm", name, bridge)
		}
	})
	var docs []struct {
		ID      string            `json:"Id"`
		Options map[string]string `json:"Options"`
	}
	r := e.mustRun(0, "network", "inspect", name)
	if err := json.Unmarshal([]byte(r.stdout), &docs); err != nil || len(docs) != 1 {
		e.t.Fatalf("network inspect %s: %v\n%s", name, err, r)
	}
	return name, docs[0].Options["com.docker.network.bridge.name"]
}

func TestNetworkUserDefined(t *testing.T) {
	e := netEnv(t)
	name, _ := e.userNetwork("--subnet", "198.19.7.0/24")
	srv := e.server("--name", "srv", "--network", name, "--network-alias", "web")
	if a := e.containerIP(srv); !netip.MustParsePrefix("198.19.7.0/24").Contains(a) {
		t.Errorf("address %s outside the network's subnet", a)
	}
	// By name, alias and short id, from a container started later.
	for _, host := range []string{"srv", "web", srv[:12]} {
		ans := e.runOut(0, e.nt([]string{"--network", name}, "get", "tcp", host+":8080")...)
		answerFrom(t, ans, srv)
	}
	// --ip.
	got := e.runOut(0, e.nt([]string{"--network", name, "--ip", "198.19.7.200"}, "addrs")...)
	if !strings.Contains(got, "198.19.7.200/24") {
		t.Errorf("--ip 198.19.7.200 gives %q", got)
	}
	// In use: not removed.
	if r := e.run("network", "rm", name); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("network rm of a network in use:\n%s", r)
	}
	// Another network's container does not reach it but through a
	// published port.
	e.mustRun(1, append([]string{"run", "--rm"}, e.nt(nil, "get", "tcp", e.containerIP(srv).String()+":8080")...)...)
	e.remove(srv)
	// It no longer resolves.
	e.mustRun(1, append([]string{"run", "--rm"}, e.nt([]string{"--network", name}, "get", "tcp", "srv:8080")...)...)
}

func TestNetworkFullSubnet(t *testing.T) {
	e := netEnv(t)
	// A /29: the gateway and 5 containers.
	name, _ := e.userNetwork("--subnet", "198.19.8.0/29")
	for range 5 {
		e.runDetached("--network", name, rootfsDir, "sleep", "600")
	}
	r := e.mustRun(125, "run", "--rm", "--network", name, rootfsDir, "true")
	if !strings.Contains(r.stderr, "no free address in 198.19.8.0/29") {
		t.Errorf("a full subnet:\n%s", r)
	}
}

func TestNetworkInternal(t *testing.T) {
	e := netEnv(t)
	out := newOutside(t)
	srv := out.command(e.nettool, "serve", "9000")
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	bufio.NewReader(stdout).ReadString('\n')
	name, _ := e.userNetwork("--internal", "--subnet", "198.19.9.0/24")
	got := e.runOut(0, e.nt([]string{"--network", name}, "addrs")...)
	if !strings.Contains(got, "198.19.9.") {
		t.Errorf("internal network: addresses %q", got)
	}
	e.mustRun(1, append([]string{"run", "--rm"}, e.nt([]string{"--network", name}, "get", "tcp", out.Addr.String()+":9000")...)...)
}

func TestNetworkConnectDisconnect(t *testing.T) {
	e := netEnv(t)
	name, _ := e.userNetwork("--subnet", "198.19.10.0/24")
	srv := e.server("--name", "srv")
	e.mustRun(0, "network", "connect", "--alias", "api", name, "srv")
	r := e.record(srv)
	if len(r.Networks) != 2 || r.Networks[1].Interface != "eth1" || !netip.MustParsePrefix("198.19.10.0/24").Contains(r.Networks[1].IP) {
		t.Fatalf("networks after connect: %+v", r.Networks)
	}
	// Reached on the new network by name and alias.
	for _, host := range []string{"srv", "api"} {
		answerFrom(t, e.runOut(0, e.nt([]string{"--network", name}, "get", "tcp", host+":8080")...), srv)
	}
	if r := e.run("network", "connect", name, "srv"); r.code == 0 || !strings.Contains(r.stderr, "already on network") {
		t.Errorf("connect twice:\n%s", r)
	}
	e.mustRun(0, "network", "disconnect", name, "srv")
	if r := e.record(srv); len(r.Networks) != 1 || r.Networks[0].Network != "bridge" {
		t.Errorf("networks after disconnect: %+v", r.Networks)
	}
	e.mustRun(1, append([]string{"run", "--rm"}, e.nt([]string{"--network", name}, "get", "tcp", "api:8080")...)...)
	if got := e.mustRun(0, "exec", "srv", "/nt/nettool", "addrs").stdout; strings.Contains(got, "eth1") {
		t.Errorf("eth1 left after disconnect: %q", got)
	}
	if r := e.run("network", "disconnect", name, "srv"); r.code == 0 || !strings.Contains(r.stderr, "not on network") {
		t.Errorf("disconnect twice:\n%s", r)
	}
	// Connected again, it stays so across a restart; then removed,
	// everything goes (see server).
	e.mustRun(0, "network", "connect", name, "srv")
	e.mustRun(0, "restart", "-t", "1", "srv")
	testutil.WaitFor(t, 10*time.Second, "the server to listen again", func() bool {
		b, _ := os.ReadFile(e.LogPath(srv))
		return strings.Count(string(b), "listening") == 2
	})
	if r := e.record(srv); len(r.Networks) != 2 || r.Networks[1].Network != name {
		t.Errorf("networks after a restart: %+v", r.Networks)
	}
	answerFrom(t, e.runOut(0, e.nt([]string{"--network", name}, "get", "tcp", "srv:8080")...), srv)
	stopped := e.runDetached(rootfsDir, "true")
	e.waitStatus(stopped, "exited", 10*time.Second)
	if r := e.run("network", "connect", name, stopped); r.code == 0 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("connect of a stopped container:\n%s", r)
	}
}

// hostNetworkState counts what sdocker holds of the host's network: mounted
// namespaces, leases on the default bridge, reserved ports, DNAT rules and
// veths.
func hostNetworkState(t *testing.T) string {
	t.Helper()
	count := func(dir string) int { ents, _ := os.ReadDir(dir); return len(ents) }
	rules, err := network.RuleCount("")
	if err != nil {
		t.Fatal(err)
	}
	veths := 0
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "sd") && len(i.Name) == 15 {
			veths++
		}
	}
	return fmt.Sprintf("%d namespaces, %d leases, %d ports, %d rules, %d veths",
		count(filepath.Join(network.RunDir, "netns")), count(filepath.Join(network.RunDir, "leases", network.DefaultBridge)),
		count(filepath.Join(network.RunDir, "ports")), rules, veths)
}

// TestNetworkSequentialNoLeak: 100 `run --rm` with a published port leave
// the host's network as they found it.
func TestNetworkSequentialNoLeak(t *testing.T) {
	e := netEnv(t)
	e.mustRun(0, "run", "--rm", rootfsDir, "true") // the bridge and its rules exist
	// Its veth goes in the background: the state before is a settled one.
	var before string
	testutil.Poll(20*time.Second, func() bool {
		prev := before
		time.Sleep(200 * time.Millisecond)
		before = hostNetworkState(t)
		return before == prev
	})
	for i := range 100 {
		if r := e.run("run", "--rm", "-p", "127.0.0.1::8080", rootfsDir, "true"); r.code != 0 {
			t.Fatalf("run %d:\n%s", i, r)
		}
	}
	// The veths go with their namespaces, in the background.
	var after string
	if !testutil.Poll(20*time.Second, func() bool { after = hostNetworkState(t); return after == before }) {
		t.Errorf("before: %s; after: %s", before, after)
	}
}

// TestNetworkPublishAll: -P publishes every port the image exposes, each on
// a host port the kernel picks.
func TestNetworkPublishAll(t *testing.T) {
	e := netEnv(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	writeDockerArchive(t, archive, []dockerImage{{
		tags:   []string{"exposing:1"},
		config: imageConfig{Cmd: []string{"/nt/nettool", "serve", "8080"}, ExposedPorts: []string{"8080/tcp", "8080/udp"}},
		layers: [][]byte{layerTar(t, rootfsDir, nil)},
	}})
	e.cleanupImage("exposing:1")
	e.mustRun(0, "load", "-i", archive)
	srv := e.served(e.runDetached("-v", e.nettool+":/nt:ro", "-P", "exposing:1"))
	ports := e.record(srv).Networks[0].Ports
	if len(ports) != 2 {
		t.Fatalf("-P published %+v, want 8080/tcp and 8080/udp", ports)
	}
	for _, m := range ports {
		if m.HostPort == 0 || m.ContainerPort != 8080 {
			t.Errorf("-P: %+v", m)
			continue
		}
		ans, err := get(m.Proto, fmt.Sprintf("127.0.0.1:%d", m.HostPort))
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		answerFrom(t, ans, srv)
	}
}
