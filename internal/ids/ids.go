// Package ids checks user and group ids: the decimal form they are given
// in and the range a container's process may be given (runc's,
// 0-2147483647). Above it lie (uid_t)-1, which setresuid and setresgid
// read as "leave unchanged", and ids the kernel or C libraries treat as
// negative: a process asked to run as one of them would keep running as
// root. It also shortens container and image ids (ShortID).
package ids

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Max is the largest uid or gid a container's process may be given.
const Max = 1<<31 - 1

// ErrRange is the error of an id outside 0-Max.
var ErrRange = fmt.Errorf("out of range (0-%d)", Max)

// IsNumber reports whether s is written as a decimal number, negative or
// not: as an id it is a number (maybe out of range), never a name.
func IsNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Parse reads a decimal uid or gid in 0-Max.
func Parse(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty id")
	}
	if !IsNumber(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > Max {
		// Negative, or more digits than 64 bits hold, or too large.
		return 0, fmt.Errorf("%s is %w", s, ErrRange)
	}
	return uint32(n), nil
}

// Check refuses an id outside 0-Max, naming the field it came from.
func Check(field string, id uint64) error {
	if id > Max {
		return fmt.Errorf("%s: %d is %w", field, id, ErrRange)
	}
	return nil
}

// CheckUser refuses a process user (process.user of a spec) whose uid,
// gid or any additional gid is out of range, naming the field.
func CheckUser(u specs.User) error {
	if err := Check("process.user.uid", uint64(u.UID)); err != nil {
		return err
	}
	if err := Check("process.user.gid", uint64(u.GID)); err != nil {
		return err
	}
	for i, g := range u.AdditionalGids {
		if err := Check(fmt.Sprintf("process.user.additionalGids[%d]", i), uint64(g)); err != nil {
			return err
		}
	}
	return nil
}
