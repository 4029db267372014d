package hostrootfs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestParseLDSoConf(t *testing.T) {
	d := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(d, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := write("elsewhere/other.conf", "/opt/z\n")
	write("conf.d/2.conf", "/opt/y\ninclude ../main.conf # a loop, read once\n")
	write("conf.d/1.conf", "  /opt/x  \n")
	write("conf.d/ignored.txt", "/opt/never\n")
	main := write("main.conf", `# comment
/opt/a
include conf.d/*.conf
/opt/b:/opt/c, /opt/d=libc6   # old format
hwcap 0 nosegneg

include `+other+`
/opt/a
relative/dir
include nothing-matches/*.conf
`)
	got, err := parseLDSoConf(main)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/a", "/opt/x", "/opt/y", "/opt/b", "/opt/c", "/opt/d", "/opt/z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseLDSoConf = %q, want %q", got, want)
	}

	got, err = parseLDSoConf(filepath.Join(d, "missing.conf"))
	if err != nil || got != nil {
		t.Errorf("missing file: got %q, %v; want nil, nil", got, err)
	}
}

func TestParseHostLDSoConf(t *testing.T) {
	if _, err := os.Stat("/etc/ld.so.conf"); err != nil {
		t.Skip("host has no /etc/ld.so.conf")
	}
	dirs, err := parseLDSoConf("/etc/ld.so.conf")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host ld.so.conf dirs: %q", dirs)
	if _, err := os.Stat("/etc/ld.so.conf.d/x86_64-linux-gnu.conf"); err == nil &&
		!slices.Contains(dirs, "/usr/lib/x86_64-linux-gnu") {
		t.Errorf("include of ld.so.conf.d not followed: %q", dirs)
	}
}
