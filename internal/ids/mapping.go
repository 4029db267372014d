package ids

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxExtents is how many ranges a uid_map or gid_map may hold (Linux 4.15+).
const MaxExtents = 340

// CheckMappings refuses what the kernel would refuse in a uid_map or
// gid_map, naming the field: an empty range, a range past 2^32-1 (the
// last id, (uid_t)-1, is never mapped), more than MaxExtents ranges, and
// ranges that overlap on either side.
func CheckMappings(field string, m []specs.LinuxIDMapping) error {
	if len(m) > MaxExtents {
		return fmt.Errorf("%s: %d ranges, at most %d", field, len(m), MaxExtents)
	}
	for i, r := range m {
		f := fmt.Sprintf("%s[%d]", field, i)
		if r.Size == 0 {
			return fmt.Errorf("%s: size 0", f)
		}
		for _, start := range []uint32{r.ContainerID, r.HostID} {
			if uint64(start)+uint64(r.Size) > 1<<32-1 {
				return fmt.Errorf("%s: %d+%d goes past %d", f, start, r.Size, uint64(1<<32-2))
			}
		}
		for j, o := range m[:i] {
			switch {
			case overlap(r.ContainerID, r.Size, o.ContainerID, o.Size):
				return fmt.Errorf("%s: container ids overlap those of %s[%d]", f, field, j)
			case overlap(r.HostID, r.Size, o.HostID, o.Size):
				return fmt.Errorf("%s: host ids overlap those of %s[%d]", f, field, j)
			}
		}
	}
	return nil
}

func overlap(a, asize, b, bsize uint32) bool {
	return uint64(a) < uint64(b)+uint64(bsize) && uint64(b) < uint64(a)+uint64(asize)
}

// ToHost maps id of a user namespace with mappings m to the host's id;
// false when m does not map it.
func ToHost(m []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.ContainerID && uint64(id) < uint64(r.ContainerID)+uint64(r.Size) {
			return r.HostID + (id - r.ContainerID), true
		}
	}
	return 0, false
}

// Overlaps reports whether the host ids of a and b share an id.
func Overlaps(a, b []specs.LinuxIDMapping) bool {
	return slices.ContainsFunc(a, func(r specs.LinuxIDMapping) bool {
		return slices.ContainsFunc(b, func(o specs.LinuxIDMapping) bool { return overlap(r.HostID, r.Size, o.HostID, o.Size) })
	})
}

// ToContainer maps host id to the id of a user namespace with mappings m;
// false when m does not map it.
func ToContainer(m []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.HostID && uint64(id) < uint64(r.HostID)+uint64(r.Size) {
			return r.ContainerID + (id - r.HostID), true
		}
	}
	return 0, false
}
