package engine

import (
	"strings"
	"testing"
)

// TestInspectObjects: inspect finds a container first, then an image, a
// network, a volume (Docker's order); --type looks for one kind only; a
// name that is nothing is exit 1 with the others still shown.
func TestInspectObjects(t *testing.T) {
	e := newEnv(t)
	e.trackRoot()
	e.cleanupImage("inspimg:1")
	img := strings.TrimSpace(e.mustRun(0, "import", rootfsDir, "inspimg:1").stdout)
	e.mustRun(0, "volume", "create", "shared")
	e.mustRun(0, "volume", "create", "vonly")
	t.Cleanup(func() { e.run("volume", "rm", "shared", "vonly") })
	id := e.runDetached("--name", "shared", "inspimg:1", "sleep", "100")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", "{{.Id}}", "shared"}, id},
		{[]string{"--type", "container", "-f", "{{.Id}}", "shared"}, id},
		{[]string{"--type", "volume", "-f", "{{.Name}} {{.Driver}}", "shared"}, "shared local"},
		{[]string{"-f", "{{.Name}} {{.Driver}}", "vonly"}, "vonly local"},
		{[]string{"-f", "{{.Id}} {{index .RepoTags 0}}", "inspimg:1"}, img + " inspimg:1"},
		{[]string{"--type", "image", "-f", "{{.Id}}", img[:19]}, img},
		{[]string{"-f", "{{.Name}} {{.Driver}}", "bridge"}, "bridge bridge"},
		{[]string{"--type", "network", "-f", "{{.Name}}", "bridge"}, "bridge"},
	} {
		if r := e.run(append([]string{"inspect"}, tc.args...)...); r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
			t.Errorf("want %q:\n%s", tc.want, r)
		}
	}
	// JSON: one array of the objects found, each in its own shape.
	r := e.mustRun(1, "inspect", "shared", "nope", "inspimg:1", "vonly")
	for _, want := range []string{`"State": {`, `"RepoTags": [`, `"Mountpoint": `} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect of a container, an image and a volume lacks %s:\n%s", want, r)
		}
	}
	if !strings.HasPrefix(r.stdout, "[") || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "no such object: nope") {
		t.Errorf("inspect with a missing name:\n%s", r)
	}
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{1, []string{"--type", "container", "inspimg:1"}, "no such container"},
		{1, []string{"--type", "image", "vonly"}, "vonly"},
		{1, []string{"--type", "network", "shared"}, "no such network"},
		{1, []string{"--type", "volume", "bridge"}, "no such volume"},
		{125, []string{"--type", "pod", "shared"}, `--type "pod"`},
	} {
		r := e.run(append([]string{"inspect"}, tc.args...)...)
		if r.code != tc.code || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, tc.want) || tc.code == 125 && r.stdout != "" {
			t.Errorf("want exit %d and %q:\n%s", tc.code, tc.want, r)
		}
	}
}
