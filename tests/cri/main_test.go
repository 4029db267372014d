// Package cri runs Kubernetes pods on sdocker-runc the way a kubelet does:
// through containerd's CRI plugin, driven by crictl (cri-tools, pinned in
// tools/cri/go.mod). The suite makes the node side of a cluster of its own:
//
//   - containerd (Debian's 1.6) from a config file of the suite, on its own
//     socket, root and state dir, never the system's containerd;
//   - two runtime handlers, "sdocker" (the runc v2 shim running the
//     sdocker-runc of this module) and "runc", for comparison;
//   - pod networking through Debian's CNI plugins (bridge, host-local,
//     loopback) on a subnet and a bridge of the suite's own;
//   - a sandbox ("pause") image built from ./pause and a busybox image,
//     both written as image tars here and imported with ctr: nothing is
//     fetched from a registry.
//
// Everything it made (containerd and its shims, mounts, cgroups, the bridge,
// the pods' network namespaces, the temp dir) is removed at the end, also
// when a test failed.
//
// Environment:
//
//	SDOCKER_RUNC   a prebuilt sdocker-runc (else it is built from this module)
//	CRI_SLOW       multiply every timeout by this (default 1)
package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

const (
	// subnet, bridgeName: the pods' network, made by the CNI bridge plugin.
	subnet     = "10.99.0.0/24"
	bridgeName = "sdcri0"
	// cniBinDir holds Debian's containernetworking-plugins.
	cniBinDir = "/usr/lib/cni"
	// Images the suite imports into containerd's k8s.io namespace.
	pauseImage   = "localhost/sdcri-pause:test"
	busyboxImage = "localhost/sdcri-busybox:test"
	// webImage serves a page on port 80 with busybox's httpd, saying
	// "httpd" in its log first (critest's httpd and nginx).
	webImage = "localhost/sdcri-web:test"
)

const webServer = `echo httpd; mkdir -p /tmp/www && echo '<html>It works!</html>' > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`

var (
	// skipAll is why no test can run here ("" when they can).
	skipAll string
	// slow scales every timeout.
	slow = 1.0
	// node is the suite's containerd with its CRI plugin.
	node *criNode
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) (code int) {
	if skipAll = testutil.RootSkipReason("CRI tests need root (containerd, CNI, cgroups)"); skipAll != "" {
		return m.Run()
	}
	if skipAll = missingTools(); skipAll != "" {
		fmt.Fprintln(os.Stderr, "SKIP: "+skipAll)
		return m.Run()
	}
	var err error
	if slow, err = testutil.SlowFactor("CRI_SLOW", slow); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// The shims daemonize: their orphans become ours (this machine's PID 1
	// never reaps) and are reaped between our own commands.
	if err := testutil.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	stopReaper := testutil.Every(200*time.Millisecond, reapOrphans)
	defer func() {
		stopReaper()
		reapOrphans()
	}()

	node, err = newNode()
	if node != nil {
		defer func() {
			if err := node.teardown(); err != nil {
				fmt.Fprintf(os.Stderr, "cri: teardown: %v\n", err)
				code = failCode(code)
			}
		}()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri: setup: %v\n", err)
		return 2
	}
	return m.Run()
}

func failCode(code int) int {
	if code == 0 {
		return 1
	}
	return code
}

// missingTools says which program the suite cannot do without, or "".
func missingTools() string {
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("%s not installed (apt-get install containerd runc iproute2): CRI tests skipped", bin)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			return fmt.Sprintf("CNI plugin %s/%s missing (apt-get install containernetworking-plugins): CRI tests skipped", cniBinDir, p)
		}
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		return "busybox not installed (apt-get install busybox-static): no test image, CRI tests skipped"
	}
	return ""
}

// requireNode skips t when the suite cannot run here.
func requireNode(t *testing.T) *criNode {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	return node
}

// timeout scales d for slow machines.
func timeout(d time.Duration) time.Duration { return time.Duration(float64(d) * slow) }

// --- commands and orphans ---------------------------------------------------

// cmdMu: our commands run under its read lock, the reaper under its write
// lock, so it never takes the status an exec.Cmd of ours waits for.
var cmdMu sync.RWMutex

// daemonPid is containerd's pid, which its exec.Cmd waits for.
var daemonPid int

// reapOrphans reaps the zombies that are our children but no exec.Cmd of
// ours waits for: the shims, re-parented to this subreaper.
func reapOrphans() {
	cmdMu.Lock()
	defer cmdMu.Unlock()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	me := os.Getpid()
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == daemonPid {
			continue
		}
		if st, ok := testutil.ReadProcStat(pid); ok && st.PPid == me && st.State == 'Z' {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// result is what a command did.
type result struct {
	cmdline        string
	stdout, stderr string
	err            error // nil when it exited 0 in time
}

func (r *result) String() string {
	return fmt.Sprintf("%s: %v\nstdout: %s\nstderr: %s", r.cmdline, r.err,
		strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// run runs name args for at most d (then kills it).
func run(d time.Duration, name string, args ...string) *result {
	r := &result{cmdline: name + " " + strings.Join(args, " ")}
	var out, errb strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second
	cmdMu.RLock()
	defer cmdMu.RUnlock()
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	timer := time.AfterFunc(d, func() { _ = cmd.Process.Kill() })
	r.err = cmd.Wait()
	if !timer.Stop() {
		r.err = fmt.Errorf("timed out after %v: %w", d, r.err)
	}
	r.stdout, r.stderr = out.String(), errb.String()
	return r
}

// waitFor polls cond every 100ms until it is true or d passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
