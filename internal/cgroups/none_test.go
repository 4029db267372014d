package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDisabled(t *testing.T) {
	t.Cleanup(func() { disabled, disabledWhy = false, "" })
	Disable("no delegation")
	m, err := New("/sdocker/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(nil); err != nil || len(m.Paths()) != 0 {
		t.Errorf("Create: %v, paths %v", err, m.Paths())
	}
	if _, err := m.Stats(); err == nil {
		t.Error("Stats of no cgroup: no error")
	}
	limit := int64(1 << 20)
	w := Warnings(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	if len(w) != 1 || !strings.Contains(w[0], "not applied: no delegation") {
		t.Errorf("warnings with a limit: %q", w)
	}
	if w := Warnings(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}); len(w) != 0 {
		t.Errorf("warnings without a limit: %q", w)
	}
}
