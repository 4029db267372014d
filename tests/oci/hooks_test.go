package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/tests/testutil"
)

// Every hook gets the container's state on stdin; they run in the order of
// the lifecycle.
func TestHooks(t *testing.T) {
	b := newBundle(t)
	out := b.outDir()
	b.spec.Annotations = map[string]string{"org.example.hooks": "yes"}
	hook := func(name string) specs.Hook {
		// startContainer runs in the container, after pivot_root: its path
		// and the files it writes are the container's (/out is out).
		dir, env := out, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		if name == "startContainer" {
			dir, env = "/out", []string{"PATH=/bin"}
		}
		return specs.Hook{Path: "/bin/sh", Env: env,
			Args: []string{"sh", "-c", fmt.Sprintf("cat > %s/%s.json; echo %s >> %s/order", dir, name, name, dir)}}
	}
	b.spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart")}, //nolint:staticcheck // deprecated, still run
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{hook("createContainer")},
		StartContainer:  []specs.Hook{hook("startContainer")},
		Poststart:       []specs.Hook{hook("poststart")},
		Poststop:        []specs.Hook{hook("poststop")},
	}
	b.long()
	order := func() []string {
		data, _ := os.ReadFile(filepath.Join(out, "order"))
		return lines(string(data))
	}
	b.mustCreate()
	initPid := b.state().Pid
	got := strings.Join(order(), ",")
	ok := got == "prestart,createRuntime,createContainer"
	if runcBefore(1, 2) {
		// runc 1.1 runs poststart hooks at create (fixed in runc 1.2).
		ok = ok || got == "prestart,createRuntime,createContainer,poststart"
	}
	if !ok {
		t.Errorf("hooks run by create: %v, want prestart, createRuntime, createContainer", got)
	}
	b.start()
	b.waitOutput("ready")
	testutil.WaitFor(t, pollTimeout, "the startContainer and poststart hooks", func() bool { return len(order()) >= 5 })
	mustRT(t, "kill", b.id, "KILL")
	b.waitStatus("stopped")
	waitGone(initPid, pollTimeout)
	mustRT(t, "delete", b.id)

	all := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	final := order()
	t.Logf("hook order: %v", final)
	pos := map[string]int{}
	for i, h := range final {
		if _, dup := pos[h]; dup {
			t.Errorf("hook %s ran twice", h)
		}
		pos[h] = i
	}
	for _, h := range all {
		if _, ok := pos[h]; !ok {
			t.Errorf("hook %s did not run (order %v)", h, final)
		}
	}
	// startContainer and poststart are not ordered against each other by
	// either runtime (the init runs one as start's command runs the other).
	for _, before := range [][2]string{
		{"prestart", "createContainer"}, {"createRuntime", "createContainer"},
		{"createContainer", "startContainer"}, {"createContainer", "poststart"},
		{"startContainer", "poststop"}, {"poststart", "poststop"},
	} {
		if a, ok1 := pos[before[0]]; ok1 {
			if c, ok2 := pos[before[1]]; ok2 && a > c {
				t.Errorf("hook %s ran after %s: %v", before[0], before[1], final)
			}
		}
	}
	for _, h := range all {
		data, err := os.ReadFile(filepath.Join(out, h+".json"))
		if err != nil {
			continue
		}
		var st ociState
		if err := json.Unmarshal(data, &st); err != nil {
			t.Errorf("hook %s got no state JSON on stdin: %v: %q", h, err, data)
			continue
		}
		t.Logf("%s got %s", h, data)
		if st.ID != b.id || !strings.HasPrefix(st.OCIVersion, "1.") || st.Bundle != b.dir {
			t.Errorf("hook %s state: id %q ociVersion %q bundle %q", h, st.ID, st.OCIVersion, st.Bundle)
		}
		if st.Annotations["org.example.hooks"] != "yes" {
			t.Errorf("hook %s state lacks the annotations: %v", h, st.Annotations)
		}
		switch h {
		case "prestart", "createRuntime", "poststart":
			if st.Pid != initPid {
				t.Errorf("hook %s state pid %d, want the init's %d", h, st.Pid, initPid)
			}
		case "createContainer", "startContainer":
			// runc gives the pid as seen in the container (1) to the hooks
			// that run there; the host pid is as good.
			if st.Pid != initPid && st.Pid != 1 {
				t.Errorf("hook %s state pid %d, want %d", h, st.Pid, initPid)
			}
		}
		switch h {
		case "prestart", "createRuntime", "createContainer":
			if st.Status != "creating" && st.Status != "created" {
				t.Errorf("hook %s state status %q", h, st.Status)
			}
		case "poststart":
			if st.Status != "running" && st.Status != "created" {
				t.Errorf("hook %s state status %q", h, st.Status)
			}
		case "poststop":
			if st.Status != "stopped" {
				t.Errorf("hook %s state status %q, want stopped", h, st.Status)
			}
		}
	}
}

// A hook that runs past its timeout fails create, which leaves no
// container behind.
func TestHookTimeout(t *testing.T) {
	b := newBundle(t)
	b.spec.Hooks = &specs.Hooks{
		CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "60"}, Timeout: ptr(2)}},
	}
	b.long()
	start := time.Now()
	r := b.create()
	took := time.Since(start)
	if r.code == 0 {
		t.Fatalf("create with a hook sleeping past its timeout succeeded")
	}
	if took > 40*time.Second {
		t.Errorf("create took %s: the 2s hook timeout was not enforced", took)
	}
	if st, err := b.stateErr(); err == nil && st.Status != "stopped" {
		t.Errorf("after a failed create the container is %q", st.Status)
	}
	t.Logf("create failed after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
}

// A failing createRuntime hook fails create with its output in the error.
func TestHookFailure(t *testing.T) {
	b := newBundle(t)
	b.spec.Hooks = &specs.Hooks{
		CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-said-no >&2; exit 3"}}},
	}
	b.long()
	r := b.create()
	if r.code == 0 {
		t.Fatalf("create with a failing createRuntime hook succeeded")
	}
	if st, err := b.stateErr(); err == nil && st.Status != "stopped" {
		t.Errorf("after a failed create the container is %q", st.Status)
	}
	if !strings.Contains(r.stderr, "hook") {
		t.Errorf("the error does not mention the hook: %q", r.stderr)
	}
}
