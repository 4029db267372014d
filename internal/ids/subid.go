package ids

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Range is a range of subordinate ids: Size ids from Start.
type Range struct {
	Start, Size uint32
}

// SubordinateRanges reads the ranges that a subordinate id file
// (/etc/subuid, /etc/subgid: "NAME_OR_ID:START:COUNT" lines) gives to the
// user named name, whose id is id. Lines it cannot read are skipped, as
// shadow-utils does.
func SubordinateRanges(r io.Reader, name string, id uint32) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || parts[0] != name && parts[0] != strconv.FormatUint(uint64(id), 10) {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		size, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || size == 0 || start+size > 1<<32-1 {
			continue
		}
		out = append(out, Range{uint32(start), uint32(size)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read subordinate ids: %w", err)
	}
	return out, nil
}
