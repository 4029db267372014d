package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMaliciousLayers unpacks hostile layer tars next to a sentinel directory
// and checks that nothing outside the layer directory is created, changed or
// removed: each entry is refused (with an error naming it) or contained.
func TestMaliciousLayers(t *testing.T) {
	requireRoot(t)
	type tc struct {
		name    string
		ents    func(sentinel string) []ent
		refused string                           // the entry named in the error ("SENTINEL": its path); "" if contained
		check   func(t *testing.T, layer string) // for contained cases
	}
	sym := func(n, target string) ent { return ent{name: n, typ: tar.TypeSymlink, link: target} }
	hard := func(n, target string) ent { return ent{name: n, typ: tar.TypeLink, link: target} }
	cases := []tc{
		{name: "dotdot", refused: "../evil",
			ents: func(string) []ent { return []ent{{name: "../evil", body: "x"}} }},
		{name: "dotdot deep", refused: "a/../../../evil",
			ents: func(string) []ent { return []ent{{name: "a/"}, {name: "a/../../../evil", body: "x"}} }},
		{name: "dotdot inside", refused: "./a/../b",
			ents: func(string) []ent { return []ent{{name: "./a/../b", body: "x"}} }},
		{name: "absolute", refused: "SENTINEL/evil",
			ents: func(s string) []ent { return []ent{{name: s + "/evil", body: "x"}} }},
		{name: "absolute dir", refused: "SENTINEL/newdir/",
			ents: func(s string) []ent { return []ent{{name: s + "/newdir/"}} }},
		{name: "through absolute symlink", refused: "link/evil",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/evil", body: "x"}} }},
		{name: "through relative symlink", refused: "link/evil",
			ents: func(string) []ent { return []ent{sym("link", "../sentinel"), {name: "link/evil", body: "x"}} }},
		{name: "through symlink chain", refused: "a/evil",
			ents: func(s string) []ent { return []ent{sym("b", s), sym("a", "b"), {name: "a/evil", body: "x"}} }},
		{name: "through symlink deep", refused: "d/link/x/evil",
			ents: func(s string) []ent {
				return []ent{{name: "d/"}, sym("d/link", "../../sentinel"), {name: "d/link/x/evil", body: "x"}}
			}},
		{name: "through in-layer symlink", refused: "l/f",
			ents: func(string) []ent { return []ent{{name: "d/"}, sym("l", "d"), {name: "l/f", body: "x"}} }},
		{name: "dir through symlink", refused: "link/newdir/",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/newdir/"}} }},
		{name: "symlink through symlink", refused: "link/l2",
			ents: func(s string) []ent { return []ent{sym("link", s), sym("link/l2", "/")} }},
		{name: "device through symlink", refused: "link/null",
			ents: func(s string) []ent {
				return []ent{sym("link", s), {name: "link/null", typ: tar.TypeChar, major: 1, minor: 3}}
			}},
		{name: "fifo through symlink", refused: "link/fifo",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/fifo", typ: tar.TypeFifo}} }},
		{name: "hardlink outside relative", refused: "hl",
			ents: func(string) []ent { return []ent{hard("hl", "../sentinel/target")} }},
		{name: "hardlink outside absolute", refused: "hl",
			ents: func(s string) []ent { return []ent{hard("hl", s+"/target")} }},
		{name: "hardlink through symlink", refused: "hl",
			ents: func(s string) []ent { return []ent{sym("link", s), hard("hl", "link/target")} }},
		{name: "hardlink placed through symlink", refused: "link/hl",
			ents: func(s string) []ent { return []ent{{name: "f", body: "x"}, sym("link", s), hard("link/hl", "f")} }},
		{name: "whiteout escape", refused: "../sentinel/.wh.target",
			ents: func(string) []ent { return []ent{{name: "../sentinel/.wh.target"}} }},
		{name: "whiteout through symlink", refused: "link/.wh.target",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/.wh.target"}} }},
		{name: "whiteout of dotdot", refused: "d/.wh...",
			ents: func(string) []ent { return []ent{{name: "d/"}, {name: "d/.wh..."}} }},
		{name: "whiteout of dot", refused: ".wh..",
			ents: func(string) []ent { return []ent{{name: ".wh.."}} }},
		{name: "opaque through symlink", refused: "link/.wh..wh..opq",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/.wh..wh..opq"}} }},
		{name: "root as file", refused: ".",
			ents: func(string) []ent { return []ent{{name: ".", typ: tar.TypeReg, body: "x"}} }},
		// Owners chown cannot give: -1 leaves the file root's, wider values
		// are cut to 32 bits (4294967296 would be 0).
		{name: "uid -1", refused: "f",
			ents: func(string) []ent { return []ent{{name: "f", body: "x", uid: -1}} }},
		{name: "uid 4294967295", refused: "f",
			ents: func(string) []ent { return []ent{{name: "f", body: "x", uid: 4294967295}} }},
		{name: "uid 4294967296", refused: "d/",
			ents: func(string) []ent { return []ent{{name: "d/", uid: 4294967296 + 1000}} }},
		{name: "gid 4294967295", refused: "l",
			ents: func(string) []ent { return []ent{{name: "l", typ: tar.TypeSymlink, link: "x", gid: 4294967295}} }},
		{name: "gid of the layer root", refused: "./",
			ents: func(string) []ent { return []ent{{name: "./", gid: 1 << 40}} }},
		{
			name: "the largest owner is kept",
			ents: func(string) []ent { return []ent{{name: "f", body: "x", uid: 4294967294, gid: 2147483648}} },
			check: func(t *testing.T, layer string) {
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(layer, "f"), &st); err != nil || st.Uid != 4294967294 || st.Gid != 2147483648 {
					t.Errorf("f: owner %d:%d (%v), want 4294967294:2147483648", st.Uid, st.Gid, err)
				}
			},
		},
		{
			name: "file over planted symlink is contained",
			ents: func(s string) []ent { return []ent{sym("link", s+"/target"), {name: "link", body: "pwned"}} },
			check: func(t *testing.T, layer string) {
				if b, err := os.ReadFile(filepath.Join(layer, "link")); err != nil || string(b) != "pwned" {
					t.Errorf("link: %q %v, want a regular file in the layer", b, err)
				}
			},
		},
		{
			name: "hardlink to outward symlink then overwrite is contained",
			ents: func(s string) []ent {
				return []ent{sym("s", s+"/target"), hard("h", "s"), {name: "h", body: "pwned"}}
			},
			check: func(t *testing.T, layer string) {
				if target, err := os.Readlink(filepath.Join(layer, "s")); err != nil || !strings.HasSuffix(target, "/target") {
					t.Errorf("s: %q %v", target, err)
				}
			},
		},
		{
			name: "dir over planted symlink is contained",
			ents: func(s string) []ent { return []ent{sym("link", s), {name: "link/"}, {name: "link/f", body: "x"}} },
			check: func(t *testing.T, layer string) {
				if fi, err := os.Lstat(filepath.Join(layer, "link")); err != nil || !fi.IsDir() {
					t.Errorf("link should now be a directory in the layer: %v %v", fi, err)
				}
			},
		},
		{
			name: "outward symlinks are stored, not followed",
			ents: func(s string) []ent { return []ent{sym("abs", s+"/target"), sym("rel", "../../../../etc/passwd")} },
			check: func(t *testing.T, layer string) {
				if l, _ := os.Readlink(filepath.Join(layer, "rel")); l != "../../../../etc/passwd" {
					t.Errorf("rel -> %q", l)
				}
			},
		},
		{
			name: "forged overlay xattrs are dropped",
			ents: func(string) []ent {
				return []ent{{name: "d/", pax: map[string]string{
					"SCHILY.xattr.trusted.overlay.opaque":   "y",
					"SCHILY.xattr.trusted.overlay.redirect": "/etc",
				}}}
			},
			check: func(t *testing.T, layer string) {
				if _, err := unix.Lgetxattr(filepath.Join(layer, "d"), opaqueXattr, make([]byte, 8)); err == nil {
					t.Error("trusted.overlay.opaque from the tar was applied")
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := t.TempDir()
			base := filepath.Join(outer, "x", "y")
			layer := filepath.Join(base, "layer")
			sentinel := filepath.Join(base, "sentinel")
			writeFile(t, filepath.Join(sentinel, "target"), []byte("original"))
			if err := os.Mkdir(layer, 0o755); err != nil {
				t.Fatal(err)
			}
			_, _, err := unpackLayer(bytes.NewReader(tarBytes(t, c.ents(sentinel)...)), layer)
			if c.refused != "" {
				name := strings.Replace(c.refused, "SENTINEL", sentinel, 1)
				if err == nil {
					t.Errorf("unpacked; want entry %q refused", name)
				} else if !strings.Contains(err.Error(), `"`+name+`"`) || !errors.Is(err, ErrInvalid) && !errors.Is(err, unix.ENOENT) {
					t.Errorf("error %q should name entry %q (and be ErrInvalid)", err, name)
				}
			} else {
				if err != nil {
					t.Fatalf("unpack: %v", err)
				}
				c.check(t, layer)
			}
			checkUntouched(t, outer, layer, sentinel)
		})
	}
}

// checkUntouched asserts that under outer, nothing but the layer directory's
// content changed: the directories leading to it, the sentinel dir and its
// single file are as created.
func checkUntouched(t *testing.T, outer, layer, sentinel string) {
	t.Helper()
	var got []string
	filepath.WalkDir(outer, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(outer, p)
		got = append(got, rel)
		if p == layer {
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(got)
	want := []string{".", "x", "x/y", "x/y/layer", "x/y/sentinel", "x/y/sentinel/target"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("outside the layer: %v, want %v", got, want)
	}
	b, err := os.ReadFile(filepath.Join(sentinel, "target"))
	if err != nil || string(b) != "original" {
		t.Errorf("sentinel target: %q %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(sentinel, "target"), &st); err != nil || st.Nlink != 1 {
		t.Errorf("sentinel target nlink %d (%v): hardlinked from the layer?", st.Nlink, err)
	}
	if _, err := unix.Lgetxattr(sentinel, opaqueXattr, make([]byte, 8)); err == nil {
		t.Error("sentinel dir was marked opaque")
	}
	// Nothing escaped even further up, next to the test's temp dir.
	if _, err := os.Lstat(filepath.Join(filepath.Dir(outer), "evil")); err == nil {
		t.Error("evil file next to the temp dir")
	}
}

// TestUnpackMetadata: modes (with set-id bits), ownership, times, symlinks,
// hardlinks, device nodes, fifos, xattrs and implicit parents; whiteouts and
// opaque markers in overlayfs format.
func TestUnpackMetadata(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	b := tarBytes(t,
		ent{name: "./", mode: 0o751},
		ent{name: "bin/", mode: 0o700, uid: 7, gid: 8},
		ent{name: "bin/suid", body: "#!", mode: 0o4755, uid: 1000, gid: 1001},
		ent{name: "bin/hard", typ: tar.TypeLink, link: "bin/suid"},
		ent{name: "bin/sym", typ: tar.TypeSymlink, link: "/bin/suid", uid: 3, gid: 4},
		ent{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
		ent{name: "dev/sda", typ: tar.TypeBlock, major: 8, minor: 0, mode: 0o660},
		ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
		ent{name: "x/y/z", body: "deep", pax: map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.t": "tv"}},
		ent{name: "gone/.wh.file"},
		ent{name: "opq/"},
		ent{name: "opq/.wh..wh..opq"},
		ent{name: "dup", body: "first"},
		ent{name: "dup", body: "second"},
		ent{name: ".wh..wh.plnk/", mode: 0o700},
	)
	size, n, err := unpackLayer(bytes.NewReader(b), dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != 15 || size != int64(len("#!deepfirstsecond")) {
		t.Errorf("entries %d size %d", n, size)
	}
	st := func(p string) *unix.Stat_t {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, p), &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return &s
	}
	check := func(p string, typ, perm uint32, uid, gid uint32) *unix.Stat_t {
		s := st(p)
		if s.Mode&unix.S_IFMT != typ || (perm != 0 && s.Mode&0o7777 != perm) || s.Uid != uid || s.Gid != gid {
			t.Errorf("%s: mode %o uid %d gid %d; want type %o perm %o %d:%d", p, s.Mode, s.Uid, s.Gid, typ, perm, uid, gid)
		}
		return s
	}
	check(".", unix.S_IFDIR, 0o751, 0, 0)
	check("bin", unix.S_IFDIR, 0o700, 7, 8)
	suid := check("bin/suid", unix.S_IFREG, 0o4755, 1000, 1001)
	if suid.Mtim.Sec != testTime.Unix() {
		t.Errorf("mtime %d want %d", suid.Mtim.Sec, testTime.Unix())
	}
	if d := st("bin"); d.Mtim.Sec != testTime.Unix() {
		t.Errorf("dir mtime %d want %d", d.Mtim.Sec, testTime.Unix())
	}
	if h := st("bin/hard"); h.Ino != suid.Ino || suid.Nlink != 2 {
		t.Errorf("hardlink: ino %d vs %d nlink %d", h.Ino, suid.Ino, suid.Nlink)
	}
	check("bin/sym", unix.S_IFLNK, 0, 3, 4)
	if l, _ := os.Readlink(filepath.Join(dir, "bin/sym")); l != "/bin/suid" {
		t.Errorf("symlink -> %q", l)
	}
	if s := check("dev/null", unix.S_IFCHR, 0o666, 0, 0); s.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null rdev %x", s.Rdev)
	}
	check("dev/sda", unix.S_IFBLK, 0o660, 0, 0)
	check("run/fifo", unix.S_IFIFO, 0o620, 0, 0)
	check("x", unix.S_IFDIR, 0o755, 0, 0)
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "x/y/z"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("xattr user.k: %q %v", buf[:max(n, 0)], err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(dir, "x/y/z"), "trusted.t", buf); err != nil || string(buf[:n]) != "tv" {
		t.Errorf("xattr trusted.t: %q %v", buf[:max(n, 0)], err)
	}
	if s := check("gone/file", unix.S_IFCHR, 0, 0, 0); s.Rdev != 0 {
		t.Errorf("whiteout rdev %x", s.Rdev)
	}
	if n, err := unix.Lgetxattr(filepath.Join(dir, "opq"), opaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q %v", buf[:max(n, 0)], err)
	}
	for _, p := range []string{"opq/.wh..wh..opq", "gone/.wh.file", ".wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s should not exist", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dup")); string(b) != "second" {
		t.Errorf("dup = %q", b)
	}
}

// TestDirTarRoundTrip: a directory becomes a tar that unpacks to the same
// tree, and the same tree gives the same bytes (so the same diffID).
func TestDirTarRoundTrip(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a/file"), []byte("hello"))
	os.Chown(filepath.Join(src, "a/file"), 5, 6)
	unix.Chmod(filepath.Join(src, "a/file"), 0o2750) // after chown, which clears set-id bits
	os.Link(filepath.Join(src, "a/file"), filepath.Join(src, "hard"))
	os.Symlink("a/file", filepath.Join(src, "sym"))
	unix.Mkfifo(filepath.Join(src, "fifo"), 0o600)
	unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	unix.Lsetxattr(filepath.Join(src, "a/file"), "user.x", []byte("y"), 0)
	var b1, b2 bytes.Buffer
	if err := WriteDirTar(&b1, src); err != nil {
		t.Fatal(err)
	}
	if err := WriteDirTar(&b2, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("two tars of the same tree differ")
	}
	dst := t.TempDir()
	if _, _, err := unpackLayer(&b1, dst); err != nil {
		t.Fatal(err)
	}
	var a, h unix.Stat_t
	unix.Lstat(filepath.Join(dst, "a/file"), &a)
	unix.Lstat(filepath.Join(dst, "hard"), &h)
	if a.Mode&0o7777 != 0o2750 || a.Uid != 5 || a.Gid != 6 || a.Ino != h.Ino {
		t.Errorf("a/file mode %o %d:%d ino %d hard ino %d", a.Mode, a.Uid, a.Gid, a.Ino, h.Ino)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "sym")); l != "a/file" {
		t.Errorf("sym -> %q", l)
	}
	var f, n unix.Stat_t
	unix.Lstat(filepath.Join(dst, "fifo"), &f)
	unix.Lstat(filepath.Join(dst, "null"), &n)
	if f.Mode&unix.S_IFMT != unix.S_IFIFO || n.Mode&unix.S_IFMT != unix.S_IFCHR || n.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("fifo mode %o, null mode %o rdev %x", f.Mode, n.Mode, n.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "a/file"), "user.x", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("xattr: %v", err)
	}
}

// A file mount point the engine made (an empty etc/hosts) is left out of a
// committed layer; the same file with content is a change, and kept.
func TestDiffTarMountPoints(t *testing.T) {
	for _, content := range []string{"", "127.0.0.1 mine\n"} {
		upper := t.TempDir()
		if err := os.MkdirAll(filepath.Join(upper, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{"etc/hosts": content, "etc/keep": ""} {
			if err := os.WriteFile(filepath.Join(upper, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := WriteDiffTar(&buf, upper, []string{"etc/hosts"}); err != nil {
			t.Fatal(err)
		}
		var names []string
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, strings.TrimSuffix(h.Name, "/"))
		}
		want := []string{"etc", "etc/keep"}
		if content != "" {
			want = []string{"etc", "etc/hosts", "etc/keep"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("etc/hosts %q: the layer holds %v, want %v", content, names, want)
		}
	}
}
