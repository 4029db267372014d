package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/launch"
	"github.com/sdocker/sdocker/internal/rootless"
	"github.com/sdocker/sdocker/internal/specgen"
)

// User namespaces (--userns, --uidmap, --gidmap). --userns auto gives
// each container a range of its own out of the subordinate ids that
// /etc/subuid and /etc/subgid give the user SubIDUser ("sdocker" unless
// set, as podman's "containers"); the range goes into the container's
// record, and a range that a record holds is never handed out again while
// that record exists. The image's layers (or the rootfs directory) are
// the container's root's through id-mapped mounts, with no copy, and so
// are its volumes, which keep the host's root as their owner on disk.

// DefaultSubIDUser is the user whose subordinate ids --userns auto uses.
const DefaultSubIDUser = "sdocker"

// defaultAutoSize is how many ids --userns auto maps (0-65535: nobody
// included).
const defaultAutoSize = 65536

// usernsOptions reads --userns, --uidmap and --gidmap of o into r: the
// mode as given and, but for auto (see assignAutoRange), the mappings.
func (e *Engine) usernsOptions(o IsolationOptions, r *Record) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, a...)...)
	}
	mode, _, err := parseUserns(o.Userns)
	if err != nil {
		return err
	}
	uids, err := parseIDMaps("uidmap", o.UIDMap)
	if err != nil {
		return err
	}
	gids, err := parseIDMaps("gidmap", o.GIDMap)
	if err != nil {
		return err
	}
	if len(uids) > 0 || len(gids) > 0 {
		if mode != "" {
			return bad("--uidmap and --gidmap cannot be combined with --userns %s", o.Userns)
		}
		// Either alone maps both, as with podman.
		if len(gids) == 0 {
			gids = uids
		} else if len(uids) == 0 {
			uids = gids
		}
		mode = "private"
	}
	switch mode {
	case "":
		return nil
	case "keep-id":
		if os.Geteuid() == 0 && !rootless.Active() {
			return bad("--userns keep-id maps the calling user's id into the container, for an unprivileged user: as root, use --userns auto or --uidmap")
		}
		if uids, gids, err = e.keepID(); err != nil {
			return err
		}
	case "auto":
		// The range is chosen under the engine's lock (create); the
		// subordinate ids are checked now, before anything is made.
		if _, _, err := e.subordinateRanges(); err != nil {
			return err
		}
	}
	switch o.PID {
	case "", "private":
	default:
		return bad("--userns cannot be combined with --pid %s: /proc needs a pid namespace of the container's own", o.PID)
	}
	r.Host.Userns, r.Host.UIDMap, r.Host.GIDMap = o.Userns, uids, gids
	if mode == "private" {
		r.Host.Userns = "private"
	}
	if r.ImageID == "" && r.idMapsStorage() {
		// A rootfs directory: id-mapped at the container's rootfs.
		r.Host.IDMappedRootfs, r.Rootfs = r.Rootfs, image.RootfsOf(e.containerDir(r.ID))
	}
	return nil
}

// parseUserns reads --userns: "" or host (none), auto or auto:size=N, or
// keep-id.
func parseUserns(s string) (mode string, size uint32, err error) {
	switch {
	case s == "" || s == "host":
		return "", 0, nil
	case s == "keep-id":
		return s, 0, nil
	case s == "auto":
		return s, defaultAutoSize, nil
	case strings.HasPrefix(s, "auto:size="):
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "auto:size="), 10, 32)
		if err == nil && n > 0 {
			return "auto", uint32(n), nil
		}
	}
	return "", 0, fmt.Errorf("%w: --userns %q: use host, auto, auto:size=N or keep-id", ErrInvalidInput, s)
}

func parseIDMaps(flag string, values []string) ([]specs.LinuxIDMapping, error) {
	var out []specs.LinuxIDMapping
	for _, v := range values {
		m, err := specgen.ParseIDMap(flag, v)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		out = append(out, m)
	}
	if err := ids.CheckMappings("--"+flag, out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return out, nil
}

// subIDUser is the user whose subordinate ids the engine hands out.
func (e *Engine) subIDUser() string {
	if e.SubIDUser != "" {
		return e.SubIDUser
	}
	return DefaultSubIDUser
}

// subordinateRanges reads the subordinate uids and gids of subIDUser; an
// error when it has none of either.
func (e *Engine) subordinateRanges() (uids, gids []ids.Range, err error) {
	name := e.subIDUser()
	id := uint32(1<<32 - 1) // no line is written for it
	if u, err := user.Lookup(name); err == nil {
		if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			id = uint32(n)
		}
	}
	read := func(p string) ([]ids.Range, error) {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("--userns auto: %w", err)
		}
		defer f.Close()
		return ids.SubordinateRanges(f, name, id)
	}
	uidFile, gidFile := orDefault(e.SubUIDFile, "/etc/subuid"), orDefault(e.SubGIDFile, "/etc/subgid")
	if uids, err = read(uidFile); err == nil {
		gids, err = read(gidFile)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(uids) == 0 || len(gids) == 0 {
		return nil, nil, fmt.Errorf("%w: --userns auto: user %q has no subordinate ids in %s and %s: add a line such as %s:100000:1000000 to both",
			ErrInvalidInput, name, uidFile, gidFile, name)
	}
	return uids, gids, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// keepID maps the calling user's ids to themselves and the rest of the
// container's from that user's subordinate ids. In a rootless engine the
// user is the namespace's 0 and the subordinate ids its 1..N: the
// container's id of the user's is the one outside, which the namespace's
// 0 is.
func (e *Engine) keepID() (uids, gids []specs.LinuxIDMapping, err error) {
	uid, gid := keepIDUser()
	ownU, ownG := uid, gid
	var subU, subG ids.Range
	if rootless.Active() {
		ownU, ownG = 0, 0
		if subU, err = rootless.NamespaceRange("/proc/self/uid_map"); err == nil {
			subG, err = rootless.NamespaceRange("/proc/self/gid_map")
		}
	} else {
		var u, g []ids.Range
		if u, g, err = e.subordinateRanges(); err == nil {
			subU, subG = u[0], g[0]
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if uids, err = specgen.KeepIDMappings(uid, ownU, subU); err == nil {
		gids, err = specgen.KeepIDMappings(gid, ownG, subG)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --userns keep-id: %w", ErrInvalidInput, err)
	}
	return uids, gids, nil
}

// keepIDUser is the user's uid and gid that --userns keep-id keeps: the
// ones outside a rootless engine's namespace.
func keepIDUser() (uid, gid uint32) {
	return uint32(rootless.UID()), uint32(rootless.GID())
}

// keepIDDefaults makes the user that keep-id keeps the user of r's process
// unless user (--user) names one, as podman does: the files of the user's
// (the image's layers and volumes as a rootless engine stores them, bind
// mounts) are that user's in the container, which then may write them.
func keepIDDefaults(r *Record, user string) {
	if r.Host.Userns == "keep-id" && user == "" {
		uid, gid := keepIDUser()
		r.Host.User = fmt.Sprintf("%d:%d", uid, gid)
	}
}

// idMapsStorage reports whether r's root file system and volumes are
// id-mapped to its range: with a user namespace, but keep-id's, whose
// mapping puts the user's own files, as they are on disk, at the user's
// ids in the container (and a rootless engine may not id-map the host's
// file systems).
func (r *Record) idMapsStorage() bool {
	return len(r.Host.UIDMap) > 0 && r.Host.Userns != "keep-id"
}

// assignAutoRange gives r (--userns auto) the first range of its size in
// the subordinate ids that no record of all holds, and its spec the user
// namespace. The caller holds the engine's lock: no other create hands
// out a range meanwhile.
func (e *Engine) assignAutoRange(r *Record, all []*Record) error {
	if !strings.HasPrefix(r.Host.Userns, "auto") {
		return nil
	}
	_, size, err := parseUserns(r.Host.Userns)
	if err != nil {
		return err
	}
	subU, subG, err := e.subordinateRanges()
	if err != nil {
		return err
	}
	var usedU, usedG []specs.LinuxIDMapping
	for _, o := range all {
		if o.ID != r.ID {
			usedU, usedG = append(usedU, o.Host.UIDMap...), append(usedG, o.Host.GIDMap...)
		}
	}
	u, okU := freeRange(subU, usedU, size)
	g, okG := freeRange(subG, usedG, size)
	if !okU || !okG {
		return fmt.Errorf("%w: --userns auto: no %d free subordinate ids of user %q left (the other containers hold them)", ErrInvalidInput, size, e.subIDUser())
	}
	r.Host.UIDMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: u, Size: size}}
	r.Host.GIDMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: g, Size: size}}
	if err := specgen.Apply(r.Spec, specgen.WithUserNamespace(r.Host.UIDMap, r.Host.GIDMap), idMapVolumes(r)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return nil
}

// freeRange is the first host id of size ids inside ranges that overlap
// none of used.
func freeRange(ranges []ids.Range, used []specs.LinuxIDMapping, size uint32) (uint32, bool) {
	for _, rg := range ranges {
		end := uint64(rg.Start) + uint64(rg.Size)
		for start := uint64(rg.Start); start+uint64(size) <= end; {
			cand := []specs.LinuxIDMapping{{HostID: uint32(start), Size: size}}
			i := slices.IndexFunc(used, func(m specs.LinuxIDMapping) bool { return ids.Overlaps(cand, []specs.LinuxIDMapping{m}) })
			if i < 0 {
				return uint32(start), true
			}
			start = uint64(used[i].HostID) + uint64(used[i].Size)
		}
	}
	return 0, false
}

// idMapVolumes gives the container's volumes its own mappings (id-mapped
// mounts): on disk their files stay the host root's, whichever range the
// container has.
func idMapVolumes(r *Record) specgen.Opt {
	return func(s *specs.Spec) error {
		if !r.idMapsStorage() {
			return nil
		}
		for _, m := range r.Mounts {
			if typeOf(m) != mountVolume {
				continue
			}
			for i := range s.Mounts {
				if s.Mounts[i].Destination == m.Destination && !slices.Contains(s.Mounts[i].Options, "idmap") {
					s.Mounts[i].Options = append(s.Mounts[i].Options, "idmap")
				}
			}
		}
		return nil
	}
}

// rootfsIDMap is how the root file system of r is id-mapped; nil without
// a user namespace. The caller closes its Userns.
func rootfsIDMap(r *Record) (*image.IDMap, error) {
	if !r.idMapsStorage() {
		return nil, nil
	}
	userns, err := launch.MappedUserns(r.Host.UIDMap, r.Host.GIDMap)
	if err != nil {
		return nil, err
	}
	uid, _ := ids.ToHost(r.Host.UIDMap, 0)
	gid, _ := ids.ToHost(r.Host.GIDMap, 0)
	return &image.IDMap{Userns: userns, RootUID: int(uid), RootGID: int(gid)}, nil
}

// makeTraversable adds the search permission for others to the
// directories on the way from the engine's root to the container's
// rootfs (as Docker's 0701 with user namespaces): the container's root,
// an unprivileged user of the host, reaches its rootfs through them.
func (e *Engine) makeTraversable(r *Record) error {
	if len(r.Host.UIDMap) == 0 {
		return nil
	}
	for _, d := range []string{e.Root, e.containersDir(), e.containerDir(r.ID)} {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return err
			}
		}
	}
	return nil
}

// mountsRootfs reports whether the container's root file system is a
// mount of its own at its rootfs (image.RootfsOf): an image's overlay, or
// an id-mapped rootfs directory.
func (r *Record) mountsRootfs() bool { return r.ImageID != "" || r.Host.IDMappedRootfs != "" }

// unmapOwners gives the files under dir, copied from a root file system
// that shows its files through the container's mappings (an id-mapped
// one: the container's ids as host ids), the owners that owners maps
// them to: dir is an id-mapped volume, whose files keep on disk the ids the
// container sees. Nil owners changes nothing.
func unmapOwners(dir string, owners image.Owners) error {
	if owners == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		uid, gid := owners(int(st.Uid), int(st.Gid))
		if uid == int(st.Uid) && gid == int(st.Gid) {
			return nil
		}
		if err := unix.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
		// chown clears the set-id bits of a file: give them back.
		if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
				return fmt.Errorf("chmod %s: %w", p, err)
			}
		}
		return nil
	})
}

// containerOwners maps the owners of r's files as the host sees them (its
// upper directory, its id-mapped root file system) to the container's
// ids; nil without a user namespace.
func containerOwners(r *Record) image.Owners {
	uids, gids := r.Host.UIDMap, r.Host.GIDMap
	if len(uids) == 0 {
		return nil
	}
	return func(uid, gid int) (int, int) {
		if u, ok := ids.ToContainer(uids, uint32(uid)); ok {
			uid = int(u)
		}
		if g, ok := ids.ToContainer(gids, uint32(gid)); ok {
			gid = int(g)
		}
		return uid, gid
	}
}
