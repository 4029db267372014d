// Package rootless runs sdocker for an unprivileged user: the command
// enters a user namespace (uid 0 inside is the user, 1..N the user's
// subordinate range of /etc/subuid and /etc/subgid) and a mount namespace,
// both held by a pause process of the user's, and keeps its state under the
// user's XDG directories.
package rootless

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sdocker/sdocker/internal/ids"
)

// Range is a subordinate id range: Count ids from Start.
type Range struct {
	Start, Count uint32
}

// ErrNoRange says that the user has no subordinate range.
var ErrNoRange = errors.New("no subordinate range")

// parseSubIDs finds the first range of the user (by name or by uid) in the
// text of /etc/subuid or /etc/subgid ("user:start:count" lines).
func parseSubIDs(r io.Reader, name string, id int) (Range, error) {
	ranges, err := ids.SubordinateRanges(r, name, uint32(id))
	if err != nil {
		return Range{}, err
	}
	if len(ranges) == 0 {
		return Range{}, ErrNoRange
	}
	return Range{Start: ranges[0].Start, Count: ranges[0].Size}, nil
}

// subIDs reads the user's range from file (/etc/subuid or /etc/subgid).
func subIDs(file, name string, id int) (Range, error) {
	f, err := os.Open(file)
	if err != nil {
		return Range{}, fmt.Errorf("rootless: user %s has no subordinate ids: %w", name, err)
	}
	defer f.Close()
	r, err := parseSubIDs(f, name, id)
	if errors.Is(err, ErrNoRange) {
		return Range{}, fmt.Errorf("rootless: user %s (%d) has no subordinate range in %s: add one (e.g. usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", name, id, file, name)
	}
	if err != nil {
		return Range{}, fmt.Errorf("read %s: %w", file, err)
	}
	return r, nil
}

// NamespaceRange is the range of ids of this rootless namespace that map
// the user's subordinate ids (1..N: 0 is the user), read from mapFile
// (/proc/self/uid_map or gid_map).
func NamespaceRange(mapFile string) (ids.Range, error) {
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return ids.Range{}, fmt.Errorf("read %s: %w", mapFile, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "1" {
			continue
		}
		if n, err := strconv.ParseUint(f[2], 10, 32); err == nil && n > 0 {
			return ids.Range{Start: 1, Size: uint32(n)}, nil
		}
	}
	return ids.Range{}, fmt.Errorf("%s maps no subordinate ids", mapFile)
}
