#!/usr/bin/env bash
# User namespaces in the OCI face, on one busybox bundle of /bin/true:
#   a. sdocker-runc `run` with a user namespace (ids 0-65535 mapped to
#      100000-165535, a chowned copy of the rootfs) against the same bundle
#      without one (target: <= 1.2x);
#   b. `exec` of /bin/true into a running user-namespaced container
#      (`sleep 1000`), sdocker-runc against runc on the same config
#      (target: <= 0.5x runc), and into the container without one;
#   c. with BEFORE_DIR (sdocker-runc and sdocker-init of another build, say
#      main's): its `run` and `exec` without a user namespace beside this
#      build's, so that configs without one are seen not to get slower.
# Prints medians, mins and the ratios of both.
#
# Environment:
#   BIN_DIR       use sdocker-runc and sdocker-init from this directory
#   BEFORE_DIR    the build to compare with for configs without a user namespace
#   RUNS          timed runs per command, over all rounds (default 40)
#   ROUNDS        interleaved rounds (default 4)
#   WARMUP        warmup runs per command and round (default 2)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
for t in runc hyperfine python3; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done
run_under_subreaper "$0" "$@"

RUNS=${RUNS:-40}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-4}
HOST_ID=100000

tmp=$(mktemp -d /tmp/sdocker-bench-userns.XXXXXX)
chmod 755 "$tmp"
sdrunc=
before=
cleanup() {
	local rc=$?
	set +e
	for rt in "$sdrunc" "$before"; do
		[ -n "$rt" ] || continue
		for id in $("$rt" --root "$tmp/sd-state" list -q 2>/dev/null); do
			"$rt" --root "$tmp/sd-state" delete -f "$id" >/dev/null 2>&1
		done
	done
	for id in $(runc --root "$tmp/runc-state" list -q 2>/dev/null); do
		runc --root "$tmp/runc-state" delete -f "$id" >/dev/null 2>&1
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_binaries
sdrunc=$bin/sdocker-runc
if [ -n "${BEFORE_DIR:-}" ]; then
	before=$(readlink -f "$BEFORE_DIR")/sdocker-runc
	[ -x "$before" ] || die "$before is not executable"
fi

# Four bundles: plain and user-namespaced, each for `run` (true) and for
# `exec` (sleep 1000).
plain=$tmp/plain
mapped=$tmp/mapped
busybox_rootfs "$plain/rootfs"
true_bundle "$plain"
mkdir -p "$mapped"
cp -a "$plain/rootfs" "$mapped/rootfs"
chown -R "$HOST_ID:$HOST_ID" "$mapped/rootfs"
python3 - "$plain/config.json" "$mapped/config.json" "$HOST_ID" <<'PY'
import json, sys
src, dst, host = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = json.load(open(src))
c["linux"]["namespaces"].append({"type": "user"})
m = [{"containerID": 0, "hostID": host, "size": 65536}]
c["linux"]["uidMappings"] = m
c["linux"]["gidMappings"] = m
json.dump(c, open(dst, "w"), indent=2)
PY
for b in plain mapped; do
	mkdir -p "$tmp/$b-sleep"
	python3 - "$tmp/$b/config.json" "$tmp/$b-sleep/config.json" "$tmp/$b/rootfs" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/sleep", "1000"]
c["root"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
done
mkdir -p "$tmp/sd-state" "$tmp/runc-state" "$tmp/json"

sd="$sdrunc --root $tmp/sd-state"
run_plain="$sd run --bundle $plain sdb-plain-$$"
run_mapped="$sd run --bundle $mapped sdb-mapped-$$"
check "sdocker-runc run" $run_plain
check "sdocker-runc run (userns)" $run_mapped
$sd run -d --bundle "$tmp/plain-sleep" sdb-xplain-$$ </dev/null >/dev/null
$sd run -d --bundle "$tmp/mapped-sleep" sdb-xmapped-$$ </dev/null >/dev/null
runc --root "$tmp/runc-state" run -d --bundle "$tmp/mapped-sleep" sdb-xrunc-$$ </dev/null >/dev/null
exec_plain="$sd exec sdb-xplain-$$ /bin/true"
exec_mapped="$sd exec sdb-xmapped-$$ /bin/true"
exec_runc="runc --root $tmp/runc-state exec sdb-xrunc-$$ /bin/true"
check "sdocker-runc exec (userns)" $exec_mapped
check "runc exec (userns)" $exec_runc
ecmds=(-n exec "$exec_plain" -n exec-userns "$exec_mapped" -n runc-exec-userns "$exec_runc")
if [ -n "$before" ]; then
	bsd="$before --root $tmp/sd-state"
	$bsd run -d --bundle "$tmp/plain-sleep" sdb-xbefore-$$ </dev/null >/dev/null
	ecmds+=(-n before-exec "$bsd exec sdb-xbefore-$$ /bin/true")
fi

per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
[ "$per_round" -ge 2 ] || per_round=2
echo "bench: $ROUNDS rounds x $per_round runs; kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
hf() { hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic "$@" >>"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "hyperfine failed"; }; }
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS" >&2
	args=(-n run "$run_plain" -n run-userns "$run_mapped")
	[ -z "$before" ] || args+=(-n before-run "$bsd run --bundle $plain sdb-before-$$")
	hf --export-json "$tmp/json/r$r-run.json" "${args[@]}"
	hf --export-json "$tmp/json/r$r-exec.json" "${ecmds[@]}"
done

python3 - "$tmp/json" <<'PY'
import glob, json, statistics, sys
times = {}
for f in glob.glob(sys.argv[1] + "/*.json"):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
for k in ["run", "run-userns", "before-run", "exec", "exec-userns", "runc-exec-userns", "before-exec"]:
    if k in med:
        print("%-18s median %7.2f ms  min %7.2f ms  (%d runs)" % (k, med[k], min(times[k]) * 1e3, len(times[k])))
def ratio(a, b, target):
    if a in med and b in med:
        print("%-34s %.3f x  (mins %.3f x; target %s)" % (a + " / " + b, med[a] / med[b],
              min(times[a]) / min(times[b]), target))
ratio("run-userns", "run", "<= 1.2")
ratio("exec-userns", "runc-exec-userns", "<= 0.5")
ratio("run", "before-run", "~1: no slower without a user namespace")
ratio("exec", "before-exec", "~1: no slower without a user namespace")
PY
