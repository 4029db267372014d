package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/specgen"
)

// MountOptions are the mount options of run: -v, --mount, --tmpfs,
// --read-only-tmpfs and --volumes-from.
type MountOptions struct {
	Volumes       []string // HOST:CONTAINER[:OPTS], NAME:CONTAINER[:OPTS] or /CONTAINER
	Mounts        []string // type=bind|volume|tmpfs,src=,dst=,...
	Tmpfs         []string // /CONTAINER[:OPTS]
	ReadOnlyTmpfs bool     // /tmp, /var/tmp and /run as tmpfs (with --read-only)
	VolumesFrom   []string // CONTAINER[:ro|rw]
}

// Mount types.
const (
	mountBind   = "bind"
	mountVolume = "volume"
	mountTmpfs  = "tmpfs"
)

// typeOf is m's type, for the records of before named volumes too.
func typeOf(m MountPoint) string {
	switch {
	case m.Type != "":
		return m.Type
	case m.Anonymous:
		return mountVolume
	}
	return mountBind
}

// runMounts reads the mount options of o into the mounts of a container:
// each destination once; those of --volumes-from where no other option
// mounts something.
func (e *Engine) runMounts(o MountOptions, readonlyRootfs bool) ([]MountPoint, error) {
	var mounts []MountPoint
	add := func(m MountPoint, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		mounts = append(mounts, m)
		return nil
	}
	for _, v := range o.Volumes {
		if err := add(e.parseVolume(v)); err != nil {
			return nil, err
		}
	}
	for _, v := range o.Mounts {
		if err := add(e.parseMount(v)); err != nil {
			return nil, err
		}
	}
	for _, v := range o.Tmpfs {
		if err := add(parseTmpfs(v)); err != nil {
			return nil, err
		}
	}
	if o.ReadOnlyTmpfs && !readonlyRootfs {
		return nil, fmt.Errorf("%w: --read-only-tmpfs needs --read-only", ErrInvalidInput)
	}
	seen := map[string]bool{}
	for _, m := range mounts {
		if err := checkPropagation(m); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		if seen[m.Destination] {
			return nil, fmt.Errorf("%w: duplicate mount point: %s", ErrInvalidInput, m.Destination)
		}
		seen[m.Destination] = true
	}
	from, err := e.volumesFrom(o.VolumesFrom)
	if err != nil {
		return nil, err
	}
	for _, m := range from {
		if !seen[m.Destination] {
			seen[m.Destination] = true
			mounts = append(mounts, m)
		}
	}
	if o.ReadOnlyTmpfs {
		for _, t := range specgen.ReadOnlyTmpfsMounts() {
			if !seen[t.Destination] {
				mounts = append(mounts, MountPoint{Type: mountTmpfs, Destination: t.Destination, RW: true, TmpfsOptions: t.Options[3:]})
			}
		}
	}
	return mounts, nil
}

// imageVolumes adds to mounts an anonymous volume at each VOLUME of the
// image that no mount covers, as Docker does: filled from the image, and
// removed with the container by --rm or rm -v.
func (e *Engine) imageVolumes(mounts []MountPoint, img *image.Image) ([]MountPoint, error) {
	if img == nil {
		return mounts, nil
	}
	seen := map[string]bool{}
	for _, m := range mounts {
		seen[m.Destination] = true
	}
	for _, v := range img.Config.Volumes {
		if err := specgen.CheckDestination(v); err != nil {
			return nil, fmt.Errorf("%w: VOLUME of image %s: %w", ErrInvalidInput, img.ID, err)
		}
		dst := filepath.Clean(v)
		if seen[dst] {
			continue
		}
		seen[dst] = true
		m, err := e.anonymousVolume(dst)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// parseVolume reads one -v: /CONTAINER (a new anonymous volume),
// HOST:CONTAINER (a bind mount) or NAME:CONTAINER (a named volume), with
// options ro, rw, nocopy (volumes) or a propagation (binds).
func (e *Engine) parseVolume(v string) (MountPoint, error) {
	if filepath.IsAbs(v) && !strings.Contains(v, ":") {
		if err := specgen.CheckDestination(v); err != nil {
			return MountPoint{}, fmt.Errorf("volume %q: %w", v, err)
		}
		return e.anonymousVolume(filepath.Clean(v))
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return MountPoint{}, fmt.Errorf("volume %q: use HOST:CONTAINER[:OPTS], NAME:CONTAINER[:OPTS] or /CONTAINER", v)
	}
	if err := specgen.CheckDestination(parts[1]); err != nil {
		return MountPoint{}, fmt.Errorf("volume %q: %w", v, err)
	}
	m := MountPoint{Type: mountBind, Source: parts[0], Destination: filepath.Clean(parts[1]), RW: true}
	if !filepath.IsAbs(m.Source) {
		if !validName(m.Source) {
			return MountPoint{}, fmt.Errorf("volume %q: %q is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", v, m.Source)
		}
		m.Type, m.Name, m.Source = mountVolume, m.Source, e.volumeData(m.Source)
	}
	if len(parts) == 3 {
		if err := setVolumeOptions(&m, parts[2]); err != nil {
			return MountPoint{}, fmt.Errorf("volume %q: %w", v, err)
		}
	}
	return m, nil
}

// setVolumeOptions applies the options of a -v (comma-separated).
func setVolumeOptions(m *MountPoint, opts string) error {
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "ro" || o == "rw":
			m.RW = o == "rw"
		case o == "nocopy" && m.Type == mountVolume:
			m.NoCopy = true
		case specgen.ValidPropagation(o) && m.Type == mountBind:
			m.Propagation = o
		default:
			return fmt.Errorf("unknown option %q (ro, rw, nocopy for a volume, or a propagation for a bind: %s)", o, strings.Join(specgen.Propagations, ", "))
		}
	}
	return nil
}

// anonymousVolume is a new anonymous volume at destination.
func (e *Engine) anonymousVolume(destination string) (MountPoint, error) {
	id, err := newID()
	if err != nil {
		return MountPoint{}, err
	}
	return MountPoint{Type: mountVolume, Name: id, Source: e.volumeData(id), Destination: destination, RW: true, Anonymous: true}, nil
}

// parseMount reads one --mount: comma-separated KEY=VALUE fields, as
// Docker's: type (bind, volume, the default, or tmpfs), source/src,
// destination/dst/target, readonly/ro, bind-propagation, volume-nocopy,
// tmpfs-size, tmpfs-mode. A bind's source must exist.
func (e *Engine) parseMount(s string) (MountPoint, error) {
	f, err := parseMountFields(s)
	if err != nil {
		return MountPoint{}, fmt.Errorf("--mount %q: %w", s, err)
	}
	m, err := e.mountOf(f)
	if err != nil {
		return MountPoint{}, fmt.Errorf("--mount %q: %w", s, err)
	}
	return m, nil
}

// mountFields are the fields of a --mount, by their canonical key.
type mountFields map[string]string

var mountKeys = map[string]string{
	"type": "type", "source": "source", "src": "source",
	"destination": "destination", "dst": "destination", "target": "destination",
	"readonly": "readonly", "ro": "readonly", "bind-propagation": "bind-propagation",
	"volume-nocopy": "volume-nocopy", "tmpfs-size": "tmpfs-size", "tmpfs-mode": "tmpfs-mode",
}

// unsupportedKeys are keys of Docker's --mount that this engine does not
// implement: refused by name rather than as unknown.
var unsupportedKeys = map[string]bool{
	"bind-nonrecursive": true, "bind-recursive": true, "consistency": true, "volume-subpath": true,
	"volume-label": true, "volume-opt": true, "image-path": true,
}

// boolKeys may come without a value (true).
var boolKeys = map[string]bool{"readonly": true, "volume-nocopy": true}

func parseMountFields(s string) (mountFields, error) {
	f := mountFields{}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(field, "=")
		key, ok := mountKeys[strings.ToLower(strings.TrimSpace(k))]
		switch {
		case unsupportedKeys[strings.ToLower(k)]:
			return nil, fmt.Errorf("%s is not supported", k)
		case strings.EqualFold(k, "volume-driver"):
			if v != "local" {
				return nil, fmt.Errorf("volume-driver %q: only local is supported", v)
			}
			continue
		case !ok:
			return nil, fmt.Errorf("unknown key %q", k)
		case !hasValue && !boolKeys[key]:
			return nil, fmt.Errorf("%s needs a value (%s=...)", k, k)
		case !hasValue:
			v = "true"
		}
		if _, dup := f[key]; dup {
			return nil, fmt.Errorf("%s given twice", key)
		}
		f[key] = v
	}
	return f, nil
}

func (f mountFields) bool(key string) (bool, error) {
	v, ok := f[key]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%s: not a boolean", key, v)
	}
	return b, nil
}

// only refuses the keys of f that a mount of type typ does not take.
func (f mountFields) only(typ string, keys ...string) error {
	allowed := map[string]bool{"type": true, "destination": true, "readonly": true}
	for _, k := range keys {
		allowed[k] = true
	}
	for k := range f {
		if !allowed[k] {
			return fmt.Errorf("%s does not apply to a %s mount", k, typ)
		}
	}
	return nil
}

func (e *Engine) mountOf(f mountFields) (MountPoint, error) {
	dst := f["destination"]
	if dst == "" {
		return MountPoint{}, errors.New("destination is missing (dst=/PATH)")
	}
	if err := specgen.CheckDestination(dst); err != nil {
		return MountPoint{}, err
	}
	ro, err := f.bool("readonly")
	if err != nil {
		return MountPoint{}, err
	}
	m := MountPoint{Destination: filepath.Clean(dst), RW: !ro}
	switch typ := f["type"]; typ {
	case mountBind:
		err = f.bind(&m)
	case mountVolume, "":
		err = e.volumeMount(f, &m)
	case mountTmpfs:
		err = f.tmpfs(&m)
	default:
		err = fmt.Errorf("type %q: use bind, volume or tmpfs", typ)
	}
	return m, err
}

func (f mountFields) bind(m *MountPoint) error {
	if err := f.only(mountBind, "source", "bind-propagation"); err != nil {
		return err
	}
	m.Type, m.Source, m.Propagation = mountBind, f["source"], f["bind-propagation"]
	if !filepath.IsAbs(m.Source) {
		return fmt.Errorf("bind source %q: must be an absolute host path", m.Source)
	}
	if _, err := os.Stat(m.Source); err != nil {
		return fmt.Errorf("bind source path does not exist: %s", m.Source)
	}
	if m.Propagation != "" && !specgen.ValidPropagation(m.Propagation) {
		return fmt.Errorf("bind-propagation %q: use one of %s", m.Propagation, strings.Join(specgen.Propagations, ", "))
	}
	return nil
}

func (e *Engine) volumeMount(f mountFields, m *MountPoint) error {
	if err := f.only(mountVolume, "source", "volume-nocopy"); err != nil {
		return err
	}
	nocopy, err := f.bool("volume-nocopy")
	if err != nil {
		return err
	}
	name := f["source"]
	if name == "" {
		a, err := e.anonymousVolume(m.Destination)
		a.RW, a.NoCopy = m.RW, nocopy
		*m = a
		return err
	}
	if !validName(name) {
		return fmt.Errorf("volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	m.Type, m.Name, m.Source, m.NoCopy = mountVolume, name, e.volumeData(name), nocopy
	return nil
}

func (f mountFields) tmpfs(m *MountPoint) error {
	if err := f.only(mountTmpfs, "tmpfs-size", "tmpfs-mode"); err != nil {
		return err
	}
	m.Type = mountTmpfs
	if v, ok := f["tmpfs-size"]; ok {
		n, err := specgen.ParseBytes(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("tmpfs-size=%s: use a positive size (bytes, or with a unit: 64m)", v)
		}
		m.TmpfsOptions = append(m.TmpfsOptions, "size="+strconv.FormatInt(n, 10))
	}
	if v, ok := f["tmpfs-mode"]; ok {
		mode, err := strconv.ParseUint(v, 8, 32)
		if err != nil || mode > 0o7777 {
			return fmt.Errorf("tmpfs-mode=%s: use an octal mode, e.g. 1777", v)
		}
		m.TmpfsOptions = append(m.TmpfsOptions, "mode="+strconv.FormatUint(mode, 8))
	}
	return nil
}

// parseTmpfs reads one --tmpfs /CONTAINER[:OPTS].
func parseTmpfs(s string) (MountPoint, error) {
	dst, opts, _ := strings.Cut(s, ":")
	if err := specgen.CheckDestination(dst); err != nil {
		return MountPoint{}, fmt.Errorf("--tmpfs %q: %w", s, err)
	}
	o, ro, err := specgen.ParseTmpfsOptions(opts)
	if err != nil {
		return MountPoint{}, fmt.Errorf("--tmpfs %q: %w", s, err)
	}
	return MountPoint{Type: mountTmpfs, Destination: filepath.Clean(dst), RW: !ro, TmpfsOptions: o}, nil
}

// volumesFrom are the bind and volume mounts of the containers of refs
// (CONTAINER[:ro|rw]): shared, never owned (rm -v leaves them), read-only
// with :ro, as they are otherwise.
func (e *Engine) volumesFrom(refs []string) ([]MountPoint, error) {
	var out []MountPoint
	for _, ref := range refs {
		name, mode, hasMode := strings.Cut(ref, ":")
		if hasMode && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("%w: --volumes-from %q: mode must be ro or rw", ErrInvalidInput, ref)
		}
		r, err := e.Find(name)
		if err != nil {
			return nil, fmt.Errorf("--volumes-from %s: %w", name, err)
		}
		for _, m := range r.Mounts {
			if typeOf(m) == mountTmpfs {
				continue
			}
			m.Type, m.Anonymous, m.NoCopy = typeOf(m), false, true
			if m.Type == mountVolume && m.Name == "" {
				m.Name = e.volumeOf(m)
			}
			if hasMode {
				m.RW = mode == "rw"
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// mountSpecs are the spec's mounts of a container's own mounts.
func mountSpecs(mounts []MountPoint) []specs.Mount {
	var out []specs.Mount
	for _, m := range mounts {
		if typeOf(m) == mountTmpfs {
			out = append(out, specgen.Tmpfs(m.Destination, !m.RW, m.TmpfsOptions))
			continue
		}
		out = append(out, specgen.BindMount(m.Source, m.Destination, !m.RW, m.Propagation))
	}
	return out
}

// makeMountSources makes what the mounts of r need on the host: a -v
// bind's missing source directory, a volume not made yet, filled with
// what the image has at its destination while it is empty (unless
// nocopy), as Docker does.
func (e *Engine) makeMountSources(r *Record) error {
	for _, m := range r.Mounts {
		switch typeOf(m) {
		case mountBind:
			if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return fmt.Errorf("create volume source %s: %w", m.Source, err)
				}
			}
		case mountVolume:
			if err := e.makeVolume(r, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Engine) makeVolume(r *Record, m MountPoint) error {
	name := e.volumeOf(m)
	if m.Name == "" {
		// An anonymous volume of a record of before named volumes.
		return os.MkdirAll(m.Source, 0o755)
	}
	if _, _, err := e.ensureVolume(name, nil, m.Anonymous); err != nil {
		return err
	}
	if m.NoCopy {
		return nil
	}
	// Two containers that mount a new volume at once: one fills it.
	unlock, err := lockDir(e.volumeDir(name))
	if err != nil {
		return err
	}
	defer unlock()
	empty, err := isEmptyDir(m.Source)
	if err != nil || !empty {
		return err
	}
	if err := copyUp(r.Rootfs, m.Destination, m.Source); err != nil {
		return err
	}
	return unmapOwners(m.Source, containerOwners(r))
}

// lockDir takes an exclusive flock of directory dir until the returned
// function is called.
func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// checkPropagation refuses a bind whose propagation cannot be: as in
// Docker, a shared one needs its source on a shared mount of the host, a
// slave one on a shared or slave mount (else it would receive nothing).
func checkPropagation(m MountPoint) error {
	var need string
	switch m.Propagation {
	case "shared", "rshared":
		need = "shared"
	case "slave", "rslave":
		need = "shared or slave"
	default:
		return nil
	}
	src, err := filepath.EvalSymlinks(m.Source)
	if err != nil {
		return fmt.Errorf("bind source %s: %w", m.Source, err)
	}
	mnt, fields, err := mountOf(src)
	if err != nil {
		return err
	}
	shared := strings.Contains(fields, "shared:")
	if shared || need != "shared" && strings.Contains(fields, "master:") {
		return nil
	}
	return fmt.Errorf("bind-propagation %s of %s: it is on mount %s, which is not a %s mount (mount --make-rshared %s)", m.Propagation, m.Source, mnt, need, mnt)
}

// mountOf finds the mount that holds path p (absolute, without symlinks)
// in /proc/self/mountinfo: its mount point and optional fields.
func mountOf(p string) (mnt, fields string, err error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 7 || sep < 6 {
			continue
		}
		point := cgroups.UnescapeMount(f[4])
		if point == p || point == "/" || strings.HasPrefix(p, point+"/") {
			if len(point) >= len(mnt) { // the last of the longest: the one on top
				mnt, fields = point, strings.Join(f[6:sep], " ")
			}
		}
	}
	if mnt == "" {
		return "", "", fmt.Errorf("no mount holds %s in /proc/self/mountinfo", p)
	}
	return mnt, fields, nil
}
