package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// TestMountsStayInside checks that no mount made in a container — by
// sdocker (proc, sys, dev...) or by the user with CAP_SYS_ADMIN — shows in
// the host's mount table. To make this a real test on hosts whose / is
// private, the rootfs is reached through a bind mount made *shared*, as /
// is on systemd machines: a container that did not make its root private
// would propagate its mounts to it.
func TestMountsStayInside(t *testing.T) {
	e := newEnv(t)
	shared := filepath.Join(e.root, "shared-rootfs")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(rootfsDir, shared, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on %s: %v", rootfsDir, shared, err)
	}
	e.atEnd(func() {
		if err := unix.Unmount(shared, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", shared, err)
		}
	})
	if err := unix.Mount("", shared, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", shared, err)
	}
	// A mount point of the user's, in the rootfs itself.
	userDir := "/tmp/sdocker-it-mnt-" + randHex(4)
	if err := os.Mkdir(filepath.Join(rootfsDir, userDir), 0o755); err != nil {
		t.Fatal(err)
	}
	e.atEnd(func() { os.Remove(filepath.Join(rootfsDir, userDir)) })

	name := uniqueName(t, "mnt")
	script := `mount -t tmpfs none ` + userDir + ` && echo user-mounted
		if mount -t tmpfs none /mnt; then echo mnt-mounted; fi
		echo ready; exec sleep 1000`
	b := e.start("run", "--name", name, "--cap-add", "SYS_ADMIN", shared, "sh", "-c", script)
	b.waitOutput("ready\n", 30*time.Second)
	c := e.waitRunning(b, name)

	// The container's own table has them all.
	inside, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	for _, m := range parseMountinfo(string(inside)) {
		points = append(points, m.point)
	}
	for _, p := range []string{"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", userDir} {
		if !slices.Contains(points, p) {
			t.Errorf("no mount on %s inside the container (mounts: %q)", p, points)
		}
	}
	if !strings.Contains(b.stdout.String(), "user-mounted") {
		t.Errorf("mount -t tmpfs none %s with --cap-add SYS_ADMIN failed:\n%s", userDir, b)
	}
	// The issue's own command: the rootfs must have a /mnt to mount on.
	if !strings.Contains(b.stdout.String(), "mnt-mounted") {
		t.Errorf("`mount -t tmpfs none /mnt` with --cap-add SYS_ADMIN failed (no /mnt in the rootfs?):\n%s", b)
	}
	// The host's table has none of them.
	if m := testutil.MountsUnder(shared); len(m) != 1 {
		t.Errorf("container mounts propagated to the host: %q", m[1:])
	}
	if m := testutil.MountsUnder(rootfsDir); len(m) > 0 {
		t.Errorf("container mounts visible on the host: %q", m)
	}
	for _, m := range hostMounts() {
		if m.fstype == "mqueue" && strings.HasSuffix(m.point, "/dev/mqueue") && m.point != "/dev/mqueue" {
			t.Errorf("container mount visible on the host: %+v", m)
		}
	}
	if r := e.run("rm", "-f", name); r.code != 0 {
		t.Fatalf("rm -f: %s", r)
	}
	b.wait(timeout(30 * time.Second))
	assertNoCgroups(t, c.id)
}
