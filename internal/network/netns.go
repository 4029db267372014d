package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunDir holds what the host's network state needs of sdocker while the
// machine is up: the containers' namespaces, the address leases of each
// bridge and the published ports. It is host-wide (every engine root shares
// the bridges, the firewall table and the ports) and goes with a reboot, as
// the links and rules it describes do. (A variable for the unit tests.)
var RunDir = "/run/sdocker"

// NetnsPath is where the network namespace of container id is bind-mounted:
// `nsenter --net=PATH` and an OCI spec's linux.namespaces path join it.
func NetnsPath(id string) string { return filepath.Join(RunDir, "netns", id) }

// createNetns makes a new network namespace and bind-mounts it at path. The
// namespace is made by a throw-away thread (it ends with its goroutine), so
// no thread of this process is ever left in it.
func createNetns(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("bind-mount network namespace at %s: %w", path, err)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}

// removeNetns unmounts and removes the namespace mounted at path; the
// namespace itself ends with its last process. A path that is not there is
// not an error.
func removeNetns(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
