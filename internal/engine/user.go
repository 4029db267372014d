package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// passwdEntries reads name:x:id:... lines of a file inside the rootfs
// (opened without leaving it: the rootfs is not trusted).
func passwdEntries(rootfs, file string) [][]string {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil
	}
	defer root.Close()
	f, err := root.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); len(fields) >= 4 {
			out = append(out, fields)
		}
	}
	return out
}

// resolveUser reads -u/--user: uid[:gid] or name[:group], names looked up
// in the container's /etc/passwd and /etc/group.
func resolveUser(rootfs, spec string) (specs.User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var u specs.User
	uid, err := strconv.ParseUint(userPart, 10, 32)
	gid := uint64(0)
	if err == nil {
		u.UID = uint32(uid)
		for _, e := range passwdEntries(rootfs, "etc/passwd") {
			if e[2] == userPart {
				gid, _ = strconv.ParseUint(e[3], 10, 32)
			}
		}
	} else {
		found := false
		for _, e := range passwdEntries(rootfs, "etc/passwd") {
			if e[0] == userPart {
				uid, err1 := strconv.ParseUint(e[2], 10, 32)
				g, err2 := strconv.ParseUint(e[3], 10, 32)
				if err1 == nil && err2 == nil {
					u.UID, gid, found = uint32(uid), g, true
				}
			}
		}
		if !found {
			return u, fmt.Errorf("%w: user %q: no such user in the container's /etc/passwd", ErrInvalidInput, userPart)
		}
	}
	if hasGroup {
		g, err := strconv.ParseUint(groupPart, 10, 32)
		if err != nil {
			found := false
			for _, e := range passwdEntries(rootfs, "etc/group") {
				if e[0] == groupPart {
					if g, err = strconv.ParseUint(e[2], 10, 32); err == nil {
						found = true
					}
				}
			}
			if !found {
				return u, fmt.Errorf("%w: group %q: no such group in the container's /etc/group", ErrInvalidInput, groupPart)
			}
		}
		gid = g
	}
	u.GID = uint32(gid)
	return u, nil
}

// homeOf is the home directory of uid in the container's /etc/passwd.
func homeOf(rootfs string, uid uint32) string {
	for _, e := range passwdEntries(rootfs, "etc/passwd") {
		if len(e) >= 6 && e[2] == strconv.FormatUint(uint64(uid), 10) {
			return e[5]
		}
	}
	return ""
}
