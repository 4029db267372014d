package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/cgroups"
)

// TestRename: a running container takes a new name (ps, inspect, the
// references and the event log follow it) and its old name is free again;
// a name another container has, the same name, a bad name, a missing
// container are refused (exit 125). On a user-defined network the other
// members resolve the new name.
func TestRename(t *testing.T) {
	e := netEnv(t)
	net, _ := e.userNetwork()
	id := e.runDetached("--name", "old", "--network", net, rootfsDir, "sleep", "100")
	peer := e.runDetached("--name", "peer", "--network", net, rootfsDir, "sleep", "100")
	e.mustRun(0, "rename", "old", "new")
	if got := e.state("new", "{{.Name}} {{.State.Status}} {{.Id}}"); got != "/new running "+id {
		t.Errorf("inspect after rename: %q", got)
	}
	if r := e.run("inspect", "--type", "container", "old"); r.code == 0 {
		t.Errorf("the old name still finds the container:\n%s", r)
	}
	if ps := e.mustRun(0, "ps", "--format", "{{.Names}}", "--filter", "id="+id).stdout; ps != "new\n" {
		t.Errorf("ps after rename: %q", ps)
	}
	hosts := e.mustRun(0, "exec", "peer", "cat", "/etc/hosts").stdout
	if !regexp.MustCompile(`(?m)\snew(\s|$)`).MatchString(hosts) || regexp.MustCompile(`(?m)\sold(\s|$)`).MatchString(hosts) {
		t.Errorf("peer's /etc/hosts after rename:\n%s", hosts)
	}
	ev := e.mustRun(0, "events", "--since", "1h", "--until", "0s", "--filter", "event=rename", "--format", "json").stdout
	var doc struct {
		Action string
		Actor  struct {
			ID         string
			Attributes map[string]string
		}
	}
	if ls := lines(ev); len(ls) != 1 || json.Unmarshal([]byte(ls[0]), &doc) != nil || doc.Actor.ID != id ||
		doc.Actor.Attributes["name"] != "new" || doc.Actor.Attributes["oldName"] != "/old" {
		t.Errorf("rename event: %s", ev)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"new", "peer"}, "name already in use"},
		{[]string{"new", "new"}, "same name"},
		{[]string{"new", "b@d"}, "invalid container name"},
		{[]string{"new", "a/b"}, "invalid container name"},
		{[]string{"nope", "other"}, "no such container"},
		{[]string{"new"}, "accepts 2 arg"},
	} {
		e.assertRefusal(e.run(append([]string{"rename"}, c.args...)...), c.want)
	}
	// The old name is free; a stopped container is renamed too.
	e.runDetached("--name", "old", "--network", "none", rootfsDir, "true")
	e.mustRun(0, "stop", "-t", "0", peer)
	e.mustRun(0, "rename", peer[:12], "peer2")
	if got := e.state("peer2", "{{.Name}}"); got != "/peer2" {
		t.Errorf("stopped container renamed: %q", got)
	}
	// Two containers renamed to the same name at once: one gets it.
	for i := range 5 {
		name := fmt.Sprintf("race%d", i)
		results := make([]result, 2)
		var wg sync.WaitGroup
		for j, ref := range []string{"old", "peer2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[j] = e.run("rename", ref, name)
			}()
		}
		wg.Wait()
		if (results[0].code == 0) == (results[1].code == 0) {
			t.Fatalf("concurrent renames to %s:\n%s\n%s", name, results[0], results[1])
		}
		winner := map[bool]string{true: "old", false: "peer2"}[results[0].code == 0]
		e.mustRun(0, "rename", name, winner)
		if got := e.mustRun(0, "ps", "-a", "--filter", "name=^"+name+"$", "-q").stdout; got != "" {
			t.Fatalf("round %d: %s still taken: %q", i, name, got)
		}
	}
}

// TestDiff: diff lists what a container added, changed and deleted over
// its image, sorted, running and stopped, leaving out the files sdocker
// mounts over and what is in volumes; a container on a rootfs directory
// and a missing one are refused.
func TestDiff(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("diffimg:1")
	id := e.runDetached("--name", "d", "--network", "none", "-v", "/diffvol", "diffimg:1", "sh", "-c",
		"echo x > /newfile; rm /usr/bin/ls; mkdir -p /etc/sub; echo y > /etc/sub/f; echo v > /diffvol/f; echo ready; sleep 100")
	e.waitLog(id, 1, timeout(10*time.Second))
	// /diffvol: a path the shared rootfs (which other tests mount volumes
	// into) never has, so its mount point is the container's.
	want := "A /diffvol\nC /etc\nA /etc/sub\nA /etc/sub/f\nA /newfile\nC /usr\nC /usr/bin\nD /usr/bin/ls\n"
	if got := e.mustRun(0, "diff", "d").stdout; got != want {
		t.Errorf("diff of a running container:\n%s\nwant\n%s", got, want)
	}
	e.mustRun(0, "stop", "-t", "0", "d")
	if got := e.mustRun(0, "diff", id[:12]).stdout; got != want {
		t.Errorf("diff of a stopped container:\n%s\nwant\n%s", got, want)
	}
	e.checkNoMounts()
	// A container that changed nothing has no diff.
	clean := strings.TrimSpace(e.mustRun(0, "create", "--network", "none", "diffimg:1", "true").stdout)
	t.Cleanup(func() { e.remove(clean) })
	if got := e.mustRun(0, "diff", clean).stdout; got != "" {
		t.Errorf("diff of a new container: %q", got)
	}
	e.checkNoMounts()
	onDir := e.runDetached("--network", "none", rootfsDir, "true")
	e.assertRefusal(e.run("diff", onDir), "rootfs directory")
	e.assertRefusal(e.run("diff", "nope"), "no such container")
}

// TestContainerPrune: container prune removes the exited and created
// containers, with nothing left of them, and keeps the running ones.
func TestContainerPrune(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("pruneimg:1")
	up := e.runDetached("--name", "up", "--network", "none", rootfsDir, "sleep", "100")
	done := e.runDetached("--name", "done", "--network", "none", "pruneimg:1", "sh", "-c", "echo 12345 > /f")
	e.waitStatus(done, "exited", timeout(10*time.Second))
	made := strings.TrimSpace(e.mustRun(0, "create", "--name", "made", rootfsDir, "true").stdout)
	// Without -f, only "y" removes.
	cmd := e.command("container", "prune")
	cmd.Stdin = strings.NewReader("n\n")
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "WARNING! This will remove all stopped containers.") {
		t.Errorf("container prune, answered n: %v %q", err, out)
	}
	if n := len(lines(e.mustRun(0, "ps", "-aq").stdout)); n != 3 {
		t.Fatalf("container prune answered n removed containers: %d left", n)
	}
	out := e.mustRun(0, "container", "prune", "-f").stdout
	ls := strings.Split(out, "\n")
	if len(ls) != 6 || ls[0] != "Deleted Containers:" || !strings.Contains(out, done+"\n") || !strings.Contains(out, made+"\n") ||
		ls[3] != "" || ls[4] != "Total reclaimed space: 6B" {
		t.Errorf("container prune -f:\n%s", out)
	}
	e.assertGone(done)
	e.assertGone(made)
	if ps := e.mustRun(0, "ps", "-aq", "--no-trunc").stdout; ps != up+"\n" {
		t.Errorf("after prune: %q, want the running container only", ps)
	}
	if out := e.mustRun(0, "container", "prune", "-f").stdout; out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune with nothing to remove: %q", out)
	}
}

// TestSystemDfPrune: system df counts images, containers and volumes and
// what a prune would reclaim (table and json); system prune removes the
// stopped containers, unused networks and dangling images (with
// --volumes, the unused anonymous volumes), never what runs or is used.
func TestSystemDfPrune(t *testing.T) {
	e := netEnv(t)
	e.importRootfs("dfimg:1")
	up := e.runDetached("--name", "up", "--network", "none", "-v", "named:/n", "dfimg:1", "sleep", "100")
	done := e.runDetached("--name", "done", "--network", "none", "-v", "/anon", "dfimg:1", "sh", "-c", "echo 1234 > /f; echo 12 > /anon/f")
	e.waitStatus(done, "exited", timeout(10*time.Second))
	r := e.mustRun(0, "system", "df", "--format", "json")
	got := map[string]map[string]string{}
	for _, l := range lines(r.stdout) {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("system df json: %v: %s", err, l)
		}
		got[m["Type"]] = m
	}
	if len(got) != 4 || got["Images"]["TotalCount"] != "1" || got["Images"]["Active"] != "1" ||
		got["Containers"]["TotalCount"] != "2" || got["Containers"]["Active"] != "1" ||
		got["Containers"]["Size"] != "5B" || got["Containers"]["Reclaimable"] != "5B (100%)" ||
		got["Local Volumes"]["TotalCount"] != "2" || got["Local Volumes"]["Active"] != "2" || got["Build Cache"]["TotalCount"] != "0" {
		t.Errorf("system df --format json:\n%s", r.stdout)
	}
	table := e.mustRun(0, "system", "df").stdout
	if ls := lines(table); len(ls) != 5 || strings.Join(strings.Fields(ls[0]), " ") != "TYPE TOTAL ACTIVE SIZE RECLAIMABLE" ||
		!strings.HasPrefix(ls[2], "Containers ") {
		t.Errorf("system df:\n%s", table)
	}
	e.assertRefusal(e.run("system", "df", "--format", "{{.Nope}}"), "template")
	e.assertRefusal(e.run("images", "--format", "{{.Nope}}"), "template")

	net, _ := e.userNetwork()
	unused := "u" + net
	e.mustRun(0, "network", "create", unused)
	t.Cleanup(func() { e.run("network", "rm", unused) })
	busy := e.runDetached("--name", "busy", "--network", net, rootfsDir, "sleep", "100")
	// A dangling image: its name moved to another.
	e.mustRun(0, "import", rootfsDir, "dangling:1")
	e.mustRun(0, "rmi", "dangling:1")
	out := e.mustRun(0, "system", "prune", "-f", "--volumes").stdout
	for _, want := range []string{"Deleted Containers:\n" + done + "\n", "Deleted Networks:\n" + unused + "\n", "Deleted Volumes:\n",
		"Total reclaimed space: 5B\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("system prune lacks %q:\n%s", want, out)
		}
	}
	e.assertGone(done)
	if ps := e.mustRun(0, "ps", "-aq", "--no-trunc").stdout; !strings.Contains(ps, up) || !strings.Contains(ps, busy) || len(lines(ps)) != 2 {
		t.Errorf("system prune touched running containers: %q", ps)
	}
	if vols := e.mustRun(0, "volume", "ls", "-q").stdout; vols != "named\n" {
		t.Errorf("volumes after system prune --volumes: %q", vols)
	}
	if r := e.run("network", "inspect", unused); r.code == 0 {
		t.Errorf("unused network left:\n%s", r)
	}
	e.mustRun(0, "network", "inspect", net)
	e.mustRun(0, "image", "inspect", "dfimg:1")
	// -a: every image no container uses, by each of its names.
	e.cleanupImage("unused:1")
	e.mustRun(0, "import", rootfsDir, "unused:1")
	e.mustRun(0, "tag", "unused:1", "unused:2")
	out = e.mustRun(0, "system", "prune", "-af").stdout
	if !strings.Contains(out, "Deleted Images:\nuntagged: unused:1\n") || !strings.Contains(out, "\nuntagged: unused:2\ndeleted: sha256:") {
		t.Errorf("system prune -a:\n%s", out)
	}
	if imgs := e.mustRun(0, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout; imgs != "dfimg:1\n" {
		t.Errorf("images after system prune -a: %q", imgs)
	}
}

// TestInfoVersion: info counts the containers by state, the images and
// volumes, and tells the host; --format is a template over Docker's
// fields or json; version likewise; a bad template is refused.
func TestInfoVersion(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.runDetached("--network", "none", rootfsDir, "sleep", "100")
	p := e.runDetached("--network", "none", rootfsDir, "sleep", "100")
	e.mustRun(0, "pause", p)
	done := e.runDetached("--network", "none", "-v", "/a", rootfsDir, "true")
	e.waitStatus(done, "exited", timeout(10*time.Second))
	out := e.mustRun(0, "info").stdout
	for _, want := range []string{" Containers: 3\n  Running: 1\n  Paused: 1\n  Stopped: 1\n", " Images: 0\n", " Volumes: 1\n",
		" Cgroup Version: " + strconv.Itoa(cgroups.Mode()) + "\n", " Docker Root Dir: " + e.root + "\n", " Server Version: 0.1.0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	if got := e.mustRun(0, "info", "--format", "{{.ContainersRunning}} {{.ContainersPaused}} {{.NCPU}} {{.OSType}}").stdout; !regexp.MustCompile(`^1 1 [1-9]\d* linux\n$`).MatchString(got) {
		t.Errorf("info --format: %q", got)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(e.mustRun(0, "info", "--format", "json").stdout), &doc); err != nil || doc["Containers"] != 3.0 || doc["DockerRootDir"] != e.root {
		t.Errorf("info --format json: %v %v", doc, err)
	}
	v := e.mustRun(0, "version").stdout
	if !strings.HasPrefix(v, "Client:\n Version:    0.1.0\n") {
		t.Errorf("version:\n%s", v)
	}
	if got := e.mustRun(0, "version", "--format", "{{.Client.Version}} {{.Client.Os}}").stdout; got != "0.1.0 linux\n" {
		t.Errorf("version --format: %q", got)
	}
	if got := e.mustRun(0, "--version").stdout; !strings.Contains(got, "0.1.0") {
		t.Errorf("--version: %q", got)
	}
	for _, c := range [][]string{{"info", "--format", "{{.Nope}}"}, {"version", "--format", "{{.Client"}, {"info", "extra"}} {
		r := e.run(c...)
		if r.code != 125 || r.stdout != "" || len(lines(r.stderr)) != 1 {
			t.Errorf("want exit 125 and one line:\n%s", r)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "containers")); err != nil {
		t.Fatal(err)
	}
}

// TestContainerSubcommands: the container commands under `container`, as
// in Docker: ls (ps, list), inspect of containers only, run, rm, ...
func TestContainerSubcommands(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.importRootfs("ctrimg:1")
	if out := e.mustRun(0, "container", "run", "--rm", "--network", "none", rootfsDir, "echo", "hi").stdout; out != "hi\n" {
		t.Errorf("container run: %q", out)
	}
	id := strings.TrimSpace(e.mustRun(0, "container", "run", "-d", "--name", "c1", "--network", "none", rootfsDir, "sleep", "100").stdout)
	t.Cleanup(func() { e.remove(id) })
	for _, ls := range []string{"ls", "ps", "list"} {
		if out := e.mustRun(0, "container", ls, "--format", "{{.Names}}").stdout; out != "c1\n" {
			t.Errorf("container %s: %q", ls, out)
		}
	}
	if got := e.mustRun(0, "container", "inspect", "-f", "{{.Name}} {{.State.Status}}", "c1").stdout; got != "/c1 running\n" {
		t.Errorf("container inspect: %q", got)
	}
	// An image is no container.
	if r := e.run("container", "inspect", "ctrimg:1"); r.code != 1 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("container inspect of an image:\n%s", r)
	}
	e.mustRun(0, "container", "stop", "-t", "0", "c1")
	e.mustRun(0, "container", "rm", "c1")
	e.assertGone(id)
}
