package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestShimContractExecDetach plays what conmon and containerd's runc shim
// do for an exec, without them, so the contract is checked every time, not
// by chance: the caller is a subreaper, runs `RUNTIME exec --detach
// --pid-file F ID CMD`, reads the pid and collects the exit status of that
// pid itself (wait4). The runtime must leave the process to its caller:
// reaping it (a Go runtime that cmd.Wait()s its child before exiting) loses
// the status, and the client waits forever (ctr) or reports 255 (podman).
func TestShimContractExecDetach(t *testing.T) {
	requireRoot(t)
	traceRuntime(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "state")
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBundleConfig(t, bundle, []string{"sleep", "1000"})
	id := uniqueID("contract")
	rt := func(args ...string) *result {
		return runCmd(timeout(time.Minute), nil, wrapperPath, append([]string{"--root", root}, args...)...)
	}
	if r := rt("create", "--bundle", bundle, id); !r.ok() {
		t.Fatalf("%s", r)
	}
	t.Cleanup(func() {
		rt("kill", id, "KILL")
		if r := rt("delete", "--force", id); !r.ok() {
			t.Errorf("cleanup: %s", r)
		}
		if left := stateLeft(root); len(left) > 0 {
			t.Errorf("runtime state left: %q", left)
		}
	})
	if r := rt("start", id); !r.ok() {
		t.Fatalf("%s", r)
	}

	const rounds = 30
	lost := 0
	for i := 0; i < rounds; i++ {
		lost += execDetachRound(t, rt, dir, id, i)
		if t.Failed() {
			return
		}
	}
	if lost > 0 {
		t.Errorf("exec --detach: in %d of %d rounds the exit status never reached the caller "+
			"(the runtime reaped its child instead of leaving it to the subreaper)", lost, rounds)
	}
}

// execDetachRound runs one detached exec and collects its exit; it returns
// 1 when the caller could not (the runtime had reaped it).
func execDetachRound(t *testing.T, rt func(...string) *result, dir, id string, i int) int {
	// Our reaper must not take the orphan while we look for it.
	reapPause.Lock()
	defer reapPause.Unlock()
	pidFile := filepath.Join(dir, fmt.Sprintf("exec%d.pid", i))
	r := rt("exec", "--detach", "--pid-file", pidFile, id, "sh", "-c", "exit 3")
	if !r.ok() {
		t.Fatalf("round %d: %s", i, r)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("round %d: pid file: %v", i, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("round %d: pid file holds %q", i, b)
	}
	deadline := time.Now().Add(timeout(30 * time.Second))
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD:
			t.Logf("round %d: pid %d (from --pid-file) is not our child any more: reaped by the runtime", i, pid)
			return 1
		case err != nil:
			t.Fatalf("round %d: wait4(%d): %v", i, pid, err)
		case got == pid:
			if !ws.Exited() || ws.ExitStatus() != 3 {
				t.Errorf("round %d: exec'd process ended with %v, want exit 3", i, ws)
			}
			return 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("round %d: exec'd process %d still running after %s", i, pid, timeout(30*time.Second))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeBundleConfig writes a config.json for rootfsDir (read-only, shared
// by the tests) running args, from the runtime's own `spec` (a template
// every runc-compatible runtime prints).
func writeBundleConfig(t *testing.T, bundle string, args []string) {
	t.Helper()
	tmp := t.TempDir()
	r := runCmd(timeout(time.Minute), nil, runtimeBin, "spec", "--bundle", tmp)
	if !r.ok() {
		t.Fatalf("%s", r)
	}
	b, err := os.ReadFile(filepath.Join(tmp, "config.json"))
	if err != nil {
		t.Fatalf("%s spec: %v", runtimeBin, err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s spec: %v", runtimeBin, err)
	}
	proc, _ := spec["process"].(map[string]any)
	if proc == nil {
		t.Fatalf("%s spec: no process", runtimeBin)
	}
	proc["terminal"] = false
	proc["args"] = args
	proc["env"] = []string{"PATH=/bin"}
	spec["root"] = map[string]any{"path": rootfsDir, "readonly": true}
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}
