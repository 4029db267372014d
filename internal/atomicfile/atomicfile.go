// Package atomicfile replaces files whole: readers see the old content or
// the new, never a part, and a writer killed half-way, or stopped by a
// full disk, leaves the old file.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Write writes data to a temporary file beside path and renames it over
// path. With sync the data reaches the disk before the rename (files that
// must survive a crash; not the state under /run). An error names path,
// the file being written, whatever step failed (e.g. "write PATH: no space
// left on device"); the temporary file is then removed.
func Write(path string, data []byte, perm os.FileMode, sync bool) error {
	// One temporary name per process: writers of one file are serialised
	// by their callers' locks, and a name of a killed writer is reused.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+strconv.Itoa(os.Getpid()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, step(err, "write"))
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		err = fmt.Errorf("write %s: %w", path, step(err, "write"))
		if rerr := os.Remove(tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// step drops the temporary file's name from err, which the caller replaces
// with the final path; a step other than plain (e.g. rename, sync) stays
// named.
func step(err error, plain string) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe) && (pe.Op == plain || pe.Op == "open"):
		return pe.Err
	case pe != nil:
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	case errors.As(err, &le):
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}
