package engine

// Helpers of the acceptance tests (images, containers, lifecycle,
// concurrency): archives written by the test, and checks that a container
// left nothing behind.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

// cgroupDirs lists the cgroup directories of container id (a pattern:
// "ID*" for every id that starts with ID), in every hierarchy.
func cgroupDirs(id string) []string { return testutil.CgroupDirs("/sdocker/" + id) }

// assertGone checks that container id left no record, cgroup or mount.
func (e *env) assertGone(id string) {
	e.t.Helper()
	if d := cgroupDirs(id); len(d) > 0 {
		e.t.Errorf("container %s: cgroups left: %q", id[:12], d)
	}
	dir := filepath.Join(e.root, "containers", id)
	if _, err := os.Stat(dir); err == nil {
		e.t.Errorf("container %s: directory %s left", id[:12], dir)
	}
	if m := testutil.MountsUnder(dir); len(m) > 0 {
		e.t.Errorf("container %s: mounts left: %q", id[:12], m)
	}
}

// rmf force-removes a container now and checks it left nothing.
func (e *env) rmf(id string) {
	e.t.Helper()
	e.mustRun(0, "rm", "-f", id)
	e.assertGone(id)
}

// cleanupImage removes an image (rmi -f) when the test ends; registered
// before the containers of the image, it runs after their removal.
func (e *env) cleanupImage(ref string) {
	e.t.Cleanup(func() {
		if r := e.run("rmi", "-f", ref); r.code != 0 && !strings.Contains(r.stderr, "no such image") {
			e.t.Errorf("cleanup: %s", r)
		}
	})
}

// checkNoMounts fails if anything is mounted under the test's root.
func (e *env) checkNoMounts() {
	e.t.Helper()
	if m := testutil.MountsUnder(e.root); len(m) > 0 {
		e.t.Errorf("mounts left under %s: %q", e.root, m)
	}
}

// trackRoot checks, when the test ends (after every other cleanup), that
// the test's root holds no container record and no mount.
func (e *env) trackRoot() {
	e.t.Cleanup(func() {
		e.checkNoMounts()
		ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
		for _, ent := range ents {
			e.t.Errorf("container %s left in the store", ent.Name())
			e.run("rm", "-f", ent.Name())
			for _, d := range cgroupDirs(ent.Name()) {
				e.t.Errorf("cgroup %s left", d)
			}
		}
	})
}

// runOut runs a foreground container (with --rm) and returns its stdout;
// it fails the test unless the container exits with code.
func (e *env) runOut(code int, args ...string) string {
	e.t.Helper()
	return e.mustRun(code, append([]string{"run", "--rm"}, args...)...).stdout
}

// state reads one inspect --format value of a container.
func (e *env) state(ref, format string) string {
	e.t.Helper()
	return strings.TrimSpace(e.mustRun(0, "inspect", "-f", format, ref).stdout)
}

// waitLog waits until the container's stdout log has at least n lines
// and returns them.
func (e *env) waitLog(id string, n int, d time.Duration) []string {
	e.t.Helper()
	var got []string
	testutil.WaitFor(e.t, d, "the container's log to have "+strconv.Itoa(n)+" lines", func() bool {
		got = lines(e.mustRun(0, "logs", id).stdout)
		return len(got) >= n
	})
	return got
}

// tarEntry is one file of a tar written by a test.
type tarEntry struct {
	name string
	mode int64
	body string // regular file content
	dir  bool
	link string // symlink target
	uid  int    // owner (root when 0)
	gid  int
}

// writeEntries writes entries into tw (root-owned unless they say).
func writeEntries(t *testing.T, tw *tar.Writer, entries []tarEntry) {
	t.Helper()
	for _, en := range entries {
		h := &tar.Header{Name: en.name, Mode: en.mode, Uid: en.uid, Gid: en.gid, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		switch {
		case en.dir:
			h.Typeflag = tar.TypeDir
			if !strings.HasSuffix(h.Name, "/") {
				h.Name += "/"
			}
		case en.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, en.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(en.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if en.dir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, en.body); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeDirTar writes the tree at dir into tw, names relative to dir
// (prefixed with prefix, e.g. "./" or "").
func writeDirTar(t *testing.T, tw *tar.Writer, dir, prefix string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = prefix + filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tar %s: %v", dir, err)
	}
}

// layerTar is a layer tar: the tree at dir (if any) then entries.
func layerTar(t *testing.T, dir string, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if dir != "" {
		writeDirTar(t, tw, dir, "")
	}
	writeEntries(t, tw, entries)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageConfig is an image config JSON (docker and OCI share it).
type imageConfig struct {
	Env        []string
	Cmd        []string
	Entrypoint []string
	WorkingDir string
	User       string
	// ExposedPorts are the image's EXPOSE ("80/tcp").
	ExposedPorts []string
	Volumes      []string // VOLUME
	Labels       map[string]string
	StopSignal   string
}

// configJSON is the config blob of an image with these layers (uncompressed
// tars) and run settings.
func configJSON(t *testing.T, c imageConfig, layers [][]byte) []byte {
	t.Helper()
	var diffIDs []string
	for _, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+sha(l))
	}
	exposed, volumes := map[string]struct{}{}, map[string]struct{}{}
	for _, p := range c.ExposedPorts {
		exposed[p] = struct{}{}
	}
	for _, v := range c.Volumes {
		volumes[v] = struct{}{}
	}
	return mustJSON(t, map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-02T03:04:05Z",
		"config": map[string]any{
			"Env": c.Env, "Cmd": c.Cmd, "Entrypoint": c.Entrypoint,
			"WorkingDir": c.WorkingDir, "User": c.User, "ExposedPorts": exposed, "Volumes": volumes,
			"Labels": c.Labels, "StopSignal": c.StopSignal,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": []map[string]any{{"created": "2024-01-02T03:04:05Z", "created_by": "sdocker tests"}},
	})
}

// dockerImage is one image of a docker-archive.
type dockerImage struct {
	tags   []string
	config imageConfig
	layers [][]byte // uncompressed layer tars, bottom first
}

// writeDockerArchive writes a `docker save` archive (the legacy layout:
// manifest.json, <config hex>.json, <layer hex>/layer.tar) to path.
func writeDockerArchive(t *testing.T, path string, imgs []dockerImage) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	written := map[string]bool{}
	add := func(name string, b []byte) {
		if written[name] {
			return
		}
		written[name] = true
		writeEntries(t, tw, []tarEntry{{name: name, body: string(b)}})
	}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	for _, img := range imgs {
		cfg := configJSON(t, img.config, img.layers)
		m := entry{Config: sha(cfg) + ".json", RepoTags: img.tags}
		add(m.Config, cfg)
		for _, l := range img.layers {
			name := sha(l) + "/layer.tar"
			if !written[name] {
				writeEntries(t, tw, []tarEntry{{name: sha(l), dir: true}})
			}
			add(name, l)
			m.Layers = append(m.Layers, name)
		}
		manifest = append(manifest, m)
	}
	add("manifest.json", mustJSON(t, manifest))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeOCIArchive writes an OCI image-layout archive (oci-layout,
// index.json naming the image refName, blobs/sha256/...) of one image whose
// layers are gzip'd, to path.
func writeOCIArchive(t *testing.T, path, refName string, c imageConfig, layers [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	writeEntries(t, tw, []tarEntry{
		{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
		{name: "blobs", dir: true},
		{name: "blobs/sha256", dir: true},
	})
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	blob := func(mediaType string, b []byte) desc {
		writeEntries(t, tw, []tarEntry{{name: "blobs/sha256/" + sha(b), body: string(b)}})
		return desc{MediaType: mediaType, Digest: "sha256:" + sha(b), Size: len(b)}
	}
	cfg := configJSON(t, c, layers)
	var layerDescs []desc
	for _, l := range layers {
		layerDescs = append(layerDescs, blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipBytes(t, l)))
	}
	manifest := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        blob("application/vnd.oci.image.config.v1+json", cfg),
		"layers":        layerDescs,
	})
	md := blob("application/vnd.oci.image.manifest.v1+json", manifest)
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": refName}
	index := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []desc{md},
	})
	writeEntries(t, tw, []tarEntry{{name: "index.json", body: string(index)}})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// imagesTable parses `sdocker images`: the header's columns and one map a
// row.
func imagesTable(t *testing.T, out string) (header string, rows []map[string]string) {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 {
		t.Fatalf("images printed nothing")
	}
	header = strings.Join(strings.Fields(ls[0]), " ")
	// Columns start where the header's names do; CREATED is free text
	// ("5 seconds ago").
	cols := []string{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}
	var starts []int
	for _, c := range cols {
		i := strings.Index(ls[0], c)
		if i < 0 {
			t.Fatalf("images header %q lacks %s", ls[0], c)
		}
		starts = append(starts, i)
	}
	for _, l := range ls[1:] {
		row := map[string]string{}
		for i, c := range cols {
			end := len(l)
			if i+1 < len(cols) {
				end = min(starts[i+1], len(l))
			}
			if starts[i] < len(l) {
				row[c] = strings.TrimSpace(l[starts[i]:end])
			}
		}
		rows = append(rows, row)
	}
	return header, rows
}
