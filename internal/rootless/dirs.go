package rootless

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// What the user's command passes on to itself in the namespace.
const (
	envUID     = "_SDOCKER_ROOTLESS_UID"  // the user's uid outside
	envGID     = "_SDOCKER_ROOTLESS_GID"  // the user's gid outside
	envDataDir = "_SDOCKER_ROOTLESS_DATA" // DataDir, resolved outside
	envRunDir  = "_SDOCKER_ROOTLESS_RUN"  // RunDir, resolved outside
	envFDs     = "_SDOCKER_ROOTLESS_FDS"  // the namespace descriptors the join left open
)

// Active reports whether this process is sdocker in a user's rootless
// namespace (as uid 0 there).
func Active() bool { return os.Getenv(envUID) != "" && os.Geteuid() == 0 }

// UID is the user's uid outside the namespace (the current one outside it).
func UID() int {
	if id, err := strconv.Atoi(os.Getenv(envUID)); err == nil && Active() {
		return id
	}
	return os.Getuid()
}

// GID is the user's gid outside the namespace (the current one outside
// it).
func GID() int {
	if id, err := strconv.Atoi(os.Getenv(envGID)); err == nil && Active() {
		return id
	}
	return os.Getgid()
}

// DataDir is where a rootless sdocker keeps containers, images, volumes and
// networks: $XDG_DATA_HOME/sdocker, else $HOME/.local/share/sdocker.
func DataDir() string { return os.Getenv(envDataDir) }

// RunDir is where a rootless sdocker keeps what lasts until a reboot (the
// pause process's pid, the containers' network namespaces):
// $XDG_RUNTIME_DIR/sdocker, else /run/user/UID/sdocker when that directory
// is the user's, else $TMPDIR/sdocker-run-UID.
func RunDir() string { return os.Getenv(envRunDir) }

// dataDir resolves DataDir outside the namespace.
func dataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sdocker"), nil
	}
	home := os.Getenv("HOME")
	if !filepath.IsAbs(home) {
		return "", errors.New("rootless: neither XDG_DATA_HOME nor HOME is an absolute path: no place for sdocker's data")
	}
	return filepath.Join(home, ".local", "share", "sdocker"), nil
}

// runDir resolves RunDir outside the namespace for user uid.
func runDir(uid int) string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "sdocker")
	}
	d := fmt.Sprintf("/run/user/%d", uid)
	var st unix.Stat_t
	if unix.Stat(d, &st) == nil && int(st.Uid) == uid && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return filepath.Join(d, "sdocker")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sdocker-run-%d", uid))
}

// makePrivateDir makes dir (and its parents) for user uid, and checks that
// the directory is the user's alone: another user's would let them play
// with the pause process's pid.
func makePrivateDir(dir string, uid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if int(st.Uid) != uid || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return fmt.Errorf("rootless: %s is not a directory of user %d's alone (set XDG_RUNTIME_DIR)", dir, uid)
	}
	return nil
}

// Env is what a process that sdocker starts with an environment of its
// own (its monitor) needs to be rootless as it is: nil outside.
func Env() []string {
	if !Active() {
		return nil
	}
	return []string{envUID + "=" + os.Getenv(envUID), envDataDir + "=" + DataDir(), envRunDir + "=" + RunDir()}
}
