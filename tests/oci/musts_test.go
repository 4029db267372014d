package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runtime.md: a poststart hook that fails makes start fail and stops the
// container (runtime-spec 1.1; runc does so); run fails the same way.
func TestPoststartFailureStopsTheContainer(t *testing.T) {
	failing := &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo poststart-said-no >&2; exit 3"}}}}
	t.Run("start", func(t *testing.T) {
		if isRunc && runcVersion[0] == 1 && runcVersion[1] < 2 {
			t.Skip("runc 1.1 runs the poststart hooks at create")
		}
		b := newBundle(t)
		b.long()
		b.spec.Hooks = failing
		b.mustCreate()
		r := rt(t, "start", b.id)
		if r.code == 0 {
			t.Fatalf("start with a failing poststart hook succeeded: %v", r)
		}
		if !isRunc && !strings.Contains(r.stderr, "poststart-said-no") {
			t.Errorf("the error does not carry the hook's output: %q", r.stderr)
		}
		b.waitStatus("stopped")
	})
	t.Run("run", func(t *testing.T) {
		b := newBundle(t)
		b.long()
		b.spec.Hooks = failing
		if r := b.run(); r.code == 0 {
			t.Errorf("run with a failing poststart hook succeeded: %v", r)
		}
		if _, err := b.stateErr(); err == nil && !isRunc {
			t.Errorf("the container of a failed run is left")
		}
	})
}

// runtime.md: changes to config.json after create do not affect the
// container.
func TestConfigChangedAfterCreate(t *testing.T) {
	b := newBundle(t)
	b.sh("echo the-config-of-create")
	b.mustCreate()
	b.sh("echo changed-after-create")
	b.spec.Process.Env = append(b.spec.Process.Env, "CHANGED=1")
	b.save()
	b.start()
	b.waitStatus("stopped")
	if out := b.output(); !strings.Contains(out, "the-config-of-create") || strings.Contains(out, "changed-after-create") {
		t.Errorf("the container ran %q", out)
	}
}

// config.md: unknown properties (and annotations) are ignored, at every
// level of the config.
func TestUnknownPropertiesIgnored(t *testing.T) {
	b := newBundle(t)
	b.sh("echo ran")
	b.spec.Annotations = map[string]string{"org.example.unknown": "x"}
	b.save()
	p := filepath.Join(b.dir, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["org.example.top"] = map[string]any{"a": 1}
	m["process"].(map[string]any)["org.example.inProcess"] = []int{1, 2}
	m["linux"].(map[string]any)["org.example.inLinux"] = "x"
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := rt(t, "run", "--bundle", b.dir, b.id)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "ran" {
		t.Errorf("a config with unknown properties: %v", r)
	}
}

// config.md: a relative mount destination (deprecated) is relative to /.
func TestRelativeMountDestination(t *testing.T) {
	if isRunc && runcVersion[0] == 1 && runcVersion[1] < 2 {
		t.Skip("runc 1.1 refuses a relative destination")
	}
	b := newBundle(t)
	b.addMount(specs.Mount{Destination: "relative/dir", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
	b.sh("grep ' /relative/dir ' /proc/self/mountinfo | grep -c tmpfs")
	if out := strings.TrimSpace(b.mustRun()); out != "1" {
		t.Errorf("no tmpfs on /relative/dir: %q", out)
	}
}

// config.md's mount options that a runtime MUST implement: the ones that
// are flags (defaults, iversion, lazytime, silent...) are not handed to the
// file system, which would refuse them, and take effect.
func TestSpecMountOptionFlags(t *testing.T) {
	if isRunc && runcVersion[0] == 1 && runcVersion[1] < 2 {
		t.Skip("runc 1.1 hands defaults to the file system")
	}
	b := newBundle(t)
	b.addMount(specs.Mount{Destination: "/flags", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"defaults", "iversion", "noiversion", "loud", "silent", "nolazytime", "lazytime", "ro"}})
	b.sh("grep ' /flags ' /proc/self/mountinfo")
	out := b.mustRun()
	if f := strings.Fields(out); len(f) < 6 || !strings.HasPrefix(f[5], "ro,") || !strings.Contains(out, "lazytime") {
		t.Errorf("/flags is not a read-only tmpfs with lazytime: %q", out)
	}
}

// runtime.md: a poststop hook that fails is a warning; delete goes on and
// removes the container.
func TestPoststopFailureWarns(t *testing.T) {
	b := newBundle(t)
	b.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}}}}
	b.mustCreate()
	r := rt(t, "delete", "--force", b.id)
	if r.code != 0 || !isRunc && !strings.Contains(r.stderr, "warning") {
		t.Errorf("delete with a failing poststop hook: %v", r)
	}
	if _, err := b.stateErr(); err == nil {
		t.Errorf("the container is left after delete")
	}
}

// runtime.md: a createRuntime (or createContainer, or prestart) hook that
// fails fails create, and the lifecycle goes on as delete: the poststop
// hooks run.
func TestFailedCreateRunsPoststop(t *testing.T) {
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			b := newBundle(t)
			b.long()
			mark := filepath.Join(b.dir, "poststop-ran")
			failing := []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}}}
			b.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + mark}}}}
			switch kind {
			case "prestart":
				b.spec.Hooks.Prestart = failing //nolint:staticcheck // deprecated, still run
			case "createRuntime":
				b.spec.Hooks.CreateRuntime = failing
			default:
				b.spec.Hooks.CreateContainer = failing
			}
			if r := b.create(); r.code == 0 {
				t.Fatalf("create with a failing %s hook succeeded", kind)
			}
			data, err := os.ReadFile(mark)
			if err != nil {
				t.Fatalf("the poststop hook did not run after the failed create: %v", err)
			}
			var st ociState
			if err := json.Unmarshal(data, &st); err != nil || st.ID != b.id || st.Status != "stopped" {
				t.Errorf("poststop state %q: %v", data, err)
			}
			b.checkNothingLeft()
		})
	}
}
