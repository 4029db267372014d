package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseVolume(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want MountPoint
	}{
		{"/h:/c", MountPoint{Type: "bind", Source: "/h", Destination: "/c", RW: true}},
		{"/h:/c/:ro", MountPoint{Type: "bind", Source: "/h", Destination: "/c"}},
		{"/h:/c:rshared,ro", MountPoint{Type: "bind", Source: "/h", Destination: "/c", Propagation: "rshared"}},
		{"data:/c", MountPoint{Type: "volume", Name: "data", Source: e.volumeData("data"), Destination: "/c", RW: true}},
		{"my.vol-1:/c:ro,nocopy", MountPoint{Type: "volume", Name: "my.vol-1", Source: e.volumeData("my.vol-1"), Destination: "/c", NoCopy: true}},
	} {
		got, err := e.parseVolume(c.in)
		if err != nil || !equalMount(got, c.want) {
			t.Errorf("parseVolume(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	a, err := e.parseVolume("/data/")
	if err != nil || !a.Anonymous || a.Type != "volume" || a.Destination != "/data" || a.Source != e.volumeData(a.Name) || len(a.Name) != 64 {
		t.Errorf("anonymous volume: %+v, %v", a, err)
	}
	for _, bad := range []string{"/", "/h:/", "/h:c", "h", ":/c", "/h:", "-x:/c", "a/b:/c", "/h:/c:nocopy", "data:/c:rshared", "/h:/c:z", "/h:/c:ro:rw", "/h:/c:"} {
		if m, err := e.parseVolume(bad); err == nil {
			t.Errorf("parseVolume(%q): accepted as %+v", bad, m)
		}
	}
}

func equalMount(a, b MountPoint) bool {
	return a.Type == b.Type && a.Name == b.Name && a.Source == b.Source && a.Destination == b.Destination &&
		a.RW == b.RW && a.Anonymous == b.Anonymous && a.Propagation == b.Propagation && a.NoCopy == b.NoCopy &&
		slices.Equal(a.TmpfsOptions, b.TmpfsOptions)
}

func TestParseMount(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	for _, c := range []struct {
		in   string
		want MountPoint
	}{
		{"type=bind,src=" + host + ",dst=/c", MountPoint{Type: "bind", Source: host, Destination: "/c", RW: true}},
		{"type=bind,source=" + host + ",target=/c,readonly,bind-propagation=rslave", MountPoint{Type: "bind", Source: host, Destination: "/c", Propagation: "rslave"}},
		{"type=bind,src=" + host + ",destination=/c,ro=false", MountPoint{Type: "bind", Source: host, Destination: "/c", RW: true}},
		{"type=volume,src=v1,dst=/c,volume-nocopy", MountPoint{Type: "volume", Name: "v1", Source: e.volumeData("v1"), Destination: "/c", RW: true, NoCopy: true}},
		{"src=v1,dst=/c,ro=1", MountPoint{Type: "volume", Name: "v1", Source: e.volumeData("v1"), Destination: "/c"}},
		{"type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", MountPoint{Type: "tmpfs", Destination: "/t", RW: true, TmpfsOptions: []string{"size=67108864", "mode=1777"}}},
		{"TYPE=tmpfs,DST=/t,readonly=true", MountPoint{Type: "tmpfs", Destination: "/t"}},
		{"type=volume,src=v1,dst=/c,volume-driver=local", MountPoint{Type: "volume", Name: "v1", Source: e.volumeData("v1"), Destination: "/c", RW: true}},
	} {
		got, err := e.parseMount(c.in)
		if err != nil || !equalMount(got, c.want) {
			t.Errorf("parseMount(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if a, err := e.parseMount("type=volume,dst=/c"); err != nil || !a.Anonymous || a.Name == "" {
		t.Errorf("anonymous --mount volume: %+v, %v", a, err)
	}
	for bad, want := range map[string]string{
		"type=bind,src=" + host + ",dst=/c,colour=red":             `unknown key "colour"`,
		"type=bind,src=" + filepath.Join(host, "nope") + ",dst=/c": "bind source path does not exist",
		"type=bind,src=rel,dst=/c":                                 "absolute host path",
		"type=bind,dst=/c":                                         "absolute host path",
		"type=bind,src=" + host:                                    "destination is missing",
		"type=bind,src=" + host + ",dst=c":                         "absolute path",
		"type=bind,src=" + host + ",dst=/":                         "absolute path",
		"type=bind,src=" + host + ",dst=/c,bind-propagation=up":    "bind-propagation",
		"type=bind,src=" + host + ",dst=/c,tmpfs-size=1m":          "does not apply",
		"type=volume,src=v,dst=/c,bind-propagation=shared":         "does not apply",
		"type=volume,src=a/b,dst=/c":                               "volume name",
		"type=tmpfs,src=x,dst=/c":                                  "does not apply",
		"type=tmpfs,dst=/c,tmpfs-size=abc":                         "tmpfs-size",
		"type=tmpfs,dst=/c,tmpfs-size=0":                           "tmpfs-size",
		"type=tmpfs,dst=/c,tmpfs-mode=999":                         "tmpfs-mode",
		"type=nfs,dst=/c":                                          `type "nfs"`,
		"type=bind,type=tmpfs,dst=/c":                              "given twice",
		"type=tmpfs,dst=/c,readonly=maybe":                         "not a boolean",
		"type=tmpfs,dst":                                           "needs a value",
		"":                                                         "unknown key",
		"type=volume,src=v,dst=/c,volume-opt=o=size":               "volume-opt is not supported",
		"type=volume,src=v,dst=/c,volume-driver=nfs":               "only local",
	} {
		if m, err := e.parseMount(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseMount(%q) = %+v, %v; want an error with %q", bad, m, err, want)
		}
	}
}

func TestRunMounts(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.runMounts(MountOptions{Tmpfs: []string{"/t:size=1m,ro"}, ReadOnlyTmpfs: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, m := range ms {
		dsts = append(dsts, m.Destination)
	}
	if !slices.Equal(dsts, []string{"/t", "/tmp", "/var/tmp", "/run"}) || ms[0].RW || !slices.Equal(ms[0].TmpfsOptions, []string{"size=1m"}) {
		t.Errorf("mounts %+v", ms)
	}
	// --tmpfs /tmp goes before --read-only-tmpfs's own.
	if ms, err := e.runMounts(MountOptions{Tmpfs: []string{"/tmp:size=1m"}, ReadOnlyTmpfs: true}, true); err != nil || len(ms) != 3 {
		t.Errorf("--tmpfs /tmp with --read-only-tmpfs: %+v, %v", ms, err)
	}
	for _, bad := range []MountOptions{
		{ReadOnlyTmpfs: true},
		{Volumes: []string{"/a:/c"}, Tmpfs: []string{"/c"}},
		{Volumes: []string{"v:/c", "w:/c/"}},
		{Tmpfs: []string{"/c:bogus"}},
		{VolumesFrom: []string{"nope"}},
		{VolumesFrom: []string{"nope:rx"}},
	} {
		if _, err := e.runMounts(bad, false); !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrNotFound) {
			t.Errorf("runMounts(%+v): %v, want a refusal", bad, err)
		}
	}
}

func TestVolumeStore(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.CreateVolume("data", map[string]string{"env": "test"})
	if err != nil || v.Mountpoint != filepath.Join(e.Root, "volumes", "data", "_data") {
		t.Fatalf("create: %+v, %v", v, err)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	again, err := e.CreateVolume("data", nil)
	if err != nil || again.Labels["env"] != "test" {
		t.Errorf("create again: %+v, %v (want the volume as it is)", again, err)
	}
	anon, err := e.CreateVolume("", nil)
	if err != nil || len(anon.Name) != 64 {
		t.Errorf("create without a name: %+v, %v", anon, err)
	}
	if _, err := e.CreateVolume("../x", nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("create ../x: %v", err)
	}
	if _, err := e.Volume("../containers"); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("volume ../containers: %v", err)
	}
	// A record that uses it keeps it.
	r := &Record{ID: strings.Repeat("a", 64), Name: "user", Status: StateExited,
		Mounts: []MountPoint{{Type: "volume", Name: "data", Source: v.Mountpoint, Destination: "/d", RW: true}}}
	if err := os.Mkdir(e.containerDir(r.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.save(r); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveVolume("data", true); !errors.Is(err, ErrVolumeInUse) {
		t.Errorf("rm of a volume in use: %v", err)
	}
	if removed, err := e.PruneVolumes(true); err != nil || !slices.Equal(removed, []string{anon.Name}) {
		t.Errorf("prune -a: %q, %v", removed, err)
	}
	if err := e.remove(r.ID); err != nil {
		t.Fatal(err)
	}
	if removed, err := e.PruneVolumes(false); err != nil || len(removed) != 0 {
		t.Errorf("prune of named volumes without -a: %q, %v", removed, err)
	}
	if err := e.RemoveVolume("data", false); err != nil {
		t.Errorf("rm: %v", err)
	}
	if err := e.RemoveVolume("data", false); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("rm of a missing volume: %v", err)
	}
	if err := e.RemoveVolume("data", true); err != nil {
		t.Errorf("rm -f of a missing volume: %v", err)
	}
}

func TestVolumeFilters(t *testing.T) {
	v := &Volume{Name: "web-data", Labels: map[string]string{"env": "prod", "tier": ""}}
	for _, c := range []struct {
		f    []string
		used bool
		want bool
	}{
		{nil, false, true},
		{[]string{"name=data"}, false, true},
		{[]string{"name=db"}, false, false},
		{[]string{"name=db", "name=web"}, false, true},
		{[]string{"label=env=prod", "label=tier"}, false, true},
		{[]string{"label=env=dev"}, false, false},
		{[]string{"dangling=true"}, true, false},
		{[]string{"dangling=false"}, true, true},
		{[]string{"dangling=1", "driver=local"}, false, true},
	} {
		match, err := ParseVolumeFilters(c.f)
		if err != nil || match(v, c.used) != c.want {
			t.Errorf("filters %q (used %v): %v, want %v", c.f, c.used, err, c.want)
		}
	}
	for _, bad := range []string{"name", "colour=red", "dangling=maybe"} {
		if _, err := ParseVolumeFilters([]string{bad}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
}

func TestMountOf(t *testing.T) {
	mnt, _, err := mountOf("/proc/self")
	if err != nil || mnt != "/proc" {
		t.Errorf("mountOf(/proc/self) = %q, %v", mnt, err)
	}
	if mnt, _, err := mountOf("/"); err != nil || mnt != "/" {
		t.Errorf("mountOf(/) = %q, %v", mnt, err)
	}
	if err := checkPropagation(MountPoint{Type: "bind", Source: "/proc/self", Propagation: "rprivate"}); err != nil {
		t.Errorf("rprivate needs nothing of its source: %v", err)
	}
	if err := checkPropagation(MountPoint{Type: "bind", Source: "/no/such/dir", Propagation: "rslave"}); err == nil {
		t.Error("a missing source: accepted")
	}
}
