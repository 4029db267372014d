package cgroups

import (
	"errors"
	"os/exec"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSetFrozenRecordFails: a freeze (or thaw) that cannot be recorded is
// undone, on the real kernel.
func TestSetFrozenRecordFails(t *testing.T) {
	m, _ := sleeperIn(t)
	full := errors.New("no space left")
	for _, step := range []struct {
		frozen, fails, want bool
	}{
		{frozen: true, fails: true, want: false},
		{frozen: true, want: true},
		{frozen: false, fails: true, want: true},
		{frozen: false, want: false},
	} {
		err := SetFrozen(m, step.frozen, func() error {
			if step.fails {
				return full
			}
			return nil
		})
		if step.fails != errors.Is(err, full) || !step.fails && err != nil {
			t.Fatalf("SetFrozen(%v), record failing %v = %v", step.frozen, step.fails, err)
		}
		expectFrozen(t, m, step.want)
	}
}

// sleeperIn returns a Manager of a fresh cgroup, made, with a sleeping
// child in it.
func sleeperIn(t *testing.T) (Manager, *exec.Cmd) {
	t.Helper()
	m, _ := newManager(t)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, "sleep", nil)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	return m, cmd
}

// TestUpdateKeepsDevices: Update writes the limits and leaves the device
// rules the cgroup has, whatever rules the update holds.
func TestUpdateKeepsDevices(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Create(&specs.LinuxResources{Devices: containerRules()}); err != nil {
		t.Fatal(err)
	}
	progs := expectDeviceState(t, m, "c 1:3 rwm\nc 1:5 rwm", 1)
	own, err := Update(m, &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](42)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(own, m.Ownership()) {
		t.Errorf("Update returned ownership %+v, the Manager's is %+v", own, m.Ownership())
	}
	if again := expectDeviceState(t, m, "c 1:3 rwm\nc 1:5 rwm", 1); !reflect.DeepEqual(again, progs) {
		t.Errorf("device programs %v after Update, before %v", again, progs)
	}
	pids := map[string]map[string]string{"pids": {"pids.max": "42"}}
	if Mode() == 2 {
		pids = map[string]map[string]string{"": {"pids.max": "42"}}
	}
	expectFiles(t, m, pids)
}
