package main

import (
	"reflect"
	"strings"
	"testing"
)

// testCommand is a command like exec's: options, then ID and a command
// line whose own options are not ours.
func testCommand(g *globals) (*command, *struct {
	detach bool
	bundle string
	env    stringList
	gids   uintList
	args   []string
}) {
	v := &struct {
		detach bool
		bundle string
		env    stringList
		gids   uintList
		args   []string
	}{}
	c := newCommand(g, "t", "t [OPTIONS] ID [ARG...]", "a test command", 1, -1)
	c.boolVar(&v.detach, "detach", "d", false, "")
	c.stringVar(&v.bundle, "bundle", "b", ".", "")
	c.varFlag(&v.env, "env", "e", "")
	c.varFlag(&v.gids, "additional-gids", "g", "")
	c.run = func(args []string) error { v.args = args; return nil }
	return c, v
}

func TestCommandOptions(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		detach bool
		bundle string
		env    []string
		gids   []uint
		rest   []string
	}{
		{args: []string{"id"}, bundle: ".", rest: []string{"id"}},
		{args: []string{"--detach", "--bundle", "/b", "id"}, detach: true, bundle: "/b", rest: []string{"id"}},
		{args: []string{"-d", "-b=/b", "id"}, detach: true, bundle: "/b", rest: []string{"id"}},
		{args: []string{"--detach=false", "--bundle=/b", "id"}, bundle: "/b", rest: []string{"id"}},
		{args: []string{"-e", "A=1", "--env", "B=2", "--env=C=3", "id"}, bundle: ".", env: []string{"A=1", "B=2", "C=3"}, rest: []string{"id"}},
		{args: []string{"-g", "1,2", "--additional-gids", "3", "id"}, bundle: ".", gids: []uint{1, 2, 3}, rest: []string{"id"}},
		// The options stop at the first argument: the container's command
		// keeps its own (-c here is sh's, not ours).
		{args: []string{"-d", "id", "sh", "-c", "echo -d", "--env", "x"}, detach: true, bundle: ".", rest: []string{"id", "sh", "-c", "echo -d", "--env", "x"}},
		{args: []string{"--", "id", "-d"}, bundle: ".", rest: []string{"id", "-d"}},
	} {
		g := &globals{root: "/run/sdocker-runc", logFormat: "text"}
		c, v := testCommand(g)
		g.register(c.fs)
		if err := c.execute(tc.args); err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if v.detach != tc.detach || v.bundle != tc.bundle || !reflect.DeepEqual([]string(v.env), tc.env) ||
			!reflect.DeepEqual([]uint(v.gids), tc.gids) || !reflect.DeepEqual(v.args, tc.rest) {
			t.Errorf("%q: detach %v bundle %q env %q gids %v args %q; want %v %q %q %v %q",
				tc.args, v.detach, v.bundle, v.env, v.gids, v.args, tc.detach, tc.bundle, tc.env, tc.gids, tc.rest)
		}
		if got := c.changed("detach"); got != strings.Contains(strings.Join(tc.args[:max(0, indexOf(tc.args, "id"))], " "), "-d") {
			t.Errorf("%q: changed(detach) = %v", tc.args, got)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, `"t" needs at least 1 argument`},
		{[]string{"--nosuch", "id"}, "flag provided but not defined: -nosuch"},
		{[]string{"--bundle"}, "flag needs an argument"},
		{[]string{"-g", "x", "id"}, `"x": not a number`},
		{[]string{"--log-format", "xml", "id"}, `--log-format "xml": use text or json`},
		{[]string{"--systemd-cgroup", "id"}, "--systemd-cgroup: the systemd cgroup driver is not supported"},
		{[]string{"--rootless", "true", "id"}, `--rootless "true": rootless containers are not supported`},
	} {
		g := &globals{root: "/run/sdocker-runc", logFormat: "text"}
		c, _ := testCommand(g)
		g.register(c.fs)
		err := c.execute(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}

// The global options are taken before the command's name and after it, a
// command's own option of the same name wins (spec --rootless), and the
// values given before the name survive the command's parsing.
func TestGlobalOptions(t *testing.T) {
	g := &globals{root: "/run/sdocker-runc", logFormat: "text"}
	if err := execute(g, []string{"--root", t.TempDir(), "--log-format=json", "list", "--root", "/r1", "--log", "/tmp/l"}); err != nil {
		t.Fatalf("list: %v", err)
	}
	if g.root != "/r1" || g.logFormat != "json" || g.log != "/tmp/l" {
		t.Errorf("globals: root %q log-format %q log %q", g.root, g.logFormat, g.log)
	}
	g = &globals{root: "/run/sdocker-runc", logFormat: "text"}
	err := execute(g, []string{"--root=/r2", "spec", "--rootless", "--bundle", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--rootless: rootless containers are not supported") {
		t.Errorf("spec --rootless: %v, want the spec command's refusal", err)
	}
	if g.rootless != "" || g.root != "/r2" {
		t.Errorf("spec --rootless set the global --rootless (%q) or lost --root (%q)", g.rootless, g.root)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}, {"--help"}, {"help"}, {"help", "exec"}, {"exec", "--help"}} {
		if err := execute(&globals{root: "/run/sdocker-runc", logFormat: "text"}, args); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	if err := execute(&globals{}, []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), `unknown command "nosuch"`) {
		t.Errorf("unknown command: %v", err)
	}
}

// Each command is found by the name it says.
func TestCommandTable(t *testing.T) {
	g := &globals{}
	seen := map[string]bool{}
	for _, e := range commandTable {
		c := e.make(g)
		if c.name != e.name || seen[e.name] {
			t.Errorf("table entry %q builds command %q (or is listed twice)", e.name, c.name)
		}
		seen[e.name] = true
	}
}
