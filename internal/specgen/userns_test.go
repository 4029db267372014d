package specgen

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
)

func TestParseIDMap(t *testing.T) {
	got, err := ParseIDMap("uidmap", "0:100000:65536")
	if err != nil || got != (specs.LinuxIDMapping{ContainerID: 0, HostID: 100000, Size: 65536}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0:1", "0:1:2:3", "a:1:2", "-1:1:2", "+1:1:2", "0:4294967296:1", "0: 1:2"} {
		if _, err := ParseIDMap("uidmap", bad); err == nil || !strings.Contains(err.Error(), "--uidmap") {
			t.Errorf("%q: got %v, want an error naming --uidmap", bad, err)
		}
	}
}

func TestKeepIDMappings(t *testing.T) {
	got, err := KeepIDMappings(1000, 1000, ids.Range{Start: 100000, Size: 65536})
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 1000, HostID: 1000, Size: 1}, {ContainerID: 1001, HostID: 101000, Size: 64536}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if err := ids.CheckMappings("m", got); err != nil {
		t.Error(err)
	}
	if _, err := KeepIDMappings(70000, 70000, ids.Range{Start: 100000, Size: 65536}); err == nil {
		t.Error("a range too small for the id: no error")
	}
	// In a rootless engine's namespace: the user is 0 there, the
	// subordinate ids 1..N.
	got, err = KeepIDMappings(1000, 0, ids.Range{Start: 1, Size: 65536})
	want = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1, Size: 1000}, {ContainerID: 1000, HostID: 0, Size: 1}, {ContainerID: 1001, HostID: 1001, Size: 64536}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("rootless: got %v, %v; want %v", got, err, want)
	}
	if err := ids.CheckMappings("m", got); err != nil {
		t.Error(err)
	}
}

func TestWithUserNamespace(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 10}}
	s, err := userSpec(WithUserNamespace(m, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Linux.UIDMappings, m) || s.Linux.Namespaces[len(s.Linux.Namespaces)-1].Type != specs.UserNamespace {
		t.Errorf("spec without the user namespace: %+v", s.Linux)
	}
	if _, err := userSpec(WithUserNamespace([]specs.LinuxIDMapping{{ContainerID: 1, HostID: 100000, Size: 10}}, m)); err == nil || !strings.Contains(err.Error(), "--uidmap") {
		t.Errorf("root not mapped: got %v", err)
	}
	if s, err := userSpec(WithUserNamespace(nil, nil)); err != nil || s.Linux.UIDMappings != nil {
		t.Errorf("no mappings: %v %+v", err, s.Linux)
	}
}

func userSpec(o Opt) (*specs.Spec, error) {
	s := defaultSpec()
	return s, Apply(s, o)
}
