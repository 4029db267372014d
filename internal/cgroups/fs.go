package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Helpers shared by v1 and v2: reading and writing cgroup files, parsing
// their formats, and the kill-and-remove loop of Destroy.

// writeFile writes val to dir/name in one write(2), as cgroup files want.
// The file must exist: cgroup file systems do not create files.
func writeFile(dir, name, val string) error {
	// Plain system calls: an os.File would also ask the netpoller about
	// each file (two more calls per write, a dozen writes per container).
	p := filepath.Join(dir, name)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err == nil {
		var n int
		for {
			n, err = unix.Write(fd, []byte(val))
			if err != unix.EINTR {
				break
			}
		}
		if err == nil && n != len(val) {
			err = io.ErrShortWrite
		}
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", val, p, errnoOf(err))
	}
	return nil
}

// readFile returns the content of dir/name without the trailing newline.
func readFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, errnoOf(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a file holding one unsigned number.
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// unlimitedV1 is a bound above any real limit: v1 reports "no limit" as
// the largest page-aligned int64 (9223372036854771712 on 4 KiB pages).
const unlimitedV1 = 1 << 62

// readLimit reads a limit file ("max", or a number) and returns 0 for
// unlimited.
func readLimit(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil || s == "max" {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	if v >= unlimitedV1 {
		return 0, nil
	}
	return v, nil
}

// errnoOf strips the *fs.PathError an os call adds, since our messages
// carry the path already; errors.Is keeps working on the errno.
func errnoOf(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// keyedValue finds "key N" in a flat-keyed file such as memory.events,
// memory.oom_control or cpu.stat; found is false when the key is absent.
func keyedValue(content, key string) (v uint64, found bool, err error) {
	for _, line := range strings.Split(content, "\n") {
		k, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || k != key {
			continue
		}
		v, err = strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("parse %q: %w", line, err)
		}
		return v, true, nil
	}
	return 0, false, nil
}

// parseIOStat sums rbytes and wbytes over the devices of a v2 io.stat:
// "8:0 rbytes=90112 wbytes=0 rios=3 wios=0 dbytes=0 dios=0".
func parseIOStat(content string) (read, write uint64) {
	for _, line := range strings.Split(content, "\n") {
		for _, f := range strings.Fields(line) {
			k, val, _ := strings.Cut(f, "=")
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "rbytes":
				read += n
			case "wbytes":
				write += n
			}
		}
	}
	return read, write
}

// parseBlkioBytes sums the Read and Write lines of a v1
// blkio.*io_service_bytes file: "8:0 Read 4096", ..., "Total 8192".
func parseBlkioBytes(content string) (read, write uint64) {
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// gone reports whether err says the cgroup is gone: removed (ENOENT), or
// being removed by someone else at that moment (ENODEV: the kernel has
// already deactivated its files), as when a container's monitor destroys
// its cgroups while a command kills the same container.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

// readProcs lists the pids in dir/cgroup.procs; a missing cgroup has none.
func readProcs(dir string) ([]int, error) {
	s, err := readFile(dir, "cgroup.procs")
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "cgroup.procs"), err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// subdirs lists the child cgroups of dir (none if dir is gone).
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", dir, errnoOf(err))
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	return dirs, nil
}

// treeProcs lists the pids in dir and in the cgroups below it (a container
// may make its own sub-cgroups).
func treeProcs(dir string) ([]int, error) {
	pids, err := readProcs(dir)
	if err != nil {
		return nil, err
	}
	subs, err := subdirs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		more, err := treeProcs(sub)
		if err != nil {
			return nil, err
		}
		pids = append(pids, more...)
	}
	return pids, nil
}

// killTree sends SIGKILL to every process in dir and below, except the
// caller itself.
func killTree(dir string) error {
	pids, err := treeProcs(dir)
	if err != nil {
		return err
	}
	self := os.Getpid()
	for _, pid := range pids {
		if pid == self {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("kill %d in %s: %w", pid, dir, err)
		}
	}
	return nil
}

// removeTree removes dir and the cgroups below it, deepest first. A dir
// that is already gone is not an error.
func removeTree(dir string) error {
	subs, err := subdirs(dir)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if err := removeTree(sub); err != nil {
			return err
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// destroyTimeout bounds how long Destroy waits for killed processes to
// leave their cgroup (an OOM-killed task may take a moment to exit).
const destroyTimeout = 5 * time.Second

// destroy runs kill (which should signal every process left in the cgroups)
// and removes dirs, retrying while the kernel says a cgroup is still busy.
func destroy(dirs []string, kill func() error) error {
	// The usual case, a container whose init is gone: its cgroups are empty
	// and go with one rmdir each.
	empty := true
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			empty = false
		}
	}
	if empty {
		return nil
	}
	deadline := time.Now().Add(destroyTimeout)
	delay := time.Millisecond
	for {
		if err := kill(); err != nil {
			return err
		}
		var err error
		for _, d := range dirs {
			if err = removeTree(d); err != nil {
				break
			}
		}
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// waitFor polls cond until it is true or timeout passes.
func waitFor(timeout time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, err := cond()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// parseMountinfo maps each v1 controller (and named hierarchy option) to
// the mount point of its hierarchy, from /proc/self/mountinfo. A hierarchy
// mounted at its root wins over a bind mount of one of its sub-cgroups.
func parseMountinfo(r io.Reader) (map[string]string, error) {
	mounts := map[string]string{}
	roots := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(sf) < 3 || sf[0] != "cgroup" {
			continue
		}
		root, mnt := unescapeMount(pf[3]), unescapeMount(pf[4])
		for _, opt := range strings.Split(sf[2], ",") {
			if opt == "rw" || opt == "ro" {
				continue
			}
			if _, seen := mounts[opt]; seen && (roots[opt] == "/" || root != "/") {
				continue
			}
			mounts[opt], roots[opt] = mnt, root
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return mounts, nil
}

// UnescapeMount is unescapeMount, for the other readers of mountinfo.
func UnescapeMount(s string) string { return unescapeMount(s) }

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
