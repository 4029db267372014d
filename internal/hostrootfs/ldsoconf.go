package hostrootfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// parseLDSoConf returns the library directories listed in an ld.so.conf
// file, in order, following "include" lines (glob patterns, relative ones
// taken from the including file's directory) the way ldconfig does. A
// missing top-level file gives no directories and no error; "hwcap" lines
// and comments are ignored; duplicates are dropped.
func parseLDSoConf(path string) ([]string, error) {
	p := &ldConfParser{seen: map[string]bool{}, files: map[string]bool{}}
	if err := p.parse(path, 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) && !p.opened {
			return nil, nil
		}
		return nil, err
	}
	return p.dirs, nil
}

type ldConfParser struct {
	dirs   []string
	seen   map[string]bool // directories already listed
	files  map[string]bool // files already read (include loops)
	opened bool            // the top-level file was opened
}

func (p *ldConfParser) parse(path string, depth int) error {
	if depth > 16 {
		return fmt.Errorf("parse %s: includes nested too deeply", path)
	}
	if p.files[path] {
		return nil
	}
	p.files[path] = true
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("parse ld.so.conf: %w", err)
	}
	defer f.Close()
	p.opened = true
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "include":
			for _, pat := range fields[1:] {
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(filepath.Dir(path), pat)
				}
				matches, err := filepath.Glob(pat)
				if err != nil {
					return fmt.Errorf("parse %s: include %s: %w", path, pat, err)
				}
				for _, m := range matches { // Glob sorts, as ldconfig does
					if err := p.parse(m, depth+1); err != nil {
						return err
					}
				}
			}
		case "hwcap":
			// Obsolete; ignored by modern ldconfig too.
		default:
			// Old format allowed "dir", "dir=TYPE", and several dirs per line
			// separated by commas, colons or blanks.
			for _, d := range strings.FieldsFunc(line, func(r rune) bool {
				return r == ',' || r == ':' || r == ' ' || r == '\t'
			}) {
				if i := strings.IndexByte(d, '='); i >= 0 {
					d = d[:i]
				}
				d = filepath.Clean(d)
				if !filepath.IsAbs(d) || p.seen[d] {
					continue
				}
				p.seen[d] = true
				p.dirs = append(p.dirs, d)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}
