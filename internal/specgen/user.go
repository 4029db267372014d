package specgen

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sdocker/sdocker/internal/ids"
)

// colonFile reads the name:x:id:... lines (at least 4 fields) of
// /etc/passwd or /etc/group inside the rootfs, opened without leaving it:
// the rootfs is not trusted.
func colonFile(rootfs, file string) ([][]string, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(strings.TrimPrefix(file, "/"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); len(fields) >= 4 {
			out = append(out, fields)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// lookup finds the first line whose name is name (field 0) or, for a
// numeric key, whose id (field 2) is that number.
func lookup(lines [][]string, name string, id *uint32) []string {
	for _, e := range lines {
		if id == nil && e[0] == name {
			return e
		}
		if id != nil {
			if n, err := ids.Parse(e[2]); err == nil && n == *id {
				return e
			}
		}
	}
	return nil
}

// WithUser runs the process as user (-u, or an image's User; "" leaves
// root): uid[:gid] or name[:group] of the /etc/passwd and /etc/group of the
// spec's root file system, which must be in place (see ResolveUser). A user
// of /etc/passwd gets its home directory as HOME, unless own (the image's
// and run's variables) sets HOME: as runc and Docker, HOME is only a
// default.
func WithUser(user string, own []string) Opt {
	return func(s *specs.Spec) error {
		if user == "" {
			return nil
		}
		u, err := ResolveUser(s.Root.Path, user)
		if err != nil {
			return err
		}
		s.Process.User = u
		if slices.ContainsFunc(own, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
			return nil
		}
		if home := homeOf(s.Root.Path, u.UID); home != "" {
			s.Process.Env = SetEnv(s.Process.Env, "HOME="+home)
		}
		return nil
	}
}

// ResolveUser reads -u/--user (or an image's User): uid[:gid] or
// name[:group], names looked up in the /etc/passwd and /etc/group of
// rootfs. Without a group, the user's entry in /etc/passwd gives the gid
// and the groups of /etc/group that list the user's name are its
// supplementary groups (as Docker). Every id must be in 0-2147483647.
func ResolveUser(rootfs, spec string) (specs.User, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("user %q: %s", spec, fmt.Sprintf(format, a...))
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		return specs.User{}, bad("no user name or uid before the colon")
	}
	if hasGroup && groupPart == "" {
		return specs.User{}, bad("no group name or gid after the colon")
	}
	var u specs.User
	var entry []string
	var err error
	if ids.IsNumber(userPart) {
		if u.UID, err = ids.Parse(userPart); err != nil {
			return u, bad("uid %v", err)
		}
		lines, _ := colonFile(rootfs, "/etc/passwd") // optional for a uid
		entry = lookup(lines, "", &u.UID)
	} else if entry, err = userEntry(rootfs, userPart); err != nil {
		return u, bad("%v", err)
	}
	if entry != nil {
		if u.UID, err = ids.Parse(entry[2]); err != nil {
			return u, bad("the container's /etc/passwd: uid %v", err)
		}
		if u.GID, err = ids.Parse(entry[3]); err != nil {
			return u, bad("the container's /etc/passwd: gid %v", err)
		}
	}
	if hasGroup {
		u.GID, err = resolveGroup(rootfs, groupPart)
	} else if entry != nil {
		u.AdditionalGids, err = memberOf(rootfs, entry[0])
	}
	if err != nil {
		return u, bad("%v", err)
	}
	return u, nil
}

// userEntry is the /etc/passwd line of a user name.
func userEntry(rootfs, name string) ([]string, error) {
	lines, err := colonFile(rootfs, "/etc/passwd")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no such user: the container has no /etc/passwd")
	case err != nil:
		return nil, fmt.Errorf("look up the user in the container's /etc/passwd: %w", err)
	}
	e := lookup(lines, name, nil)
	if e == nil {
		return nil, fmt.Errorf("no such user in the container's /etc/passwd")
	}
	return e, nil
}

// resolveGroup reads a gid or a group name of the container's /etc/group.
func resolveGroup(rootfs, group string) (uint32, error) {
	if ids.IsNumber(group) {
		gid, err := ids.Parse(group)
		if err != nil {
			return 0, fmt.Errorf("gid %w", err)
		}
		return gid, nil
	}
	lines, err := colonFile(rootfs, "/etc/group")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("no such group %q: the container has no /etc/group", group)
	case err != nil:
		return 0, fmt.Errorf("look up group %s in the container's /etc/group: %w", group, err)
	}
	e := lookup(lines, group, nil)
	if e == nil {
		return 0, fmt.Errorf("no such group %q in the container's /etc/group", group)
	}
	gid, err := ids.Parse(e[2])
	if err != nil {
		return 0, fmt.Errorf("the container's /etc/group: group %s: gid %w", group, err)
	}
	return gid, nil
}

// memberOf lists the gids of the groups of /etc/group that name user as a
// member (none without the file).
func memberOf(rootfs, user string) ([]uint32, error) {
	lines, err := colonFile(rootfs, "/etc/group")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("look up the groups of %s in the container's /etc/group: %w", user, err)
	}
	var gids []uint32
	for _, e := range lines {
		for _, m := range strings.Split(e[3], ",") {
			if strings.TrimSpace(m) != user {
				continue
			}
			gid, err := ids.Parse(e[2])
			if err != nil {
				return nil, fmt.Errorf("the container's /etc/group: group %s (of %s): gid %w", e[0], user, err)
			}
			gids = append(gids, gid)
			break
		}
	}
	return gids, nil
}

// homeOf is the home directory of uid in the container's /etc/passwd.
func homeOf(rootfs string, uid uint32) string {
	lines, _ := colonFile(rootfs, "/etc/passwd")
	if e := lookup(lines, "", &uid); len(e) >= 6 {
		return e[5]
	}
	return ""
}
