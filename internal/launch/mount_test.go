package launch

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Every mount option that config.md says a runtime MUST implement is one
// of ours: none reaches the file system as data (where tmpfs, say, would
// refuse it).
func TestSpecMountOptions(t *testing.T) {
	must := []string{"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime",
		"loud", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "norelatime", "nostrictatime",
		"nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw",
		"shared", "silent", "slave", "strictatime", "suid", "sync", "unbindable"}
	for _, o := range must {
		if _, _, data := parseMountOptions([]string{o}); data != "" {
			t.Errorf("mount option %q goes to the file system as data", o)
		}
	}
	if flags, _, _ := parseMountOptions([]string{"ro", "lazytime", "nolazytime", "silent"}); flags != unix.MS_RDONLY|unix.MS_SILENT {
		t.Errorf("ro, lazytime, nolazytime, silent: flags %#x", flags)
	}
}
