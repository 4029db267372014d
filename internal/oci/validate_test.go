package oci

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Ids out of 0-2147483647 are refused, naming the field: process.user of
// create and run (Validate) and of exec (validateProcess), and the owners
// of linux.devices.
func TestValidateIDRanges(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	for _, c := range []struct {
		mutate func(s *specs.Spec)
		err    string // "" : valid
	}{
		{func(s *specs.Spec) {}, ""},
		{func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 2147483647, GID: 2147483647, AdditionalGids: []uint32{2147483647}}
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", UID: u32(2147483647), GID: u32(0)}}
		}, ""},
		{func(s *specs.Spec) { s.Process.User.UID = 4294967295 },
			"process.user.uid: 4294967295 is out of range (0-2147483647)"},
		{func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 4294967295} },
			"process.user.gid: 4294967295 is out of range"},
		{func(s *specs.Spec) { s.Process.User.UID = 2147483648 },
			"process.user.uid: 2147483648 is out of range"},
		{func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{5, 4294967295} },
			"process.user.additionalGids[1]: 4294967295 is out of range"},
		{func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", UID: u32(4294967295)}}
		},
			"linux.devices[0].uid: 4294967295 is out of range"},
		{func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/a", Type: "c"}, {Path: "/dev/x", Type: "c", GID: u32(1 << 31)}}
		}, "linux.devices[1].gid: 2147483648 is out of range"},
	} {
		s := validSpec()
		c.mutate(s)
		err := Validate(s)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("Validate: %v; want %q", err, c.err)
		}
		if strings.HasPrefix(c.err, "process.") {
			if err := validateProcess(s.Process); err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("validateProcess (exec): %v; want %q", err, c.err)
			}
		}
	}
}
