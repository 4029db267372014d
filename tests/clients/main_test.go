// Package clients drives the OCI runtime with the real clients people run
// in front of runc: podman (--runtime) and containerd (ctr, the runc v2 shim
// with --runc-binary). Every client is isolated in temp dirs of its own
// (storage, state, config, socket) and every runtime call goes through a
// small wrapper script that logs its argv before it execs the runtime, so a
// failing test shows exactly what the client asked for.
//
// The tests need root, podman (+ conmon) and containerd (+ ctr); what is
// missing is skipped with a message, and the skips are summed up at the end.
//
// Environment:
//
//	CLIENT_RUNTIME  the runtime under test: sdocker-runc (default), runc, or a path
//	SDOCKER_RUNC    a prebuilt sdocker-runc (else it is built from this module)
//	CLIENTS_SLOW    multiply every timeout by this (default $SDOCKER_TEST_SLOW, else 1)
package clients

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdocker/sdocker/tests/testutil"
)

var (
	// skipAll is set when no test can run here.
	skipAll string
	// workDir holds everything the suite makes.
	workDir string
	// runtimeName is what the clients believe they run: "sdocker-runc" or "runc".
	runtimeName string
	// runtimeBin is the real runtime binary the wrapper execs.
	runtimeBin string
	// wrapperPath is the logging wrapper the clients are pointed at; it is
	// named runtimeName so podman's runtime_supports_json matches it.
	wrapperPath string
	// argvLog is where the wrapper appends one line per runtime call.
	argvLog string
	// stateRoot is the --root the wrapper adds when a client passes none.
	stateRoot string
	// rootfsDir is a busybox rootfs: /bin/busybox and its applet links.
	rootfsDir string
	// rootfsTar is rootfsDir as a plain tar (for podman import).
	rootfsTar string
	skipMu    sync.Mutex
	skipped   []string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) (code int) {
	if skipAll = testutil.RootSkipReason("client tests need root (podman and containerd as root drive the runtime)"); skipAll != "" {
		return m.Run()
	}
	// CLIENTS_SLOW, else the other suites' SDOCKER_TEST_SLOW.
	slow, err := testutil.SlowFactor("SDOCKER_TEST_SLOW", 1)
	if err == nil {
		err = testutil.SetSlowFactor("CLIENTS_SLOW", slow)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// conmon and the containerd shims daemonize: make their orphans ours
	// (this machine's PID 1 never reaps) and reap the ones we did not start.
	if err := testutil.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	stopReaper := startReaper()
	defer func() {
		stopReaper()
		reapOrphans()
	}()

	workDir, err = os.MkdirTemp("", "sdocker-clients-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := os.Chmod(workDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer func() {
		if left := testutil.MountsUnder(workDir); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "clients: mounts left under %s (unmounting): %q\n", workDir, left)
			testutil.UnmountAll(workDir)
			code = failCode(code)
		}
		if left := testutil.MountsUnder(workDir); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "clients: cannot unmount %q: %s kept\n", left, workDir)
			return
		}
		os.RemoveAll(workDir)
	}()

	if err := setup(); err != nil {
		if sk := skipError(""); errors.As(err, &sk) {
			skipAll = string(sk)
			fmt.Fprintln(os.Stderr, "SKIP: "+skipAll)
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "clients: setup: %v\n", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "clients: runtime %s (%s) via wrapper %s; runtime calls logged to %s\n",
		runtimeName, runtimeBin, wrapperPath, argvLog)

	code = m.Run()

	// Tear the clients down (only what we started) and look for leftovers.
	for _, f := range teardowns {
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "clients: teardown: %v\n", err)
			code = failCode(code)
		}
	}
	if left := stateLeft(stateRoot); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "clients: runtime state left in %s: %q\n", stateRoot, left)
		code = failCode(code)
	}
	skipMu.Lock()
	if len(skipped) > 0 {
		sort.Strings(skipped)
		fmt.Fprintf(os.Stderr, "clients: SKIPPED with runtime %s:\n", runtimeName)
		for _, s := range skipped {
			fmt.Fprintf(os.Stderr, "  - %s\n", s)
		}
	}
	skipMu.Unlock()
	return code
}

func failCode(code int) int {
	if code == 0 {
		return 1
	}
	return code
}

// teardowns run after every test, in order (stop the clients' daemons).
var teardowns []func() error

type skipError string

func (s skipError) Error() string { return string(s) }

func setup() error {
	switch rt := os.Getenv("CLIENT_RUNTIME"); rt {
	case "", "sdocker-runc":
		runtimeName = "sdocker-runc"
		runtimeBin = os.Getenv("SDOCKER_RUNC")
		if runtimeBin == "" {
			runtimeBin = filepath.Join(workDir, "bin", "sdocker-runc")
			if err := buildRuntime(runtimeBin); err != nil {
				return err
			}
		}
	default:
		p, err := exec.LookPath(rt)
		if err != nil {
			return skipError(fmt.Sprintf("CLIENT_RUNTIME=%s: %v", rt, err))
		}
		runtimeBin = p
		runtimeName = filepath.Base(p)
		if runtimeName != "runc" && runtimeName != "crun" {
			runtimeName = "runc" // clients treat an unknown name as runc
		}
	}
	var err error
	if runtimeBin, err = filepath.Abs(runtimeBin); err != nil {
		return err
	}
	if _, err := os.Stat(runtimeBin); err != nil {
		return fmt.Errorf("runtime binary: %w", err)
	}

	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return skipError("busybox not installed (apt-get install busybox-static): no image to run")
	}
	if err := testutil.CheckStatic(busybox); err != nil {
		return skipError(fmt.Sprintf("%s is not static (apt-get install busybox-static): %v", busybox, err))
	}
	rootfsDir = filepath.Join(workDir, "rootfs")
	if err := testutil.MakeBusyboxRootfs(busybox, rootfsDir, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}); err != nil {
		return err
	}
	rootfsTar = filepath.Join(workDir, "rootfs.tar")
	if err := writeRootfsTar(rootfsDir, rootfsTar); err != nil {
		return err
	}

	stateRoot = filepath.Join(workDir, "runtime-state")
	argvLog = filepath.Join(workDir, "runtime-argv.log")
	wrapperPath = filepath.Join(workDir, "wrapper", runtimeName)
	return writeWrapper(wrapperPath, runtimeBin, argvLog, stateRoot)
}

// buildRuntime builds a static sdocker-runc from this module.
func buildRuntime(out string) error {
	return testutil.BuildBinaries(filepath.Dir(out), "./cmd/sdocker-runc")
}

// writeWrapper writes the runtime wrapper: it logs "pid time argv" to log,
// adds --root state when the client gave none (podman never passes one, and
// its cleanup process would lose a --runtime-flag), then execs the runtime.
func writeWrapper(path, runtime, log, state string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	script := fmt.Sprintf(`#!/bin/sh
# Logs each call of the OCI runtime by a client, then runs the real one.
printf '%%s %%s %%s\n' "$$" "$(date +%%T.%%N)" "$*" >> %[1]s
case " $* " in
*" --root "*|*" --root="*) ;;
*) set -- --root %[2]s "$@" ;;
esac
exec %[3]s "$@"
`, shQuote(log), shQuote(state), shQuote(runtime))
	return os.WriteFile(path, []byte(script), 0o755)
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// stateLeft lists what is left in a runtime state root.
func stateLeft(root string) []string {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// requireRoot skips t when the suite cannot run at all.
func requireRoot(t *testing.T) {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
}

// lazyClient is a client of the suite (containerd, podman), set up on the
// first test that needs it.
type lazyClient[T any] struct {
	once sync.Once
	inst T
	err  error
	skip string // why the client cannot run here
}

// get returns the client, set up on first use: missing returns why it
// cannot run here ("" when it can), setup makes it. It skips t when the
// suite or the client cannot run, fails it when the setup failed, and
// traces the runtime calls made during t.
func (l *lazyClient[T]) get(t *testing.T, name string, missing func() string, setup func() (T, error)) T {
	t.Helper()
	requireRoot(t)
	l.once.Do(func() {
		if l.skip = missing(); l.skip == "" {
			l.inst, l.err = setup()
		}
	})
	if l.skip != "" {
		skip(t, l.skip)
	}
	if l.err != nil {
		t.Fatalf("%s setup: %v", name, l.err)
	}
	traceRuntime(t)
	return l.inst
}

// skip skips t and remembers why, for the summary at the end.
func skip(t *testing.T, why string) {
	t.Helper()
	skipMu.Lock()
	skipped = append(skipped, t.Name()+": "+why)
	skipMu.Unlock()
	t.Skip(why)
}

// timeout scales d for slow machines (testutil.Timeout).
func timeout(d time.Duration) time.Duration { return testutil.Timeout(d) }

// runtimeCalls returns the runtime calls logged since offset.
func runtimeCalls(offset int64) string {
	f, err := os.Open(argvLog)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return ""
	}
	b := new(strings.Builder)
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// logOffset is the current size of the argv log.
func logOffset() int64 {
	st, err := os.Stat(argvLog)
	if err != nil {
		return 0
	}
	return st.Size()
}

// traceRuntime logs, when t fails, every runtime call the clients made
// during t.
func traceRuntime(t *testing.T) {
	t.Helper()
	off := logOffset()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runtime calls during %s (pid time argv):\n%s", t.Name(), runtimeCalls(off))
		}
	})
}
