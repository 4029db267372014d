package hostrootfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// defaultLibDirs are searched after DT_RPATH, DT_RUNPATH and the ld.so.conf
// directories: glibc's trusted system directories on multiarch systems, plus
// the lib64 ones other distributions use.
var defaultLibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64",
	"/lib", "/usr/lib",
}

// elfInfo is what the resolver needs from one ELF file.
type elfInfo struct {
	class   elf.Class
	machine elf.Machine
	interp  string   // PT_INTERP, "" when none (static, or a library)
	needed  []string // DT_NEEDED
	rpath   []string // DT_RPATH, unexpanded; ignored when runpath is set
	runpath []string // DT_RUNPATH, unexpanded
}

// readELF reads the dynamic-linking facts of the ELF file at path.
func readELF(path string) (*elfInfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read elf %s: %w", path, err)
	}
	defer f.Close()
	info := &elfInfo{class: f.Class, machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return nil, fmt.Errorf("read elf %s: interpreter: %w", path, err)
		}
		info.interp = strings.TrimRight(string(b), "\x00")
	}
	dyn := func(tag elf.DynTag) ([]string, error) {
		v, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("read elf %s: %v: %w", path, tag, err)
		}
		return v, nil
	}
	if info.needed, err = dyn(elf.DT_NEEDED); err != nil {
		return nil, err
	}
	rpath, err := dyn(elf.DT_RPATH)
	if err != nil {
		return nil, err
	}
	runpath, err := dyn(elf.DT_RUNPATH)
	if err != nil {
		return nil, err
	}
	for _, s := range rpath {
		info.rpath = append(info.rpath, filepath.SplitList(s)...)
	}
	for _, s := range runpath {
		info.runpath = append(info.runpath, filepath.SplitList(s)...)
	}
	return info, nil
}

// resolver finds the shared libraries an ELF program needs, the way glibc's
// ld.so does, without running anything: DT_NEEDED resolved through DT_RPATH
// (of the object and the chain of objects that loaded it, when the object has
// no DT_RUNPATH), DT_RUNPATH (the object's own only), the ld.so.conf
// directories (standing in for ld.so.cache) and the default directories. A
// candidate counts only if it is an ELF file of the program's class and
// machine. LD_LIBRARY_PATH, glibc-hwcaps subdirectories and the $LIB and
// $PLATFORM tokens are not supported (a path using those tokens is skipped).
type resolver struct {
	confDirs    []string
	defaultDirs []string
	cache       map[string]*elfInfo // by path
}

func newResolver(confDirs, defaultDirs []string) *resolver {
	return &resolver{confDirs: confDirs, defaultDirs: defaultDirs, cache: map[string]*elfInfo{}}
}

// newHostResolver returns a resolver with the host's /etc/ld.so.conf.
func newHostResolver() (*resolver, error) {
	conf, err := parseLDSoConf("/etc/ld.so.conf")
	if err != nil {
		return nil, err
	}
	return newResolver(conf, defaultLibDirs), nil
}

func (r *resolver) info(path string) (*elfInfo, error) {
	if i, ok := r.cache[path]; ok {
		return i, nil
	}
	i, err := readELF(path)
	if err != nil {
		return nil, err
	}
	r.cache[path] = i
	return i, nil
}

// errNotELF tells a file that is not ELF at all from a broken ELF file.
var errNotELF = errors.New("not an elf file")

// isELF reports whether the file at path starts with the ELF magic.
func isELF(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return string(magic[:]) == elf.ELFMAG, nil
}

// closure returns the program interpreter of the ELF file at path ("" when it
// has none) and every shared library it needs, transitively, in the
// breadth-first order ld.so loads them. Library paths are the paths where they
// were found (possibly symlinks), as ld.so would open them. path itself may be
// a shared library.
func (r *resolver) closure(path string) (interp string, libs []string, err error) {
	exe, err := r.info(path)
	if err != nil {
		return "", nil, err
	}
	// ld.so computes the executable's $ORIGIN from its real path; a
	// library's from the path it was found at.
	origin := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		origin = real
	}
	type object struct {
		path, origin string
		info         *elfInfo
		rpathChain   []string // expanded DT_RPATH of this object and its loaders
	}
	root := object{path: path, origin: filepath.Dir(origin), info: exe}
	root.rpathChain = expandPaths(effectiveRpath(exe), root.origin)
	loaded := map[string]bool{} // needed names already satisfied
	queue := []object{root}
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		for _, name := range obj.info.needed {
			if loaded[name] {
				continue
			}
			lib, err := r.find(name, exe, obj.info, obj.origin, obj.rpathChain)
			if err != nil {
				return "", nil, fmt.Errorf("resolve libraries of %s: %s needed by %s: %w", path, name, obj.path, err)
			}
			loaded[name] = true
			li, err := r.info(lib)
			if err != nil {
				return "", nil, err
			}
			libs = append(libs, lib)
			o := object{path: lib, origin: filepath.Dir(lib), info: li}
			o.rpathChain = append(expandPaths(effectiveRpath(li), o.origin), obj.rpathChain...)
			queue = append(queue, o)
		}
	}
	return exe.interp, libs, nil
}

// effectiveRpath is DT_RPATH, which ld.so ignores when DT_RUNPATH is present.
func effectiveRpath(i *elfInfo) []string {
	if len(i.runpath) > 0 {
		return nil
	}
	return i.rpath
}

// find locates the library name needed by obj (whose directory is origin and
// whose loaders' DT_RPATHs are rpathChain) for the program exe.
func (r *resolver) find(name string, exe, obj *elfInfo, origin string, rpathChain []string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return "", fmt.Errorf("relative library path %q not supported", name)
		}
		if ok, err := r.matches(name, exe); err != nil || !ok {
			if err == nil {
				err = errNotELF
			}
			return "", err
		}
		return name, nil
	}
	var dirs []string
	if len(obj.runpath) == 0 {
		dirs = append(dirs, rpathChain...)
	}
	dirs = append(dirs, expandPaths(obj.runpath, origin)...)
	dirs = append(dirs, r.confDirs...)
	dirs = append(dirs, r.defaultDirs...)
	for _, d := range dirs {
		cand := filepath.Join(d, name)
		ok, err := r.matches(cand, exe)
		if err != nil {
			return "", err
		}
		if ok {
			return cand, nil
		}
	}
	return "", fmt.Errorf("not found in %s", strings.Join(dirs, ":"))
}

// matches reports whether cand exists and is an ELF file of exe's class and
// machine. A missing file, a directory or a non-ELF file does not match.
func (r *resolver) matches(cand string, exe *elfInfo) (bool, error) {
	fi, err := os.Stat(cand)
	if err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	if ok, err := isELF(cand); err != nil || !ok {
		return false, err
	}
	i, err := r.info(cand)
	if err != nil {
		return false, nil // a broken ELF file is skipped, as ld.so would
	}
	return i.class == exe.class && i.machine == exe.machine, nil
}

// expandPaths expands $ORIGIN in DT_RPATH/DT_RUNPATH entries and drops
// entries using tokens we cannot expand ($LIB, $PLATFORM) and empty ones.
func expandPaths(paths []string, origin string) []string {
	var out []string
	for _, p := range paths {
		p = strings.ReplaceAll(p, "${ORIGIN}", origin)
		p = strings.ReplaceAll(p, "$ORIGIN", origin)
		if p == "" || strings.Contains(p, "$") || !filepath.IsAbs(p) {
			continue
		}
		out = append(out, filepath.Clean(p))
	}
	return out
}

// hasBuiltinNSSFiles reports whether the glibc at libcPath has the "files"
// NSS module built in (glibc >= 2.34), so libnss_files.so.2 is not needed
// for /etc/passwd lookups.
func hasBuiltinNSSFiles(libcPath string) (bool, error) {
	f, err := elf.Open(libcPath)
	if err != nil {
		return false, fmt.Errorf("read elf %s: %w", libcPath, err)
	}
	defer f.Close()
	vers, err := f.DynamicVersions()
	if err != nil {
		return false, fmt.Errorf("read elf %s: versions: %w", libcPath, err)
	}
	for _, v := range vers {
		if v.Name == "GLIBC_2.34" {
			return true, nil
		}
	}
	return false, nil
}
