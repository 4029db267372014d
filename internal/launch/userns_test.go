//go:build amd64 || arm64

package launch

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/sdocker/sdocker/tests/testutil"
)

// The name the builds link sdocker-init with is the entry point's.
func TestUsernsEntryName(t *testing.T) {
	name := runtime.FuncForPC(reflect.ValueOf(usernsEntry).Pointer()).Name()
	name = strings.TrimSuffix(name, ".abi0")
	if name != UsernsEntry || testutil.InitEntry != UsernsEntry {
		t.Errorf("entry point %q, UsernsEntry %q, testutil.InitEntry %q: all must be one", name, UsernsEntry, testutil.InitEntry)
	}
}

// What the parent encodes for the entry point's argv[2] decodes to the
// same descriptors, and what the entry point would skip (not a positive
// decimal) is refused.
func TestEntryJoins(t *testing.T) {
	for _, fds := range [][2]int{{5, -1}, {-1, 7}, {6, 7}, {0, 0}, {entryMax, entryMax}} {
		s, err := entryJoins(fds[0], fds[1])
		if err != nil {
			t.Fatalf("entryJoins(%d, %d): %v", fds[0], fds[1], err)
		}
		u, tm, err := parseEntryJoins(s)
		if err != nil || u != fds[0] || tm != fds[1] {
			t.Errorf("entryJoins(%d, %d) = %q, parsed back to %d, %d, %v", fds[0], fds[1], s, u, tm, err)
		}
	}
	if s, err := entryJoins(entryMax+1, -1); err == nil {
		t.Errorf("entryJoins(%d, -1) = %q, want an error", entryMax+1, s)
	}
	for _, s := range []string{"", "0", "-3", "+3", "x", "2147483648"} {
		if _, _, err := parseEntryJoins(s); err == nil {
			t.Errorf("parseEntryJoins(%q): want an error", s)
		}
	}
}
