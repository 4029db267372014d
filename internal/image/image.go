// Package image is sdocker's local image store: it imports rootfs tarballs
// and directories, loads `docker save` and OCI image-layout archives, keeps
// their layers unpacked once each in overlayfs format, and mounts a
// container's rootfs as an overlay of an image's layers.
//
// Storage, under the directory given to Open (e.g. /var/lib/sdocker/image):
//
//	layers/<hex>/diff         a layer's files, overlayfs format (whiteouts are
//	                          0:0 char devices, opaque dirs carry
//	                          trusted.overlay.opaque=y); <hex> is the sha256 of
//	                          the uncompressed layer tar (its diffID)
//	layers/<hex>/layer.json   {"diffID", "size", "tarSize"}
//	layers/<hex>/tar-split.json.gz  the layer tar's headers (see LayerTar)
//	images/<hex>/config.json  the image config exactly as loaded; <hex> is its
//	                          sha256, the image ID
//	images/<hex>/manifest.json {"layers": [diffIDs, bottom first], "size"}
//	repositories.json         {"name:tag": "sha256:<image id>"}, and digest
//	                          references {"name@sha256:<manifest>": ...}
//	repositories.lock         flock: held exclusively to change images/ or
//	                          repositories.json
//	gc.lock                   flock: shared while a layer may be added or
//	                          mounted, exclusive to delete layers
//	tmp/                      work in progress (layers being unpacked,
//	                          archives being read), removed by the next GC
//
// Everything becomes visible by rename(2): a layer is unpacked in tmp/ and
// renamed into layers/ when complete, so a command killed half-way leaves
// only garbage in tmp/, never a layer that looks complete. Layers are shared
// by every image that lists them and removed by a GC when no image does.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/ids"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrNotFound = errors.New("no such image")
	ErrInUse    = errors.New("image is in use")
	ErrInvalid  = errors.New("invalid image")
	// ErrInvalidName is matched by the error of a refused image name, and
	// so is ErrInvalid.
	ErrInvalidName = errors.New("invalid reference format")
	// ErrDamaged is matched by the error of a store file (an image's
	// manifest or config, repositories.json) that is missing or cannot be
	// decoded.
	ErrDamaged = errors.New("damaged image store file")
)

// Image is one image of the store.
type Image struct {
	ID           string    // "sha256:<64 hex>", the digest of the config JSON
	Names        []string  // "name:tag", sorted; none for a dangling image
	Digests      []string  // "name@sha256:<hex>": the registry manifests it was pulled by
	Created      time.Time // from the image config
	Size         int64     // bytes of file content in its layers
	Layers       []string  // diffIDs, bottom layer first
	OS           string
	Architecture string
	Config       Config
	// Damage, set only by List, says why the image's manifest or config
	// cannot be read (the other fields but ID and Names are then empty).
	Damage error
}

// ShortID is the 12 hex digits `images` shows.
func (i *Image) ShortID() string { return shortID(i.ID) }

// Config is what the image config says about running a container.
type Config struct {
	Env          []string
	Entrypoint   []string
	Cmd          []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	StopSignal   string
	ExposedPorts []string // "80/tcp"
	Volumes      []string
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	Untagged []string // names removed
	Deleted  []string // image IDs removed
	// Warning: the removal was done, but the layers no image uses any
	// more could not all be freed (the next removal tries again).
	Warning error
}

// Store is the image store under one directory. Several Stores (processes)
// may use the same directory at once.
type Store struct {
	dir string
}

// Open opens the image store under dir (an absolute path), creating it if
// needed.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("image store %q: not an absolute path: %w", dir, ErrInvalid)
	}
	s := &Store{dir: filepath.Clean(dir)}
	for _, d := range []string{s.dir, s.path("layers"), s.path("images"), s.path("tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

func (s *Store) layerDir(diffID string) string { return s.path("layers", hexOf(diffID)) }
func (s *Store) imageDir(id string) string     { return s.path("images", hexOf(id)) }

// manifest is images/<hex>/manifest.json.
type manifest struct {
	Layers []string `json:"layers"`
	Size   int64    `json:"size"`
}

// layerInfo is layers/<hex>/layer.json.
type layerInfo struct {
	DiffID  string `json:"diffID"`
	Size    int64  `json:"size"`
	TarSize int64  `json:"tarSize,omitempty"` // bytes of the layer tar
}

// Get returns the image a reference names: "name[:tag]", a full ID
// ("sha256:<hex>" or "<hex>") or an unambiguous ID prefix.
func (s *Store) Get(ref string) (*Image, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	id, _, err := s.resolve(repos, ref)
	if err != nil {
		return nil, err
	}
	return s.readImage(id, repos)
}

// List returns all images, newest first. An image whose manifest or config
// cannot be read is listed with its Damage. If repositories.json cannot be
// decoded, every image is listed without its names, with an error matching
// ErrDamaged that says why.
func (s *Store) List() ([]*Image, error) {
	repos, namesErr := s.readRepos()
	if namesErr != nil && !errors.Is(namesErr, ErrDamaged) {
		return nil, namesErr
	}
	ids, err := s.imageIDs()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, id := range ids {
		img, err := s.readImage(id, repos)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			img = &Image{ID: id, Names: namesOf(repos, id), Damage: err}
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, namesErr
}

// Tag gives the image src refers to the name dst ("name[:tag]", default tag
// latest), moving dst if another image had it.
func (s *Store) Tag(src, dst string) error {
	name, err := normalizeName(dst)
	if err != nil {
		return fmt.Errorf("tag %s: %w", dst, err)
	}
	unlock, err := s.lock("repositories.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return err
	}
	id, _, err := s.resolve(repos, src)
	if err != nil {
		return fmt.Errorf("tag %s: %w", src, err)
	}
	repos[name] = id
	return s.writeRepos(repos)
}

// Remove removes ref. A name of an image that has other names is only
// untagged. Otherwise the image is deleted, and the layers no image uses
// any more with it; if inUse (may be nil) reports the image is used by a
// container, Remove fails with ErrInUse, or with force only untags it all
// (the image stays, dangling, until Prune). Deleting by ID an image with
// several names needs force. inUse is called with the store locked: it
// must not change the store (reading it with Get or List is fine). A
// removal is whole or not at all: when it fails, the store is as it was.
// While repositories.json is damaged, force still deletes an image given
// by ID, leaving the names as they are.
func (s *Store) Remove(ref string, force bool, inUse func(imageID string) bool) (RemoveResult, error) {
	var res RemoveResult
	unlock, err := s.lock("repositories.lock", unix.LOCK_EX)
	if err != nil {
		return res, err
	}
	defer unlock()
	repos, namesErr := s.readRepos()
	if namesErr != nil && !(force && errors.Is(namesErr, ErrDamaged)) {
		return res, namesErr
	}
	id, byName, err := s.resolve(repos, ref)
	if err != nil && namesErr != nil {
		return res, namesErr
	}
	if err != nil {
		return res, fmt.Errorf("rmi %s: %w", ref, err)
	}
	// Digest references go with the image's last name, as Docker's do.
	names, tags := allRefsOf(repos, id), namesOf(repos, id)
	others := len(tags) > 1
	if strings.Contains(byName, "@") {
		others = len(names) > 1
	}
	if byName != "" && others {
		delete(repos, byName)
		if err := s.writeRepos(repos); err != nil {
			return res, err
		}
		res.Untagged = []string{byName}
		return res, nil
	}
	if byName == "" && len(tags) > 1 && !force {
		return res, fmt.Errorf("rmi %s: image is referenced by %d names (%s), remove them by name or force: %w",
			ref, len(tags), strings.Join(tags, ", "), ErrInvalid)
	}
	if inUse != nil && inUse(id) {
		if !force || namesErr != nil {
			return res, fmt.Errorf("rmi %s: image %s is used by a container: %w", ref, shortID(id), ErrInUse)
		}
		for _, n := range names {
			delete(repos, n)
		}
		if err := s.writeRepos(repos); err != nil {
			return res, err
		}
		res.Untagged = names
		return res, nil
	}
	return s.deleteNamed(id, names, repos)
}

// deleteNamed deletes image id and its names (which repos still holds), all
// or nothing; then the layers no image uses any more go. Called with
// repositories.lock held.
func (s *Store) deleteNamed(id string, names []string, repos map[string]string) (RemoveResult, error) {
	stashed, err := s.stash(s.imageDir(id))
	if err != nil {
		return RemoveResult{}, err
	}
	if len(names) > 0 {
		for _, n := range names {
			delete(repos, n)
		}
		if err := s.writeRepos(repos); err != nil {
			return RemoveResult{}, errors.Join(err, s.unstash(stashed, s.imageDir(id)))
		}
	}
	res := RemoveResult{Untagged: names, Deleted: []string{id}}
	// The image is gone already: what is left of its files in tmp/ goes
	// with the next GC.
	_ = os.RemoveAll(filepath.Dir(stashed))
	res.Warning = s.gc()
	return res, nil
}

// Prune deletes the dangling (nameless) images inUse (may be nil) does not
// report as used, and the layers no image uses. It returns the deleted IDs.
// As for Remove, inUse must not change the store.
func (s *Store) Prune(inUse func(imageID string) bool) ([]string, error) {
	unlock, err := s.lock("repositories.lock", unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	ids, err := s.imageIDs()
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, id := range ids {
		if len(allRefsOf(repos, id)) > 0 || (inUse != nil && inUse(id)) {
			continue
		}
		if err := s.deleteImage(id); err != nil {
			return deleted, err
		}
		deleted = append(deleted, id)
	}
	return deleted, s.gc()
}

// deleteImage removes images/<id>; called with repositories.lock held.
func (s *Store) deleteImage(id string) error {
	return s.removeDir(s.imageDir(id))
}

// removeDir renames dir into tmp/ first, so that a half-removed directory
// never looks complete, then removes it.
func (s *Store) removeDir(dir string) error {
	stashed, err := s.stash(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Dir(stashed)); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// stash moves dir (if it is there) into a new directory of tmp/, by one
// rename, and returns its new path: unstash puts it back.
func (s *Store) stash(dir string) (string, error) {
	tmp, err := os.MkdirTemp(s.path("tmp"), "rm-")
	if err != nil {
		return "", fmt.Errorf("remove %s: %w", dir, err)
	}
	dst := filepath.Join(tmp, "d")
	if err := os.Rename(dir, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(tmp) // else the next GC removes it (see gc)
		return "", fmt.Errorf("remove %s: %w", dir, err)
	}
	return dst, nil
}

// unstash moves a directory stash moved back to dir.
func (s *Store) unstash(stashed, dir string) error {
	if err := os.Rename(stashed, dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore %s: %w", dir, err)
	}
	_ = os.Remove(filepath.Dir(stashed)) // else the next GC removes it
	return nil
}

// gc removes the layers no image lists, and tmp/ leftovers. It is called with
// repositories.lock held (so images/ does not change) and only runs if no
// load or mount holds gc.lock; else the next GC does the work.
func (s *Store) gc() error {
	unlock, err := s.tryLock("gc.lock")
	if err != nil || unlock == nil {
		return err
	}
	defer unlock()
	used := map[string]bool{}
	ids, err := s.imageIDs()
	if err != nil {
		return err
	}
	// The layers of an image whose manifest cannot be read are not known:
	// then every layer stays (until that image is removed).
	keepAll := false
	for _, id := range ids {
		m, err := s.readManifest(id)
		if err != nil {
			keepAll = keepAll || !errors.Is(err, ErrNotFound)
			continue
		}
		for _, l := range m.Layers {
			used[hexOf(l)] = true
		}
	}
	ents, err := os.ReadDir(s.path("layers"))
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if !used[e.Name()] && !keepAll {
			if err := s.removeDir(s.path("layers", e.Name())); err != nil {
				return fmt.Errorf("gc: %w", err)
			}
		}
	}
	// Nothing can be working in tmp/: loads hold gc.lock shared.
	tmps, err := os.ReadDir(s.path("tmp"))
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range tmps {
		if err := os.RemoveAll(s.path("tmp", e.Name())); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return nil
}

func (s *Store) imageIDs() ([]string, error) {
	ents, err := os.ReadDir(s.path("images"))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if isHex64(e.Name()) {
			ids = append(ids, "sha256:"+e.Name())
		}
	}
	return ids, nil
}

// readManifest reads the manifest of image id: ErrNotFound if the image is
// not there (any more), a damagedError if the file cannot be used.
func (s *Store) readManifest(id string) (*manifest, error) {
	p := filepath.Join(s.imageDir(id), "manifest.json")
	var m *manifest
	err := atomicfile.ReadJSON(p, &m)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(s.imageDir(id)); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("image %s: %w", shortID(id), ErrNotFound)
		}
	}
	if err != nil {
		return nil, damagedImage(id, p, err)
	}
	for _, l := range m.Layers {
		if !strings.HasPrefix(l, "sha256:") || !isHex64(hexOf(l)) {
			return nil, damagedImage(id, p, fmt.Errorf("layer %q is not a sha256 digest", l))
		}
	}
	return m, nil
}

// readRaw reads image id's manifest and its config as stored (checked
// against the ID).
func (s *Store) readRaw(id string) (*manifest, []byte, error) {
	m, err := s.readManifest(id)
	if err != nil {
		return nil, nil, err
	}
	p := filepath.Join(s.imageDir(id), "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, damagedImage(id, p, err)
	}
	// The image ID is the digest of this file: any change is damage.
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != hexOf(id) {
		return nil, nil, damagedImage(id, p, errors.New("its content does not match the image ID"))
	}
	return m, raw, nil
}

func (s *Store) readImage(id string, repos map[string]string) (*Image, error) {
	m, raw, err := s.readRaw(id)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(s.imageDir(id), "config.json")
	var cf *v1.ConfigFile
	if err := atomicfile.DecodeJSON(p, raw, &cf); err != nil {
		return nil, damagedImage(id, p, err)
	}
	img := &Image{
		ID:           id,
		Names:        namesOf(repos, id),
		Digests:      digestsOf(repos, id),
		Created:      cf.Created.Time,
		Size:         m.Size,
		Layers:       m.Layers,
		OS:           cf.OS,
		Architecture: cf.Architecture,
		Config:       configOf(cf.Config),
	}
	return img, nil
}

// configOf is what c says about running a container.
func configOf(c v1.Config) Config {
	return Config{
		Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User,
		Labels: c.Labels, StopSignal: c.StopSignal,
		ExposedPorts: slices.Sorted(maps.Keys(c.ExposedPorts)), Volumes: slices.Sorted(maps.Keys(c.Volumes)),
	}
}

// resolve finds the image ID ref names; byName is the normalized name when
// ref was a name.
func (s *Store) resolve(repos map[string]string, ref string) (id, byName string, err error) {
	if ref == "" {
		return "", "", fmt.Errorf("empty image reference: %w", ErrInvalid)
	}
	n, nameErr := normalizeRef(trimDockerHub(ref))
	if nameErr == nil {
		if id, ok := repos[n]; ok {
			return id, n, nil
		}
	}
	if strings.Contains(ref, "@") {
		if nameErr != nil {
			return "", "", nameErr
		}
		return "", "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if prefix == "" || len(prefix) > 64 || strings.Trim(prefix, "0123456789abcdef") != "" {
		if nameErr != nil {
			return "", "", nameErr
		}
		return "", "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	ids, err := s.imageIDs()
	if err != nil {
		return "", "", err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(hexOf(id), prefix) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
	case 1:
		return match[0], "", nil
	}
	return "", "", fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, ErrInvalid)
}

// namesOf returns the names ("name:tag") of image id.
func namesOf(repos map[string]string, id string) []string {
	return refsOf(repos, id, func(r string) bool { return !strings.Contains(r, "@") })
}

// digestsOf returns the digest references ("name@sha256:...") of image id.
func digestsOf(repos map[string]string, id string) []string {
	return refsOf(repos, id, func(r string) bool { return strings.Contains(r, "@") })
}

// allRefsOf returns every reference to image id, names and digests.
func allRefsOf(repos map[string]string, id string) []string {
	return refsOf(repos, id, func(string) bool { return true })
}

func refsOf(repos map[string]string, id string, keep func(string) bool) []string {
	var refs []string
	for r, i := range repos {
		if i == id && keep(r) {
			refs = append(refs, r)
		}
	}
	sort.Strings(refs)
	return refs
}

// readRepos reads the image names. None have been given while the file is
// not there; a file that cannot be used gives a damagedError (and no names).
func (s *Store) readRepos() (map[string]string, error) {
	p := s.path("repositories.json")
	var repos map[string]string
	err := atomicfile.ReadJSON(p, &repos)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return map[string]string{}, damagedNames(p, err)
	}
	for n, id := range repos {
		if !strings.HasPrefix(id, "sha256:") || !isHex64(hexOf(id)) {
			return map[string]string{}, damagedNames(p, fmt.Errorf("name %q: %q is not an image ID", n, id))
		}
	}
	return repos, nil
}

// writeRepos replaces repositories.json atomically; repositories.lock held.
func (s *Store) writeRepos(repos map[string]string) error {
	b, err := json.MarshalIndent(repos, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path("repositories.json"), append(b, '\n'), 0o600, true)
}

// lock takes flock how (LOCK_SH or LOCK_EX) on the store's lock file name
// and returns the unlock function.
func (s *Store) lock(name string, how int) (func(), error) {
	p := s.path(name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

// tryLock takes an exclusive lock on name if it is free; unlock is nil if
// it is not.
func (s *Store) tryLock(name string) (unlock func(), err error) {
	unlock, err = s.lock(name, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, nil
	}
	return unlock, err
}

// Compiled on first use: every sdocker command would pay for it at start.
var (
	repoRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$`)
	})
	tagRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })
)

// normalizeName checks "name[:tag]" and adds ":latest" when there is no tag.
func normalizeName(s string) (string, error) {
	repo, tag := s, "latest"
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		repo, tag = s[:i], s[i+1:]
	}
	switch {
	case len(repo) > 255:
		return "", &nameError{s, "repository name must not be more than 255 characters"}
	case repo != strings.ToLower(repo) && repoRe().MatchString(strings.ToLower(repo)):
		return "", &nameError{s, "repository name must be lowercase"}
	case !repoRe().MatchString(repo) || !tagRe().MatchString(tag) || isHex64(repo):
		return "", &nameError{s, ""}
	}
	return repo + ":" + tag, nil
}

// familiarName turns a full reference from an archive into the short form
// `images` shows (docker.io/library/alpine:3 -> alpine:3); "" if it is not
// a usable name (a digest reference, garbage).
func familiarName(ref string) string {
	n, err := normalizeName(trimDockerHub(ref))
	if err != nil {
		return ""
	}
	return n
}

// trimDockerHub drops Docker Hub's registry and library/ from a reference:
// the store names its images as Docker shows them.
func trimDockerHub(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/library/")
	ref = strings.TrimPrefix(ref, "index.docker.io/library/")
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "index.docker.io/")
}

func hexOf(id string) string { return strings.TrimPrefix(id, "sha256:") }

func shortID(id string) string { return ids.ShortID(hexOf(id)) }

func isHex64(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}
