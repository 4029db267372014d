package rootcopy

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Options are cp's: Follow a last symlink of the source (-L), keep the
// owners of the archive (-a).
type Options struct {
	Follow, Archive bool
}

// Copy copies src of from to dst of to, as `docker cp` does:
//   - a file onto a missing dst is created as dst (dst must not end with
//     "/"), onto a file overwrites it, into a directory keeps its name;
//   - a directory onto a missing dst is created as dst, into a directory
//     keeps its name; with src ending in "/." its content is copied instead;
//     onto a file it is refused.
//
// The parent of a missing dst must exist (ErrNotFound names it).
func Copy(from *Root, src string, to *Root, dst string, o Options) error {
	exists, srcDir, err := from.Stat(src, o.Follow || ContentOnly(src))
	if err != nil {
		return err
	}
	if !exists {
		return from.pathErr(src, errNoEnt)
	}
	if ContentOnly(src) && !srcDir {
		return fmt.Errorf("%s in %s: not a directory", src, from.Name)
	}
	dir, rn, err := Plan(to, TopName(src), srcDir, dst)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := from.WriteArchive(pw, src, o.Follow)
		pw.CloseWithError(err)
		done <- err
	}()
	err = to.Extract(pr, dir, rn, o.Archive)
	pr.CloseWithError(errors.New("extraction ended"))
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	return err
}

// Plan says where an archive of a source named top (a directory if
// srcDir) is extracted in to so that it lands at dst (see Copy).
func Plan(to *Root, top string, srcDir bool, dst string) (dir string, rn Rename, err error) {
	exists, dstDir, err := to.Stat(dst, true)
	if err != nil {
		return "", rn, err
	}
	clean := path.Clean("/" + dst)
	switch {
	case exists && dstDir:
		return clean, Rename{From: top, To: top}, nil
	case exists && srcDir:
		return "", rn, fmt.Errorf("cannot copy a directory to a file: %s in %s", dst, to.Name)
	case exists:
		return path.Dir(clean), Rename{From: top, To: path.Base(clean)}, nil
	case strings.HasSuffix(dst, "/") && !srcDir:
		return "", rn, fmt.Errorf("%w %s in %s: the destination directory must exist", ErrNotFound, dst, to.Name)
	}
	parent := path.Dir(clean)
	pExists, pDir, err := to.Stat(parent, true)
	if err == nil && (!pExists || !pDir) {
		err = fmt.Errorf("%w %s in %s: the destination's parent directory must exist", ErrNotFound, parent, to.Name)
	}
	if err != nil {
		return "", rn, err
	}
	return parent, Rename{From: top, To: path.Base(clean)}, nil
}

// ExtractInto extracts a tar stream into dst of to, which must be a
// directory (cp - CONTAINER:DST).
func ExtractInto(rd io.Reader, to *Root, dst string, archive bool) error {
	exists, dir, err := to.Stat(dst, true)
	if err == nil && !exists {
		err = fmt.Errorf("%w %s in %s", ErrNotFound, dst, to.Name)
	}
	if err == nil && !dir {
		err = fmt.Errorf("%s in %s: the destination of an archive must be a directory", dst, to.Name)
	}
	if err != nil {
		return err
	}
	return to.Extract(rd, dst, Rename{}, archive)
}
