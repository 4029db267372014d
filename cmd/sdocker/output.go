package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sdocker/sdocker/internal/engine"
)

// writeArchive writes an archive to path through write, atomically (a
// failure leaves no file), or to stdout if path is "" and stdout is not a
// terminal.
func writeArchive(verb, path string, write func(io.Writer) error) error {
	if path == "" {
		if engine.IsTerminal(os.Stdout) {
			return fmt.Errorf("%s: refusing to write an archive to a terminal: give -o FILE or redirect stdout", verb)
		}
		return write(os.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone already once renamed
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, path, err)
	}
	return nil
}
