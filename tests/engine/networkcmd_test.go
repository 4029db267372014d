package engine

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdocker/sdocker/internal/network"
	"github.com/sdocker/sdocker/tests/testutil"
)

// networkFiles lists what the network store holds, so that a refusal can
// be shown to leave it as it was.
func networkFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	dir := filepath.Join(root, "networks")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, strings.TrimPrefix(p, dir))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inspectNetworkJSON is what the tests read of `network inspect`.
type inspectNetworkJSON struct {
	Name, Id, Scope, Driver string
	Created                 string
	Internal                bool
	IPAM                    struct {
		Driver string
		Config []struct{ Subnet, Gateway string }
	}
	Containers map[string]struct{ Name, IPv4Address string }
	Options    map[string]string
	Labels     map[string]string
}

func TestNetworkCreateLsInspect(t *testing.T) {
	e := newEnv(t)
	ls := e.mustRun(0, "network", "ls")
	if l := lines(ls.stdout); len(l) != 2 || strings.Join(strings.Fields(l[0]), " ") != "NETWORK ID NAME DRIVER SCOPE" ||
		!slices.Equal(strings.Fields(l[1])[1:], []string{"bridge", "bridge", "local"}) {
		t.Fatalf("a new root's networks:\n%s", ls)
	}
	app := strings.TrimSpace(e.mustRun(0, "network", "create", "app").stdout)
	back := strings.TrimSpace(e.mustRun(0, "network", "create", "--subnet", "10.201.0.0/24", "--gateway", "10.201.0.254",
		"--internal", "--label", "env=test", "--label", "tier", "backend").stdout)
	if !idRE.MatchString(app) || !idRE.MatchString(back) {
		t.Fatalf("ids %q %q", app, back)
	}
	ls = e.mustRun(0, "network", "ls")
	var names []string
	for _, l := range lines(ls.stdout)[1:] {
		names = append(names, strings.Fields(l)[1])
	}
	if !slices.Equal(names, []string{"app", "backend", "bridge"}) {
		t.Errorf("ls:\n%s", ls)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-q", "--filter", "label=env=test"}, []string{back[:12]}},
		{[]string{"-q", "--filter", "label=tier", "--no-trunc"}, []string{back}},
		{[]string{"-q", "--filter", "label=env=prod"}, nil},
		{[]string{"-q", "--filter", "name=ap"}, []string{app[:12]}},
		{[]string{"-q", "--filter", "name=app", "--filter", "name=backend"}, []string{app[:12], back[:12]}},
		{[]string{"-q", "--filter", "id=" + back[:5], "--filter", "type=custom"}, []string{back[:12]}},
		{[]string{"--format", "{{.Name}} {{.Driver}} {{.Internal}} {{.Labels}}", "-f", "type=custom"}, []string{"app bridge false ", "backend bridge true env=test,tier="}},
	} {
		if got := lines(e.mustRun(0, append([]string{"network", "ls"}, c.args...)...).stdout); !slices.Equal(got, c.want) {
			t.Errorf("ls %v = %q, want %q", c.args, got, c.want)
		}
	}
	for _, bad := range [][]string{{"--filter", "color=red"}, {"--filter", "name"}, {"--filter", "type=mine"}, {"--format", "{{"}} {
		if r := e.run(append([]string{"network", "ls"}, bad...)...); r.code != 125 || r.stdout != "" || !strings.Contains(r.stderr, "sdocker: ") {
			t.Errorf("ls %v:\n%s", bad, r)
		}
	}

	var got []inspectNetworkJSON
	r := e.mustRun(0, "network", "inspect", "backend", app[:6])
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("inspect: %v\n%s", err, r)
	}
	b, a := got[0], got[1]
	if b.Name != "backend" || b.Id != back || b.Scope != "local" || b.Driver != "bridge" || !b.Internal ||
		b.IPAM.Driver != "default" || len(b.IPAM.Config) != 1 || b.IPAM.Config[0].Subnet != "10.201.0.0/24" ||
		b.IPAM.Config[0].Gateway != "10.201.0.254" || b.Containers == nil || len(b.Containers) != 0 ||
		b.Options["com.docker.network.bridge.name"] != "sd-"+back[:12] || b.Labels["env"] != "test" || b.Created == "" {
		t.Errorf("inspect backend: %+v\n%s", b, r.stdout)
	}
	sub, err := netip.ParsePrefix(a.IPAM.Config[0].Subnet)
	if a.Name != "app" || err != nil || a.IPAM.Config[0].Gateway != sub.Addr().Next().String() || a.Internal || a.Labels == nil {
		t.Errorf("inspect app: %+v", a)
	}
	// A template over Docker's field names; a network not found: exit 1,
	// the others still shown.
	r = e.mustRun(1, "network", "inspect", "-f", "{{.Id}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "nope", "backend")
	if r.stdout != back+" 10.201.0.0/24\n" || !strings.Contains(r.stderr, "no such network: nope") {
		t.Errorf("inspect -f with a missing network:\n%s", r)
	}
	if r := e.mustRun(1, "network", "inspect", "-f", "{{.NoSuchField}}", "backend"); r.stdout != "" {
		t.Errorf("inspect with a bad field:\n%s", r)
	}
}

// Bad input is refused with a clear error, exit 125, and leaves the store
// as it was.
func TestNetworkCreateRefused(t *testing.T) {
	e := newEnv(t)
	e.mustRun(0, "network", "create", "--subnet", "10.202.0.0/16", "taken")
	e.mustRun(0, "network", "inspect", "bridge")
	before := networkFiles(t, e.root)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"taken"}, "network with name taken already exists"},
		{[]string{"bridge"}, "already exists"},
		{[]string{"host"}, "pre-defined"},
		{[]string{"bad/name"}, `invalid network name "bad/name"`},
		{[]string{"-x"}, "unknown shorthand flag"},
		{[]string{}, "accepts 1 arg"},
		{[]string{"--subnet", "10.1.0.0/33", "n"}, `invalid subnet "10.1.0.0/33"`},
		{[]string{"--subnet", "nonsense", "n"}, `invalid subnet "nonsense"`},
		{[]string{"--subnet", "10.203.0.1/16", "n"}, "invalid subnet 10.203.0.1/16: it should be 10.203.0.0/16"},
		{[]string{"--subnet", "10.203.0.0/32", "n"}, "too small"},
		{[]string{"--subnet", "fd00::/64", "n"}, "only IPv4"},
		{[]string{"--subnet", "10.203.0.0/24", "--gateway", "10.204.0.1", "n"}, "not in subnet"},
		{[]string{"--subnet", "10.203.0.0/24", "--gateway", "10.203.0.255", "n"}, "broadcast"},
		{[]string{"--subnet", "10.203.0.0/24", "--gateway", "gw", "n"}, "not an IP address"},
		{[]string{"--gateway", "10.203.0.1", "n"}, "needs a subnet"},
		{[]string{"--subnet", "10.202.5.0/24", "n"}, "overlaps network taken (10.202.0.0/16)"},
		{[]string{"--subnet", "10.0.0.0/8", "n"}, "overlaps network taken"},
		{[]string{"--subnet", "127.1.0.0/16", "n"}, "overlaps the host's address 127.0.0.1/8 (dev lo)"},
		{[]string{"--label", "=v", "n"}, "the key is empty"},
		{[]string{"-d", "overlay", "n"}, `invalid driver "overlay"`},
	} {
		r := e.run(append([]string{"network", "create"}, c.args...)...)
		if p := testutil.RefusalProblem(r.code, r.stderr, c.want); p != "" || r.stdout != "" {
			t.Errorf("network create %v: %s\n%s", c.args, p, r)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rm", "bridge"}, "bridge is a pre-defined network and cannot be removed"},
		{[]string{"rm", "nope"}, "no such network: nope"},
		{[]string{"rm"}, "requires at least 1 arg"},
	} {
		r := e.run(append([]string{"network"}, c.args...)...)
		if p := testutil.RefusalProblem(r.code, r.stderr, c.want); p != "" {
			t.Errorf("network %v: %s\n%s", c.args, p, r)
		}
	}
	if after := networkFiles(t, e.root); !slices.Equal(before, after) {
		t.Errorf("refusals changed the store:\n%v\n%v", before, after)
	}
}

// rm and prune leave alone a network that a running container is on (a
// member, as the engine records one when the container starts).
func TestNetworkRmPrune(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"used", "idle1", "idle2"} {
		e.mustRun(0, "network", "create", n)
	}
	s, err := network.Open(e.root)
	if err != nil {
		t.Fatal(err)
	}
	used, err := s.Get("used")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	hosts := filepath.Join(e.root, "hosts-of-web")
	web := network.Member{ContainerID: id, Name: "web", Addr: used.Gateway.Next(), HostsPath: hosts}
	if err := s.Join(used, web); err != nil {
		t.Fatal(err)
	}
	r := e.run("network", "rm", "idle1", "used")
	if p := testutil.RefusalProblem(r.code, r.stderr, "network used is in use by container web"); p != "" || r.stdout != "idle1\n" {
		t.Errorf("rm idle1 used: %s\n%s", p, r)
	}
	var got []inspectNetworkJSON
	r = e.mustRun(0, "network", "inspect", "used")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 ||
		got[0].Containers[id].Name != "web" || got[0].Containers[id].IPv4Address != web.Addr.String()+"/16" {
		t.Errorf("inspect used: %v\n%s", err, r.stdout)
	}
	// Without -f prune asks, and only yes goes ahead.
	cmd := e.command("network", "prune")
	cmd.Stdin = strings.NewReader("n\n")
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "[y/N]") || strings.Contains(string(out), "Deleted") {
		t.Errorf("prune answered no: %v\n%s", err, out)
	}
	if r := e.mustRun(0, "network", "ls", "-q"); len(lines(r.stdout)) != 3 {
		t.Errorf("after a prune answered no:\n%s", r)
	}
	r = e.mustRun(0, "network", "prune", "-f")
	if r.stdout != "Deleted Networks:\nidle2\n" {
		t.Errorf("prune -f:\n%s", r)
	}
	if err := s.Leave(used, id); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, "network", "rm", used.ID[:7])
	if r := e.mustRun(0, "network", "ls", "--format", "{{.Name}}"); r.stdout != "bridge\n" {
		t.Errorf("left:\n%s", r)
	}
	if r := e.mustRun(0, "network", "prune", "-f"); r.stdout != "" {
		t.Errorf("prune with nothing to do:\n%s", r)
	}
}

// A network definition cut short: ls warns and lists the others, inspect
// and create name it, rm removes it; a damaged default network is written
// again on its next use.
func TestNetworkDamagedDefinition(t *testing.T) {
	e := newEnv(t)
	e.mustRun(0, "network", "create", "good")
	e.mustRun(0, "network", "create", "bad")
	e.mustRun(0, "network", "ls")
	for name, content := range map[string]string{"bad": `{"Name":"bad","Id":"`, "bridge": ""} {
		if err := os.WriteFile(filepath.Join(e.root, "networks", name+".json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := e.mustRun(0, "network", "ls", "--format", "{{.Name}}")
	if r.stdout != "bridge\ngood\n" || !strings.Contains(r.stderr, "warning: damaged network definition") || !strings.Contains(r.stderr, "bad.json") {
		t.Errorf("ls:\n%s", r)
	}
	r = e.run("network", "inspect", "bad")
	if p := testutil.RefusalProblem(r.code, r.stderr, "bad.json"); p != "" || r.code != 1 {
		t.Errorf("inspect bad: %s\n%s", p, r)
	}
	r = e.run("network", "create", "bad")
	if p := testutil.RefusalProblem(r.code, r.stderr, "network rm bad"); p != "" {
		t.Errorf("create bad: %s\n%s", p, r)
	}
	if r := e.mustRun(0, "network", "rm", "bad"); r.stdout != "bad\n" {
		t.Errorf("rm bad:\n%s", r)
	}
	if r := e.mustRun(0, "network", "ls", "--format", "{{.Name}}"); r.stdout != "bridge\ngood\n" || r.stderr != "" {
		t.Errorf("ls after rm:\n%s", r)
	}
}
