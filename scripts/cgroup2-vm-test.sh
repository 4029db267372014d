#!/usr/bin/env bash
# cgroup2-vm-test.sh: run Go test packages as root on a real cgroup v2
# kernel, in the throwaway VM of scripts/vm/cgroup2-vm (see its header).
#
# Usage: scripts/cgroup2-vm-test.sh [--sdocker] [PACKAGE...] [-- TEST-FLAGS...]
#   PACKAGE     Go packages to test (default ./internal/cgroups), e.g.
#               ./internal/cgroups ./tests/integration
#   --sdocker   ship sdocker and a rootfs in the payload (automatic when
#               ./tests/integration is among the packages)
#   TEST-FLAGS  passed to every test binary (default -test.v)
# Environment:
#   CGROUP2_VM       the VM tool (default: scripts/vm/cgroup2-vm)
#   CGROUP2_VM_ARGS  options for it, e.g. "--mem 2G --timeout 900 -v"
#                    (with --sdocker the default timeout is 1800 s, not 600)
#
# Each package is built as a static test binary into its own folder of the
# payload (with its testdata, if any) and run there, like `go test` does.
# With --sdocker the payload also holds the static sdocker, sdocker-runc,
# sdocker-init, sdocker-monitor, sdocker-tini (--init), cpu-test and
# memory-test (sdocker-bin/) and a rootfs built here with `sdocker rootfs`
# (sdocker-rootfs/: the guest has no glibc programs to build one from), and
# the tests get SDOCKER_TEST_BIN_DIR,
# SDOCKER_TEST_ROOTFS, OCI_RUNTIME (tests/oci: the runtime under test, since
# the guest has no Go to build one) and SDOCKER_TEST_SECCOMP_PROFILE (a
# profile from internal/seccomp/testdata) and SDOCKER_TEST_SECCOMP_DIR (all of
# them) pointing at them.
# Building the rootfs needs root.
# Exit status: 0 if every package passed, 1 if one failed, else the tool's
# (124 timeout, 125 VM failure), 2 on bad usage or a failed build.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
vm=${CGROUP2_VM:-$script_dir/vm/cgroup2-vm}

pkgs=()
flags=()
ship_sdocker=0
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; flags=("$@"); break ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--sdocker) ship_sdocker=1; shift ;;
	-*) echo "cgroup2-vm-test: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) pkgs+=("$1"); shift ;;
	esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./internal/cgroups)
[ ${#flags[@]} -gt 0 ] || flags=(-test.v)
[ -x "$vm" ] || { echo "cgroup2-vm-test: tool not found: $vm (set CGROUP2_VM)" >&2; exit 2; }

payload=$(mktemp -d "${TMPDIR:-/tmp}/cgroup2-vm-test.XXXXXX")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cgroup2-vm-test-root.XXXXXX")
trap 'rm -rf "$payload" "$scratch"' EXIT

cd "$repo_root"
module=$(go list -m) || exit 2
for pkg in "${pkgs[@]}"; do
	case "$(go list -f '{{.ImportPath}}' "$pkg")" in
	"$module/tests/integration" | "$module/tests/oci" | "$module/tests/rootless") ship_sdocker=1 ;;
	esac
done

runner=$payload/run.sh
{
	echo 'fail=0'
	echo 'run() { name=$1; shift; echo "=== package $name"; (cd "/payload/$name" && "./$name.test" "$@") || { echo "--- FAIL package $name"; fail=1; }; }'
} >"$runner"
if [ "$ship_sdocker" = 1 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "cgroup2-vm-test: --sdocker needs root (sdocker rootfs)" >&2; exit 2; }
	echo "cgroup2-vm-test: building sdocker, sdocker-runc, cpu-test, memory-test and a rootfs" >&2
	CGO_ENABLED=0 go build -o "$payload/sdocker-bin/" ./cmd/sdocker ./cmd/sdocker-runc \
		./cmd/sdocker-monitor ./cmd/sdocker-tini ./cmd/cpu-test ./cmd/memory-test || exit 2
	# sdocker-init's own entry point: see internal/launch/userns.go.
	CGO_ENABLED=0 go build -ldflags=-E=github.com/sdocker/sdocker/internal/launch.usernsEntry \
		-o "$payload/sdocker-bin/" ./cmd/sdocker-init || exit 2
	SDOCKER_ROOT=$scratch "$payload/sdocker-bin/sdocker" rootfs "$payload/sdocker-rootfs" || exit 2
	echo 'export SDOCKER_TEST_BIN_DIR=/payload/sdocker-bin SDOCKER_TEST_ROOTFS=/payload/sdocker-rootfs' >>"$runner"
	echo 'export OCI_RUNTIME=/payload/sdocker-bin/sdocker-runc' >>"$runner"
	mkdir -p "$payload/seccomp"
	cp internal/seccomp/testdata/*.json "$payload/seccomp/"
	echo 'export SDOCKER_TEST_SECCOMP_PROFILE=/payload/seccomp/docker-default-amd64.json SDOCKER_TEST_SECCOMP_DIR=/payload/seccomp' >>"$runner"
	case " ${CGROUP2_VM_ARGS:-} " in
	*" --timeout"*) ;;
	*) CGROUP2_VM_ARGS="--timeout 1800 ${CGROUP2_VM_ARGS:-}" ;;
	esac
fi
# ship_tools DIR TOOL...: the host's TOOLs, with their libraries, at their
# host paths under DIR, which the guest copies over its / before the tests
# (removing its own first: a busybox applet there is a link to the busybox
# that runs the guest's shell).
ship_tools() {
	local dir=$1 t p f
	shift
	for t in "$@"; do
		p=$(command -v "$t") || { echo "cgroup2-vm-test: the tests need $t on the host" >&2; exit 2; }
		echo "rm -f $p" >>"$runner"
		for f in "$p" $(ldd "$p" 2>/dev/null | awk '/=> \// {print $3} /^\t\// {print $1}'); do
			mkdir -p "$dir$(dirname "$f")"
			cp -aL "$f" "$dir$f"
		done
	done
	echo "cp -a /payload/$(basename "$dir")/. /" >>"$runner"
}
for pkg in "${pkgs[@]}"; do
	case $(go list -f '{{.ImportPath}}' "$pkg") in
	"$module/tests/oci")
		# The namespaces that tests/oci joins by path are made by util-linux's
		# unshare (--kill-child); the guest's busybox one lacks options.
		ship_tools "$payload/oci-tools" unshare ;;
	"$module/tests/rootless")
		# tests/rootless runs as a user of its own: the guest gets useradd,
		# userdel, newuidmap, newgidmap (setuid), nsenter and pasta, and
		# /dev/net/tun for pasta.
		tools=$payload/rootless-tools
		ship_tools "$tools" useradd userdel newuidmap newgidmap nsenter pasta passt passt.avx2
		ln -sf passt "$tools$(command -v pasta)"
		echo 'chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap' >>"$runner"
		echo 'modprobe tun 2>/dev/null; [ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200; }' >>"$runner" ;;
	esac
done
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg") || exit 2
	name=$(go list -f '{{.ImportPath}}' "$pkg" | tr '/.' '__')
	mkdir -p "$payload/$name"
	echo "cgroup2-vm-test: building $pkg" >&2
	CGO_ENABLED=0 go test -c -o "$payload/$name/$name.test" "$pkg" || exit 2
	if [ ! -e "$payload/$name/$name.test" ]; then
		echo "cgroup2-vm-test: $pkg has no test files" >&2
		exit 2
	fi
	[ ! -d "$dir/testdata" ] || cp -a "$dir/testdata" "$payload/$name/"
	printf 'run %q' "$name" >>"$runner"
	printf ' %q' "${flags[@]}" >>"$runner"
	echo >>"$runner"
done
echo 'exit $fail' >>"$runner"

status=0
# shellcheck disable=SC2086 # CGROUP2_VM_ARGS is a list of options
"$vm" ${CGROUP2_VM_ARGS:-} "$payload" -- sh ./run.sh || status=$?
exit "$status"
