package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

// Pull policies of run.
const (
	pullMissing = "missing"
	pullAlways  = "always"
	pullNever   = "never"
)

// pullForRunFlag is pull's hidden flag for run (see pullForRun).
const pullForRunFlag = "for-run"

// ensureImage pulls the image run is given, as policy says, and returns the
// reference run should use. A rootfs directory is never pulled.
func ensureImage(openEngine func() (*engine.Engine, error), ref, policy string) (string, error) {
	switch policy {
	case pullMissing, pullAlways, pullNever:
	default:
		return "", fmt.Errorf("--pull %q: use missing, always or never", policy)
	}
	if ref == "" || policy == pullNever || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return ref, nil
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return ref, nil // a relative rootfs directory (run tells which)
	}
	e, err := openEngine()
	if err != nil {
		return "", err
	}
	if policy == pullMissing {
		s, err := e.Images()
		if err != nil {
			return "", err
		}
		if _, err := s.Get(ref); !errors.Is(err, image.ErrNotFound) {
			return ref, nil // there, or a reference run refuses itself
		}
	}
	return pullForRun(e.Root, ref, policy)
}

// pullForRun pulls ref with `sdocker pull`, in a process of its own: the
// registry client stays out of run's own start, and costs only when an
// image is pulled. Its progress and its error go to stderr; a failure is
// then an exit status 125 without another line.
func pullForRun(root, ref, policy string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, "--root", root, "pull", "--"+pullForRunFlag+"="+policy, ref)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	// If run is killed, the pull stops as on SIGINT (and is resumed later).
	// The death signal follows the thread that forks: it stays.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", &exitError{code: 125}
		}
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	return strings.TrimSpace(out.String()), nil
}
