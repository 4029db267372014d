#!/usr/bin/env bash
# Times `sdocker run --rm ROOTFS /bin/true` against `runc run` and `crun run`
# on the same busybox rootfs, in the same invocation, and prints the medians
# and ratios. See bench/README.md.
#
# Environment:
#   SDOCKER_BIN   use this sdocker binary instead of building one
#   RUNS          timed runs per command, over all rounds (default 50)
#   ROUNDS        interleaved rounds the runs are split into (default 5)
#   WARMUP        warmup runs per command and round (default 2)
#   KEEP_TMP=1    keep the temp dir (hyperfine JSON, bundle) for inspection
#   CGROUP_MOUNT=1  keep runc spec's /sys/fs/cgroup mount in config.json
#                 (default: removed, so runc/crun make the same mounts as sdocker)
set -euo pipefail

RUNS=${RUNS:-50}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root"
for t in runc crun hyperfine python3 unshare; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

ID_RUNC=sdbench-runc-$$
ID_CRUN=sdbench-crun-$$

tmp=$(mktemp -d /tmp/sdocker-bench.XXXXXX)
cleanup() {
	local rc=$?
	set +e
	runc --root "$tmp/runc-state" delete -f "$ID_RUNC" >/dev/null 2>&1
	[ -x "$tmp/crun-wrap" ] && "$tmp/crun-wrap" --root "$tmp/crun-state" delete -f "$ID_CRUN" >/dev/null 2>&1
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "bench: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- sdocker binary -------------------------------------------------------
if [ -n "${SDOCKER_BIN:-}" ]; then
	sdocker=$(readlink -f "$SDOCKER_BIN")
	[ -x "$sdocker" ] || die "SDOCKER_BIN=$SDOCKER_BIN is not executable"
else
	command -v go >/dev/null || die "go not found (or set SDOCKER_BIN)"
	mkdir -p "$tmp/bin"
	echo "bench: building sdocker from $repo" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/bin/" ./cmd/sdocker &&
		CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -E=github.com/sdocker/sdocker/internal/launch.usernsEntry" -o "$tmp/bin/" ./cmd/sdocker-init)
	sdocker=$tmp/bin/sdocker
fi

# --- busybox rootfs -------------------------------------------------------
bundle=$tmp/bundle
rootfs=$bundle/rootfs
busybox_rootfs "$rootfs"

# --- OCI bundle (runc and crun) -------------------------------------------
true_bundle "$bundle" "${CGROUP_MOUNT:-0}"

# crun refuses this hybrid cgroup layout: see crun_wrappers in lib.sh.
crun_wrappers "$tmp"

mkdir -p "$tmp/sdocker-root" "$tmp/runc-state" "$tmp/crun-state"
export SDOCKER_ROOT=$tmp/sdocker-root

cmd_sdocker="$sdocker run --rm $rootfs /bin/true"
cmd_runc="runc --root $tmp/runc-state run --bundle $bundle $ID_RUNC"
cmd_crun="$tmp/crun-wrap --root $tmp/crun-state run --bundle $bundle $ID_CRUN"
cmd_wrap="$tmp/wrap-only --root $tmp/crun-state run --bundle $bundle $ID_CRUN"

# --- each command must work once before timing ----------------------------
check sdocker $cmd_sdocker
check runc $cmd_runc
check crun $cmd_crun
check wrapper $cmd_wrap

# --- timing ---------------------------------------------------------------
# The commands run in ROUNDS interleaved rounds (each round: every command
# RUNS/ROUNDS times), so that a burst of load from elsewhere on the machine
# does not land on one tool only; the medians are over all rounds' runs.
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
[ "$per_round" -ge 2 ] || per_round=2
cmd_crun_direct="crun --root $tmp/crun-state run --bundle $bundle $ID_CRUN"
cgroups_before=$(ls -d /sys/fs/cgroup/*/sdocker/*/ 2>/dev/null | sort || true)
echo "bench: $ROUNDS rounds x $per_round runs (+$WARMUP warmup per round) each;" \
	"kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS" >&2
	# --output inherit: the commands' own output goes to the round's log (a
	# file), where sdocker's "[+] start container with id ..." lines tell
	# which cgroups were ours.
	hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic --output inherit \
		--export-json "$tmp/round$r.json" \
		-n sdocker "$cmd_sdocker" \
		-n runc "$cmd_runc" \
		-n crun-wrapped "$cmd_crun" \
		-n wrapper-only "$cmd_wrap" >"$tmp/round$r.log" 2>&1 \
		|| { cat "$tmp/round$r.log" >&2; die "hyperfine failed"; }
	# crun without a per-run wrapper: hyperfine itself runs inside one
	# private mount namespace without the cgroup2 mount.
	unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh \
		hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic \
		--export-json "$tmp/round$r-crun-direct.json" \
		-n crun-direct "$cmd_crun_direct" >>"$tmp/round$r.log" 2>&1 \
		|| { cat "$tmp/round$r.log" >&2; die "hyperfine (crun direct) failed"; }
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- leak check -----------------------------------------------------------
leaks=0
if [ -n "$(runc --root "$tmp/runc-state" list -q)" ]; then
	echo "bench: LEAK: runc list is not empty" >&2; leaks=1
fi
if [ -n "$(ls -A "$tmp/crun-state" 2>/dev/null)" ]; then
	echo "bench: LEAK: crun state dir is not empty" >&2; leaks=1
fi
if [ -n "$(ls -A "$SDOCKER_ROOT/containers" 2>/dev/null)" ]; then
	echo "bench: LEAK: sdocker containers left in $SDOCKER_ROOT/containers" >&2; leaks=1
fi
for d in /sys/fs/cgroup/*/; do
	for id in "$ID_RUNC" "$ID_CRUN"; do
		if [ -e "$d$id" ]; then echo "bench: LEAK: cgroup $d$id" >&2; leaks=1; fi
	done
done
# sdocker's cgroups sit under a fixed "sdocker" parent that other sdocker
# users on this machine share: a cgroup that appeared during the benchmark
# and is still there is a leak if its id is one sdocker printed for us, and
# worth a warning otherwise.
new_cgroups() {
	comm -13 <(echo "$cgroups_before") <(ls -d /sys/fs/cgroup/*/sdocker/*/ 2>/dev/null | sort || true)
}
ours=$(cat "$tmp"/round*.log | sed -n 's/.*start container with id \([0-9a-f]\{1,\}\).*/\1/p' | sort -u)
if [ -n "$(new_cgroups)" ]; then
	sleep 1
	for d in $(new_cgroups); do
		id=$(basename "$d")
		mine=0
		for o in $ours; do
			case $id in "$o"*) mine=1 ;; esac
		done
		if [ "$mine" = 1 ]; then
			echo "bench: LEAK: sdocker cgroup $d" >&2; leaks=1
		else
			echo "bench: warning: new cgroup $d is not one of ours (another sdocker user?)" >&2
		fi
	done
fi

# --- report ---------------------------------------------------------------
python3 - "$tmp" "$ROUNDS" "$load_after" <<'PY'
import glob, json, statistics, sys
tmp, rounds, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {}
for f in sorted(glob.glob(tmp + "/round*.json")):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
low = {k: min(v) * 1e3 for k, v in times.items()}
n = min(len(v) for v in times.values())
def row(label, k, note=""):
    print("%-16s median %7.2f ms   (min %6.2f)%s" % (label, med[k], low[k], note and "   " + note))
print()
print("%d runs each in %d interleaved rounds; wall-clock time per container run" % (n, rounds))
row("sdocker", "sdocker")
row("runc", "runc")
row("crun (wrapped)", "crun-wrapped", "unshare -m + sh + umount, then exec crun, per run")
row("wrapper alone", "wrapper-only", "the same wrapper exec'ing true instead of crun")
print("%-16s        %7.2f ms   (estimate of crun by itself)" % ("crun - wrapper", med["crun-wrapped"] - med["wrapper-only"]))
row("crun (direct)", "crun-direct", "hyperfine inside one private mount ns, no wrapper")
print()
sd, rc = med["sdocker"], med["runc"]
r = sd / rc
print("sdocker/runc = %.2f (target <= 0.60: %s)" % (r, "met" if r <= 0.60 else "NOT met"))
print("sdocker/crun = %.2f (wrapped crun; %.2f against crun - wrapper, %.2f against crun direct)"
      % (sd / med["crun-wrapped"], sd / max(med["crun-wrapped"] - med["wrapper-only"], 1e-9), sd / med["crun-direct"]))
rnd = {}
for f in glob.glob(tmp + "/round*.json"):
    i = int(f.rsplit("/round", 1)[1].split("-")[0].split(".")[0])
    for r in json.load(open(f))["results"]:
        rnd.setdefault(i, {})[r["command"]] = statistics.median(r["times"]) * 1e3
names = ["sdocker", "runc", "crun-wrapped", "wrapper-only", "crun-direct"]
print()
print("per-round medians (ms): " + "  ".join("%12s" % k for k in names))
for i in sorted(rnd):
    print("  round %-15d  " % i + "  ".join("%12.2f" % rnd[i][k] for k in names))
print("load average after: %s (other work on the machine skews the figures; compare the mins too)" % load_after)
PY
[ "$leaks" = 0 ] || die "resources leaked (see above)"
exit 0
