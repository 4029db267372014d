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
