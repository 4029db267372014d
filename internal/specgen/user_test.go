package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func userRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	for name, content := range map[string]string{"passwd": passwd, "group": group} {
		if content != "" {
			if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestResolveUser(t *testing.T) {
	rootfs := userRootfs(t, `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
alice:x:1000:1000::/home/alice:/bin/sh
alice:x:1001:1001::/home/alice2:/bin/sh
minus:x:-1:0::/:/bin/sh
huge:x:4294967295:0::/:/bin/sh
biggid:x:1002:2147483648::/:/bin/sh
joiner:x:1003:1003::/:/bin/sh
short:x:1004
`, `root:x:0:
wheel:x:10:root,alice
staff:x:50: alice , bob
users:x:100:bob
nogroup:x:65534:
toobig:x:4294967295:joiner
negative:x:-5:
`)
	for _, c := range []struct {
		spec     string
		uid, gid uint32
		groups   []uint32
		err      string // "" : resolved
	}{
		{spec: "0", groups: []uint32{10}},
		{spec: "root", groups: []uint32{10}},
		{spec: "root:root"},
		{spec: "nobody", uid: 65534, gid: 65534},
		{spec: "65534:65534", uid: 65534, gid: 65534},
		{spec: "alice", uid: 1000, gid: 1000, groups: []uint32{10, 50}}, // the first line of a name
		{spec: "1001", uid: 1001, gid: 1001, groups: []uint32{10, 50}},  // a uid: its line, but alice's groups
		{spec: "alice:users", uid: 1000, gid: 100},                      // a group given: no supplementary groups
		{spec: "alice:7", uid: 1000, gid: 7},
		{spec: "01000", uid: 1000, gid: 1000, groups: []uint32{10, 50}},
		{spec: "1234", uid: 1234}, // no line: gid 0
		{spec: "2147483647:2147483647", uid: 2147483647, gid: 2147483647},
		{spec: "4294967295", err: `user "4294967295": uid 4294967295 is out of range (0-2147483647)`},
		{spec: "4294967295:4294967295", err: "uid 4294967295 is out of range"},
		{spec: "0:4294967295", err: `user "0:4294967295": gid 4294967295 is out of range`},
		{spec: "2147483648", err: "uid 2147483648 is out of range"},
		{spec: "99999999999", err: "uid 99999999999 is out of range"},
		{spec: "99999999999999999999999", err: "is out of range"},
		{spec: "-1", err: `user "-1": uid -1 is out of range`},
		{spec: "1:-5", err: `user "1:-5": gid -5 is out of range`},
		{spec: "-0:0", err: "uid -0 is out of range"},
		{spec: "1000:", err: `user "1000:": no group name or gid after the colon`},
		{spec: ":1000", err: `user ":1000": no user name or uid before the colon`},
		{spec: ":", err: "no user name or uid"},
		{spec: "nosuchuser", err: `user "nosuchuser": no such user in the container's /etc/passwd`},
		{spec: "nobody:nosuchgroup", err: `no such group "nosuchgroup" in the container's /etc/group`},
		{spec: "minus", err: `user "minus": the container's /etc/passwd: uid -1 is out of range`},
		{spec: "huge", err: "the container's /etc/passwd: uid 4294967295 is out of range"},
		{spec: "biggid", err: "the container's /etc/passwd: gid 2147483648 is out of range"},
		{spec: "short", err: "no such user"}, // a line of 3 fields is no entry
		{spec: "joiner", err: "the container's /etc/group: group toobig (of joiner): gid 4294967295 is out of range"},
		{spec: "nobody:toobig", err: "the container's /etc/group: group toobig: gid 4294967295 is out of range"},
		{spec: "nobody:negative", err: "group negative: gid -5 is out of range"},
		{spec: "1:2:3", err: `user "1:2:3": no such group "2:3"`},
	} {
		u, err := ResolveUser(rootfs, c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %+v, %v; want an error with %q", c.spec, u, err, c.err)
			}
			continue
		}
		if err != nil || u.UID != c.uid || u.GID != c.gid || !slices.Equal(u.AdditionalGids, c.groups) {
			t.Errorf("%q: %+v, %v; want uid %d gid %d groups %v", c.spec, u, err, c.uid, c.gid, c.groups)
		}
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	rootfs := userRootfs(t, "", "")
	if u, err := ResolveUser(rootfs, "1000:1000"); err != nil || u.UID != 1000 || u.GID != 1000 || len(u.AdditionalGids) != 0 {
		t.Errorf("1000:1000 without /etc/passwd: %+v, %v", u, err)
	}
	for spec, want := range map[string]string{
		"alice":        `user "alice": no such user: the container has no /etc/passwd`,
		"1000:staff":   `user "1000:staff": no such group "staff": the container has no /etc/group`,
		"4294967295:0": "uid 4294967295 is out of range",
	} {
		if _, err := ResolveUser(rootfs, spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", spec, err, want)
		}
	}
}

// /etc/passwd is read inside the rootfs: a symbolic link out of it is not
// followed to the host's.
func TestResolveUserStaysInRootfs(t *testing.T) {
	rootfs := userRootfs(t, "", "")
	os.Symlink("/etc/passwd", filepath.Join(rootfs, "etc", "passwd"))
	if u, err := ResolveUser(rootfs, "root"); err == nil {
		t.Errorf("root resolved through a link to the host's /etc/passwd: %+v", u)
	}
	if home := homeOf(rootfs, 0); home != "" {
		t.Errorf("homeOf read the host's /etc/passwd: %q", home)
	}
}
