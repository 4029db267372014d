# Shared by the benchmark scripts: source it after setting -euo pipefail.

die() { echo "bench: $*" >&2; exit 1; }

# sdocker-init's own entry point (internal/launch/userns.go; the Makefile's INIT_LDFLAGS).
init_ldflags=-E=github.com/sdocker/sdocker/internal/launch.usernsEntry

# run_under_subreaper re-runs the calling script as the child of a tiny
# Python subreaper (prctl PR_SET_CHILD_SUBREAPER) that reaps what is orphaned
# below it: detached containers' monitors and inits whose runtime exited,
# which this machine's PID 1 never reaps. Call it as: run_under_subreaper "$0" "$@"
run_under_subreaper() {
	if [ "${SDBENCH_REAPER:-}" != 1 ]; then
		export SDBENCH_REAPER=1
		exec python3 - "$@" <<'PY'
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    print("bench: warning: no subreaper (%s); orphans become zombies"
          % os.strerror(ctypes.get_errno()), file=sys.stderr)
    os.execvp("bash", ["bash"] + sys.argv[1:])
pid = os.fork()
if pid == 0:
    os.execvp("bash", ["bash"] + sys.argv[1:])
# Ctrl-C reaches the script itself (same process group); TERM is passed on.
signal.signal(signal.SIGINT, lambda *a: None)
signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGTERM))
rc = 1
while True:
    try:
        p, st = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if p == pid:
        rc = os.waitstatus_to_exitcode(st)
        rc = rc if rc >= 0 else 128 - rc
        break
# Orphans that are still exiting (e.g. a monitor after its container).
end = time.time() + 3
while time.time() < end:
    try:
        p, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if p == 0:
        time.sleep(0.05)
sys.exit(rc)
PY
	fi
}

is_static() {
	# An ELF with a PT_INTERP program header is dynamically linked.
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    d = f.read()
if d[:4] != b"\x7fELF" or d[4] != 2:
    sys.exit(2)  # not a 64-bit ELF
end = "<" if d[5] == 1 else ">"
phoff, = struct.unpack_from(end + "Q", d, 0x20)
phentsize, phnum = struct.unpack_from(end + "HH", d, 0x36)
for i in range(phnum):
    p_type, = struct.unpack_from(end + "I", d, phoff + i * phentsize)
    if p_type == 3:  # PT_INTERP
        sys.exit(1)
sys.exit(0)
PY
}
# static_busybox sets $busybox to a static busybox, installing
# busybox-static if the machine has none.
static_busybox() {
	local c
	for attempt in 1 2; do
		for c in /bin/busybox /usr/bin/busybox; do
			if [ -x "$c" ] && is_static "$c"; then busybox=$c; return 0; fi
		done
		[ "$attempt" = 1 ] || break
		echo "bench: no static busybox; installing busybox-static" >&2
		apt-get install -y busybox-static >/dev/null
	done
	die "busybox-static did not give a static /bin/busybox"
}

# busybox_rootfs DIR makes a rootfs of busybox and a few applet links.
busybox_rootfs() {
	static_busybox
	mkdir -p "$1"/{bin,proc,sys,dev,tmp,etc,root}
	cp "$busybox" "$1/bin/busybox"
	local a
	for a in sh true false echo ls cat sleep; do
		ln -s busybox "$1/bin/$a"
	done
	[ -x "$1/bin/true" ] || die "rootfs $1 has no /bin/true"
}

# crun_wrappers DIR writes DIR/crun-wrap, crun in a private mount namespace
# without /sys/fs/cgroup/unified (crun refuses this hybrid cgroup layout), and
# DIR/wrap-only, the same wrapper running `true`: its own cost, to subtract.
crun_wrappers() {
	cat >"$1/crun-wrap" <<'EOF2'
#!/bin/sh
exec unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun "$@"' sh "$@"
EOF2
	cat >"$1/wrap-only" <<'EOF2'
#!/bin/sh
exec unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec true "$@"' sh "$@"
EOF2
	chmod +x "$1/crun-wrap" "$1/wrap-only"
}

# build_binaries sets $bin: BIN_DIR if given, else a fresh build in $tmp/bin
# (from $repo) of every binary, as `make` builds them.
build_binaries() {
	if [ -n "${BIN_DIR:-}" ]; then
		bin=$(readlink -f "$BIN_DIR")
		return
	fi
	command -v go >/dev/null || die "go not found (or set BIN_DIR)"
	bin=$tmp/bin
	mkdir -p "$bin"
	echo "bench: building from $repo" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin/" \
		./cmd/sdocker ./cmd/sdocker-monitor ./cmd/sdocker-runc ./cmd/cpu-test ./cmd/memory-test &&
		CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $init_ldflags" -o "$bin/" ./cmd/sdocker-init)
}

# true_bundle DIR [KEEP_CGROUP] writes DIR/config.json (`runc spec`) for
# /bin/true on DIR/rootfs, with sdocker's default namespaces; without
# KEEP_CGROUP=1 the /sys/fs/cgroup mount goes (sdocker makes none; on this v1
# host runc would mount a tmpfs plus one bind per hierarchy there).
true_bundle() {
	(cd "$1" && runc spec)
	python3 - "$1/config.json" "${2:-0}" <<'PY'
import json, sys
path, keep_cgroup = sys.argv[1], sys.argv[2] == "1"
with open(path) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": "rootfs", "readonly": False}
if not keep_cgroup:
    c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
# sdocker's default set; runc 1.1's spec lacks the cgroup namespace.
if not any(n["type"] == "cgroup" for n in c["linux"]["namespaces"]):
    c["linux"]["namespaces"].append({"type": "cgroup"})
ns = sorted(n["type"] for n in c["linux"]["namespaces"])
want = sorted(["pid", "network", "ipc", "uts", "mount", "cgroup"])
if ns != want:
    sys.exit("config.json namespaces %s, want %s" % (ns, want))
with open(path, "w") as f:
    json.dump(c, f, indent=2)
PY
}

# check NAME CMD... runs CMD once and stops the benchmark, showing its
# output, if it fails.
check() {
	local name=$1; shift
	local out
	if ! out=$("$@" 2>&1 </dev/null); then
		echo "$out" >&2
		die "$name failed: $*"
	fi
}
