package launch

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The limits a start writes are the spec's own: the parent writes every
// one but a positive pids limit, which the init writes itself.
func TestLateWriteSplitsTheSpecsLimits(t *testing.T) {
	limit, pids := int64(64<<20), int64(77)
	spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}}}
	res := resourcesOf(spec)

	c := &child{o: Options{CreateCgroups: true}}
	parent, late := c.lateWrite(res)
	if late != "77" {
		t.Errorf("init writes %q, want 77", late)
	}
	if parent.Pids != nil {
		t.Errorf("the parent writes a pids limit too: %+v", parent.Pids)
	}
	if parent.Memory != spec.Linux.Resources.Memory {
		t.Errorf("the parent writes a copy of the memory limit, not the spec's")
	}
	if spec.Linux.Resources.Pids == nil {
		t.Errorf("the split changed the spec")
	}

	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"cgroups made by the caller", Options{}, ""},
		{"exec into a pids-limited container", Options{joinPidsLate: true}, "0"},
	} {
		parent, late := (&child{o: tc.o}).lateWrite(res)
		if late != tc.want || parent != res {
			t.Errorf("%s: late %q, limits %p; want %q, the spec's %p", tc.name, late, parent, tc.want, res)
		}
	}

	zero := int64(0)
	noPids := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &zero}}
	if parent, late := c.lateWrite(noPids); late != "" || parent != noPids {
		t.Errorf("pids limit 0: late %q; want none, the parent writes the spec's", late)
	}
	if got := resourcesOf(&specs.Spec{}); got != nil {
		t.Errorf("resourcesOf a spec without linux = %v, want nil", got)
	}
}
