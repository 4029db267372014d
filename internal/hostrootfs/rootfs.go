// Package hostrootfs builds a small container root filesystem out of the host's
// own programs: a shell, coreutils-style tools, ps/top, their shared
// libraries (found by reading ELF files, as ld.so would), terminfo entries,
// a minimal /etc, and sdocker's two static workloads cpu-test and
// memory-test.
//
// Host files keep their host paths in the tree, and symlinks met on the way
// are recreated as they are on the host (on a usrmerge system /bin, /sbin,
// /lib and /lib64 are symlinks into /usr, /bin/sh is a symlink to dash, and
// so on), so every name a program or ld.so uses works the same inside.
package hostrootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MarkerFile is the file, relative to the rootfs, that Build writes last
// and IsBuilt looks for.
const MarkerFile = ".sdocker-rootfs"

// Options tune Build.
type Options struct {
	// Workloads maps a program name to the host path of a static binary,
	// installed as /usr/bin/<name>. A binary that is not a static ELF
	// executable is refused. nil means the result of FindWorkloads(); an
	// empty, non-nil map installs no workload.
	Workloads map[string]string

	// ExtraPrograms are more host programs to install with everything they
	// need: absolute paths, or names looked up in the system PATH. A
	// missing one is an error.
	ExtraPrograms []string
}

// requiredPrograms must exist on the host; Build fails without them.
var requiredPrograms = []string{
	"bash", "sh", "ls", "ps", "top", "cat", "echo", "sleep", "hostname", "id", "mount", "env",
}

// optionalPrograms are installed when the host has them.
var optionalPrograms = []string{
	"umount", "true", "false", "grep", "head", "tail", "wc", "mkdir", "rm", "rmdir", "cp", "mv",
	"touch", "ln", "chmod", "stat", "df", "free", "kill", "uname", "whoami", "date", "pwd",
	"readlink", "dd", "yes", "uptime", "which", "test", "[", "seq", "sort", "tr", "printf",
	"basename", "dirname", "pgrep", "pkill", "sed", "nproc", "clear", "nologin",
}

// terminfoNames are the terminal descriptions installed for top and bash.
var terminfoNames = []string{
	"xterm", "xterm-256color", "vt100", "vt220", "linux", "screen", "screen-256color", "tmux", "dumb",
}

// terminfoDirs are where ncurses looks for terminfo, in its order.
var terminfoDirs = []string{"/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo"}

// topLevelLinks are recreated as on the host when they are symlinks there
// (usrmerge), so that paths through them work.
var topLevelLinks = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// systemPath is where programs are looked up: the PATH a container gets by
// default, so every program installed is also found by name inside. The
// caller's own PATH is not used: it may hold tools under home directories
// that do not belong in a rootfs.
var systemPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Empty directories and their modes.
var emptyDirs = []struct {
	path string
	mode fs.FileMode
}{
	{"/proc", 0o555}, {"/sys", 0o555}, {"/dev", 0o755}, {"/run", 0o755},
	{"/home", 0o755}, {"/root", 0o700}, {"/mnt", 0o755},
	{"/tmp", 0o777 | fs.ModeSticky}, {"/var/tmp", 0o777 | fs.ModeSticky},
}

// Files written into /etc and /root.
var configFiles = []struct {
	path string
	mode fs.FileMode
	data string
}{
	{"/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"/etc/group", 0o644, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"},
	{"/etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	{"/etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nshadow: files\nhosts: files\n" +
		"networks: files\nprotocols: files\nservices: files\n"},
	{"/root/.bashrc", 0o644, `export PS1="\h:\w $ "` + "\n"},
}

// Build builds, or brings up to date in place, a root filesystem in dir
// from the host's programs (see the package documentation). Running it again
// gives the same tree; files that are already up to date are not rewritten,
// others are replaced atomically. Files a previous build installed and this
// one would not are left alone. dir is created if missing; "" and "/" are
// refused.
func Build(dir string, opts Options) error {
	if dir == "" {
		return errors.New("build rootfs: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("build rootfs %s: %w", dir, err)
	}
	if abs == "/" {
		return fmt.Errorf("build rootfs %s: refusing to build into /", dir)
	}

	workloads := opts.Workloads
	if workloads == nil {
		if workloads, err = FindWorkloads(); err != nil {
			return fmt.Errorf("build rootfs %s: %w", dir, err)
		}
	}
	// Check the inputs before writing anything.
	for name, path := range workloads {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return fmt.Errorf("build rootfs %s: invalid workload name %q", dir, name)
		}
		if err := checkStatic(path); err != nil {
			return fmt.Errorf("build rootfs %s: workload %s: %w", dir, name, err)
		}
	}
	var programs []string
	for _, name := range requiredPrograms {
		p, err := lookProgram(name)
		if err != nil {
			return fmt.Errorf("build rootfs %s: required program: %w", dir, err)
		}
		programs = append(programs, p)
	}
	for _, name := range optionalPrograms {
		if p, err := lookProgram(name); err == nil {
			programs = append(programs, p)
		}
	}
	for _, name := range opts.ExtraPrograms {
		p, err := lookProgram(name)
		if err != nil {
			return fmt.Errorf("build rootfs %s: extra program: %w", dir, err)
		}
		programs = append(programs, p)
	}

	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("build rootfs: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err != nil {
		return fmt.Errorf("build rootfs: %w", err)
	} else if real == "/" {
		return fmt.Errorf("build rootfs %s: refusing to build into /", dir)
	}
	res, err := newHostResolver()
	if err != nil {
		return fmt.Errorf("build rootfs %s: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return fmt.Errorf("build rootfs: %w", err)
	}
	defer root.Close()
	b := &builder{
		installer: installer{root: root, dir: abs, done: map[string]bool{}},
		res:       res,
		elfDone:   map[string]bool{},
	}
	if err := b.build(programs, workloads); err != nil {
		return fmt.Errorf("build rootfs %s: %w", dir, err)
	}
	return nil
}

type builder struct {
	installer
	res     *resolver
	elfDone map[string]bool // ELF files whose libraries are installed
	libcs   []string        // C libraries installed (host paths)
}

func (b *builder) build(programs []string, workloads map[string]string) error {
	for _, p := range topLevelLinks {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if _, err := b.mirror(p); err != nil {
				return err
			}
		}
	}
	for _, p := range programs {
		if err := b.program(p, 0); err != nil {
			return err
		}
	}
	if err := b.nss(); err != nil {
		return err
	}
	// ld.so looks in its cache before the default directories; the host's
	// cache names host paths, which are the same paths here.
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		if _, err := b.mirror("/etc/ld.so.cache"); err != nil {
			return err
		}
	}
	for _, name := range terminfoNames {
		for _, d := range terminfoDirs {
			for _, sub := range []string{name[:1], fmt.Sprintf("%02x", name[0])} {
				p := filepath.Join(d, sub, name)
				if _, err := os.Stat(p); err != nil {
					continue
				}
				if _, err := b.mirror(p); err != nil {
					return err
				}
			}
		}
	}
	names := make([]string, 0, len(workloads))
	for name := range workloads {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		src := workloads[name]
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("install workload %s: %w", name, err)
		}
		if _, err := b.mirror("/usr/bin"); err != nil {
			return err
		}
		if err := b.copyFile(src, "/usr/bin/"+name, fi); err != nil {
			return err
		}
	}
	for _, d := range emptyDirs {
		if err := b.mkdir(d.path, d.mode, true); err != nil {
			return err
		}
	}
	for _, f := range configFiles {
		if err := b.writeFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return b.writeFile("/"+MarkerFile, []byte("sdocker rootfs\n"), 0o644)
}

// program installs the host program p with what it needs to run: for an
// ELF file its interpreter and libraries, for a script its interpreter.
func (b *builder) program(p string, depth int) error {
	real, err := b.mirror(p)
	if err != nil {
		return err
	}
	elfFile, err := isELF(real)
	if err != nil {
		return fmt.Errorf("install %s: %w", p, err)
	}
	if elfFile {
		return b.elfDeps(real)
	}
	interp, err := scriptInterpreter(real)
	if err != nil {
		return fmt.Errorf("install %s: %w", p, err)
	}
	if interp == "" {
		return nil
	}
	if depth >= 4 { // the kernel's limit on nested interpreters
		return fmt.Errorf("install %s: interpreters nested too deeply", p)
	}
	return b.program(interp, depth+1)
}

// elfDeps installs the interpreter and the shared libraries of the ELF file
// at path.
func (b *builder) elfDeps(path string) error {
	if b.elfDone[path] {
		return nil
	}
	b.elfDone[path] = true
	interp, libs, err := b.res.closure(path)
	if err != nil {
		return err
	}
	if interp != "" {
		if _, err := b.mirror(interp); err != nil {
			return err
		}
	}
	for _, lib := range libs {
		if _, err := b.mirror(lib); err != nil {
			return err
		}
		if strings.HasPrefix(filepath.Base(lib), "libc.so.") && !b.elfDone["libc:"+lib] {
			b.elfDone["libc:"+lib] = true
			b.libcs = append(b.libcs, lib)
		}
	}
	return nil
}

// nss makes /etc/passwd and /etc/group lookups (id, whoami, ls -l) work:
// glibc >= 2.34 has the "files" module built in; older ones dlopen
// libnss_files.so.2, which is installed then.
func (b *builder) nss() error {
	for _, libc := range b.libcs {
		builtin, err := hasBuiltinNSSFiles(libc)
		if err != nil {
			return err
		}
		if builtin {
			continue
		}
		info, err := b.res.info(libc)
		if err != nil {
			return err
		}
		lib, err := b.res.find("libnss_files.so.2", info, info, filepath.Dir(libc), nil)
		if err != nil {
			return fmt.Errorf("install nss module for %s: %w", libc, err)
		}
		real, err := b.mirror(lib)
		if err != nil {
			return err
		}
		if err := b.elfDeps(real); err != nil {
			return err
		}
	}
	return nil
}

// scriptInterpreter returns the absolute interpreter path of a "#!" script
// at path, or "" when path is not such a script.
func scriptInterpreter(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	buf = buf[:n]
	if !bytes.HasPrefix(buf, []byte("#!")) {
		return "", nil
	}
	line, _, _ := bytes.Cut(buf[2:], []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return "", nil
	}
	return fields[0], nil
}

// lookProgram finds a host program: an absolute path as is, a name in
// systemPath. The result must be an executable file (after symlinks).
func lookProgram(name string) (string, error) {
	if filepath.IsAbs(name) {
		if err := checkExecutable(name); err != nil {
			return "", err
		}
		return filepath.Clean(name), nil
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("look up program %q: want a name or an absolute path", name)
	}
	for _, d := range systemPath {
		p := filepath.Join(d, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("look up program %s: not found in %s", name, strings.Join(systemPath, ":"))
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("look up program: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("look up program %s: not an executable file", p)
	}
	return nil
}

// IsBuilt reports whether dir holds a rootfs made by Build (one that got as
// far as writing its marker file).
func IsBuilt(dir string) bool {
	if dir == "" {
		return false
	}
	fi, err := os.Lstat(filepath.Join(dir, MarkerFile))
	return err == nil && fi.Mode().IsRegular()
}
