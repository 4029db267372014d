package hostrootfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// WorkloadNames are the static workload programs sdocker's rootfs carries
// (built from ./cmd/cpu-test and ./cmd/memory-test).
var WorkloadNames = []string{"cpu-test", "memory-test"}

// FindWorkloads finds the workload binaries (WorkloadNames) next to the
// running executable, else in PATH, and returns name -> path. A workload
// found but not static is an error, as is a missing one; the error says how
// to build them.
func FindWorkloads() (map[string]string, error) {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	found := map[string]string{}
	var missing []string
	for _, name := range WorkloadNames {
		path := ""
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				path = p
				break
			}
		}
		if path == "" {
			if p, err := exec.LookPath(name); err == nil {
				path = p
			}
		}
		if path == "" {
			missing = append(missing, name)
			continue
		}
		if err := checkStatic(path); err != nil {
			return nil, fmt.Errorf("find workload %s: %w (rebuild it with CGO_ENABLED=0)", name, err)
		}
		found[name] = path
	}
	if len(missing) > 0 {
		where := "PATH"
		if len(dirs) > 0 {
			where = dirs[0] + " or in PATH"
		}
		return nil, fmt.Errorf("find workloads: %s not found in %s; build them with `make` or "+
			"`CGO_ENABLED=0 go build -o bin/ ./cmd/cpu-test ./cmd/memory-test` next to sdocker",
			strings.Join(missing, ", "), where)
	}
	return found, nil
}

// checkStatic makes sure path is a statically linked ELF executable: no
// program interpreter and no shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check static binary %s: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("check static binary %s: not an executable (%v)", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("check static binary %s: %w", path, errDynamic)
		}
	}
	if needed, _ := f.DynString(elf.DT_NEEDED); len(needed) > 0 {
		return fmt.Errorf("check static binary %s: %w", path, errDynamic)
	}
	return nil
}

var errDynamic = errors.New("dynamically linked, want a static binary")
