package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

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

// pullForRun pulls ref with the registry client (sdocker-registry pull):
// its progress and its error go to stderr; a failure is then an exit
// status 125 without another line.
func pullForRun(root, ref, policy string) (string, error) {
	var out bytes.Buffer
	code, err := runRegistryClient([]string{"--root", root, "pull", "--" + pullForRunFlag + "=" + policy, ref}, &out)
	if err != nil && policy == pullMissing {
		return "", fmt.Errorf("%w %q here, and pulling it failed: %w", image.ErrNotFound, ref, err)
	}
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", &exitError{code: 125}
	}
	return strings.TrimSpace(out.String()), nil
}
