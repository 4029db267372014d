#!/usr/bin/env bash
# The OCI face: times sdocker-runc against runc and crun on one busybox bundle.
#   a. `run` of /bin/true (create + start + wait + delete);
#   b. `exec` of /bin/true into a running container (`sleep 1000`);
#   c. the CVE-2019-5736 protection's own cost (go test -bench Sealed).
# Prints medians, mins and ratios. See bench/README.md.
#
# Environment:
#   BIN_DIR       use sdocker-runc and sdocker-init from this directory
#                 instead of building them
#   RUNS          timed runs per command, over all rounds (default 50)
#   ROUNDS        interleaved rounds the runs are split into (default 5)
#   WARMUP        warmup runs per command and round (default 2)
#   SEALED_RUNS   iterations of the Sealed benchmarks (default 200)
#   KEEP_TMP=1    keep the temp dir (hyperfine JSON, bundles) for inspection
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
for t in runc crun hyperfine python3 unshare; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

# Reap what is orphaned below us (see lib.sh).
run_under_subreaper "$0" "$@"

RUNS=${RUNS:-50}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
SEALED_RUNS=${SEALED_RUNS:-200}

ID_SD=sdbench-rt-sd-$$
ID_RUNC=sdbench-rt-runc-$$
ID_CRUN=sdbench-rt-crun-$$
# the long-running containers that `exec` enters
LID_SD=sdbench-rtx-sd-$$
LID_RUNC=sdbench-rtx-runc-$$
LID_CRUN=sdbench-rtx-crun-$$

tmp=$(mktemp -d /tmp/sdocker-bench-rt.XXXXXX)
sdrunc=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$sdrunc" ]; then
		for id in "$ID_SD" "$LID_SD"; do
			"$sdrunc" --root "$tmp/sd-state" delete -f "$id" >/dev/null 2>&1
		done
	fi
	for id in "$ID_RUNC" "$LID_RUNC"; do
		runc --root "$tmp/runc-state" delete -f "$id" >/dev/null 2>&1
	done
	if [ -x "$tmp/crun-wrap" ]; then
		for id in "$ID_CRUN" "$LID_CRUN"; do
			"$tmp/crun-wrap" --root "$tmp/crun-state" delete -f "$id" >/dev/null 2>&1
		done
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "bench: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries -------------------------------------------------------------
build_binaries
sdrunc=$bin/sdocker-runc
[ -x "$sdrunc" ] || die "$sdrunc is not executable"
[ -x "$bin/sdocker-init" ] || echo "bench: warning: no sdocker-init beside sdocker-runc: containers start as sdocker-runc itself" >&2

# --- busybox rootfs and two bundles ---------------------------------------
bundle=$tmp/bundle          # /bin/true: `run`
lbundle=$tmp/bundle-sleep   # sleep 1000 on the same rootfs: `exec`
rootfs=$bundle/rootfs
mkdir -p "$lbundle"
busybox_rootfs "$rootfs"
true_bundle "$bundle"
python3 - "$bundle/config.json" "$lbundle/config.json" "$rootfs" <<'PY'
import json, sys
path, lpath, rootfs = sys.argv[1:4]
with open(path) as f:
    l = json.load(f)
l["process"]["args"] = ["/bin/sleep", "1000"]
l["root"] = {"path": rootfs, "readonly": False}
with open(lpath, "w") as f:
    json.dump(l, f, indent=2)
PY

# crun refuses this hybrid cgroup layout: see crun_wrappers in lib.sh.
crun_wrappers "$tmp"
# hyperfine inside one such namespace: crun without a per-run wrapper
in_crun_ns() { unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh "$@"; }

mkdir -p "$tmp/sd-state" "$tmp/runc-state" "$tmp/crun-state" "$tmp/json"

run_sd="$sdrunc --root $tmp/sd-state run --bundle $bundle $ID_SD"
run_runc="runc --root $tmp/runc-state run --bundle $bundle $ID_RUNC"
run_crun="$tmp/crun-wrap --root $tmp/crun-state run --bundle $bundle $ID_CRUN"
run_crun_direct="crun --root $tmp/crun-state run --bundle $bundle $ID_CRUN"
wrap_only="$tmp/wrap-only --root $tmp/crun-state run --bundle $bundle $ID_CRUN"
exec_sd="$sdrunc --root $tmp/sd-state exec $LID_SD /bin/true"
exec_runc="runc --root $tmp/runc-state exec $LID_RUNC /bin/true"
exec_crun="$tmp/crun-wrap --root $tmp/crun-state exec $LID_CRUN /bin/true"
exec_crun_direct="crun --root $tmp/crun-state exec $LID_CRUN /bin/true"

check "sdocker-runc run" $run_sd
check "runc run" $run_runc
check "crun run (wrapped)" $run_crun
check "wrapper" $wrap_only
check "crun run (direct)" in_crun_ns $run_crun_direct

# --- the long-running containers ------------------------------------------
start_detached() {
	local name=$1; shift
	if ! "$@" </dev/null >>"$tmp/detached.log" 2>&1; then
		cat "$tmp/detached.log" >&2
		die "$name could not start a detached container: $*"
	fi
}
start_detached sdocker-runc "$sdrunc" --root "$tmp/sd-state" run -d --bundle "$lbundle" "$LID_SD"
start_detached runc runc --root "$tmp/runc-state" run -d --bundle "$lbundle" "$LID_RUNC"
start_detached crun "$tmp/crun-wrap" --root "$tmp/crun-state" run -d --bundle "$lbundle" "$LID_CRUN"
for s in "$sdrunc:$LID_SD:sd-state" "runc:$LID_RUNC:runc-state" "$tmp/crun-wrap:$LID_CRUN:crun-state"; do
	IFS=: read -r rt id st <<<"$s"
	"$rt" --root "$tmp/$st" state "$id" | grep -q '"status": *"running"' \
		|| die "$id is not running: $("$rt" --root "$tmp/$st" state "$id" 2>&1)"
done
check "sdocker-runc exec" $exec_sd
check "runc exec" $exec_runc
check "crun exec (wrapped)" $exec_crun
check "crun exec (direct)" in_crun_ns $exec_crun_direct

# --- timing ---------------------------------------------------------------
# ROUNDS interleaved rounds (each: every command RUNS/ROUNDS times), so a
# burst of load from elsewhere does not land on one runtime only.
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
[ "$per_round" -ge 2 ] || per_round=2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $ROUNDS rounds x $per_round runs (+$WARMUP warmup per round) each;" \
	"kernel $(uname -r), $(nproc) CPUs, load average $load_before" >&2
hf() { hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic "$@"; }
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS" >&2
	log=$tmp/round$r.log
	hf --export-json "$tmp/json/run-r$r-a.json" \
		-n sdocker-runc "$run_sd" -n runc "$run_runc" \
		-n crun-wrapped "$run_crun" -n wrapper-only "$wrap_only" >"$log" 2>&1 \
		|| { cat "$log" >&2; die "hyperfine (run) failed"; }
	in_crun_ns hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic \
		--export-json "$tmp/json/run-r$r-b.json" -n crun-direct "$run_crun_direct" >>"$log" 2>&1 \
		|| { cat "$log" >&2; die "hyperfine (crun run direct) failed"; }
	hf --export-json "$tmp/json/exec-r$r-a.json" \
		-n sdocker-runc "$exec_sd" -n runc "$exec_runc" \
		-n crun-wrapped "$exec_crun" -n wrapper-only "$wrap_only" >>"$log" 2>&1 \
		|| { cat "$log" >&2; die "hyperfine (exec) failed"; }
	in_crun_ns hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic \
		--export-json "$tmp/json/exec-r$r-b.json" -n crun-direct "$exec_crun_direct" >>"$log" 2>&1 \
		|| { cat "$log" >&2; die "hyperfine (crun exec direct) failed"; }
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- c. the CVE-2019-5736 protection --------------------------------------
# The test binary is built, then run with sdocker-init beside it, so that
# BenchmarkSealedExe mounts the very binary containers start as.
# BenchmarkSealedCopy copies the test binary itself (/proc/self/exe).
sealed=$tmp/sealed.txt
: >"$sealed"
if command -v go >/dev/null; then
	mkdir -p "$tmp/sealed"
	if (cd "$repo" && CGO_ENABLED=0 go test -c -o "$tmp/sealed/launch.test" ./internal/launch) >"$tmp/sealed.log" 2>&1; then
		[ -x "$bin/sdocker-init" ] && cp "$bin/sdocker-init" "$tmp/sealed/"
		(cd "$repo/internal/launch" && "$tmp/sealed/launch.test" -test.run NONE \
			-test.bench Sealed -test.benchtime "${SEALED_RUNS}x") >"$sealed" 2>&1 \
			|| { cat "$sealed" >&2; die "go test -bench Sealed failed"; }
	else
		cat "$tmp/sealed.log" >&2; die "go test -c ./internal/launch failed"
	fi
	stat -c '%n %s' "$tmp/sealed/launch.test" "$bin/sdocker-init" "$bin/sdocker-runc" >>"$sealed" 2>/dev/null || true
else
	echo "go not found: Sealed benchmarks skipped" >"$sealed"
fi

# --- stop the long-running containers, then check for leaks ---------------
stop_detached() {
	local rt=$1 st=$2 id=$3
	"$rt" --root "$tmp/$st" kill "$id" KILL >/dev/null 2>&1 || true
	for _ in $(seq 50); do
		"$rt" --root "$tmp/$st" state "$id" 2>/dev/null | grep -q '"status": *"stopped"' && break
		sleep 0.1
	done
	"$rt" --root "$tmp/$st" delete "$id" >/dev/null 2>&1 \
		|| "$rt" --root "$tmp/$st" delete -f "$id" >/dev/null 2>&1 \
		|| echo "bench: could not delete $id" >&2
}
init_pids=
for s in "$sdrunc:$LID_SD:sd-state" "runc:$LID_RUNC:runc-state" "$tmp/crun-wrap:$LID_CRUN:crun-state"; do
	IFS=: read -r rt id st <<<"$s"
	init_pids+=" $("$rt" --root "$tmp/$st" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
done
stop_detached "$sdrunc" sd-state "$LID_SD"
stop_detached runc runc-state "$LID_RUNC"
stop_detached "$tmp/crun-wrap" crun-state "$LID_CRUN"
sleep 0.5

leaks=0
leak() { echo "bench: LEAK: $*" >&2; leaks=1; }
[ -z "$("$sdrunc" --root "$tmp/sd-state" list -q 2>/dev/null)" ] || leak "sdocker-runc list is not empty"
[ -z "$(runc --root "$tmp/runc-state" list -q)" ] || leak "runc list is not empty"
[ -z "$(ls -A "$tmp/crun-state")" ] || leak "crun state dir is not empty"
[ -z "$(ls -A "$tmp/sd-state")" ] || leak "sdocker-runc state dir is not empty: $(ls -A "$tmp/sd-state")"
for d in /sys/fs/cgroup/*/; do
	for id in "$ID_SD" "$LID_SD"; do
		[ ! -e "${d}sdocker-runc/$id" ] || leak "cgroup ${d}sdocker-runc/$id"
	done
	for id in "$ID_RUNC" "$ID_CRUN" "$LID_RUNC" "$LID_CRUN"; do
		[ ! -e "$d$id" ] || leak "cgroup $d$id"
	done
done
for p in $init_pids; do
	st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
	[ -z "$st" ] || [ "$st" = Z ] || leak "container process $p still runs: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
done
zombies=$(ps -eo stat=,ppid= | awk -v me="$PPID" '$1 ~ /^Z/ && $2 == me' | wc -l)
[ "$zombies" = 0 ] || echo "bench: note: $zombies zombie(s) waiting for the subreaper" >&2

# --- report ---------------------------------------------------------------
python3 - "$tmp" "$ROUNDS" "$load_before" "$load_after" "$sealed" <<'PY'
import glob, json, re, statistics, sys
tmp, rounds, load_before, load_after, sealed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def collect(phase):
    times, per_round = {}, {}
    for f in glob.glob("%s/json/%s-r*.json" % (tmp, phase)):
        rnd = int(re.search(r"-r(\d+)-", f).group(1))
        for r in json.load(open(f))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
            per_round.setdefault(rnd, {})[r["command"]] = statistics.median(r["times"]) * 1e3
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    low = {k: min(v) * 1e3 for k, v in times.items()}
    return med, low, per_round, min(len(v) for v in times.values())

names = ["sdocker-runc", "runc", "crun-wrapped", "wrapper-only", "crun-direct"]
notes = {"crun-wrapped": "unshare -m + sh + umount, then exec crun",
         "wrapper-only": "the same wrapper exec'ing true",
         "crun-direct": "hyperfine inside one private mount ns"}
summary = []
for phase, what, target in (("run", "run of /bin/true (create+start+wait+delete)", None),
                            ("exec", "exec of /bin/true into a running container", None)):
    med, low, per_round, n = collect(phase)
    print()
    print("== %s: %s; %d runs each in %d interleaved rounds" % (phase, what, n, rounds))
    for k in names:
        print("  %-14s median %7.2f ms   (min %6.2f)   %s" % (k, med[k], low[k], notes.get(k, "")))
    crun_net = med["crun-wrapped"] - med["wrapper-only"]
    crun_net_min = low["crun-wrapped"] - low["wrapper-only"]
    print("  %-14s        %7.2f ms   (mins: %5.2f)   estimate of crun by itself (difference of medians, of mins)" % ("crun - wrapper", crun_net, crun_net_min))
    sd = med["sdocker-runc"]
    print("  sdocker-runc/runc          = %.2f   (mins: %.2f)" % (sd / med["runc"], low["sdocker-runc"] / low["runc"]))
    print("  sdocker-runc/crun direct   = %.2f   (mins: %.2f)" % (sd / med["crun-direct"], low["sdocker-runc"] / low["crun-direct"]))
    print("  sdocker-runc/(crun-wrapper)= %.2f   (mins: %.2f)" % (sd / max(crun_net, 1e-9), low["sdocker-runc"] / max(crun_net_min, 1e-9)))
    print("  sdocker-runc/crun wrapped  = %.2f" % (sd / med["crun-wrapped"]))
    print("  per-round medians (ms): " + " ".join("%13s" % k for k in names))
    for i in sorted(per_round):
        print("    round %-15d " % i + " ".join("%13.2f" % per_round[i][k] for k in names))
    # the calmest round: lowest sum of its medians, each relative to the overall one
    calm = min(per_round, key=lambda i: sum(per_round[i][k] / med[k] for k in names))
    c = per_round[calm]
    print("  calmest round (%d): sdocker-runc/runc = %.2f, sdocker-runc/crun direct = %.2f"
          % (calm, c["sdocker-runc"] / c["runc"], c["sdocker-runc"] / c["crun-direct"]))
    summary.append((phase, med, low, crun_net, c))

print()
print("== Sealed benchmarks (CVE-2019-5736 protection; per start and per exec)")
sizes = {}
for line in open(sealed):
    line = line.rstrip()
    m = re.match(r"(BenchmarkSealed\w+?)(-\d+)?\s+(\d+)\s+([\d.]+) ns/op", line)
    if m:
        print("  %-22s %10.0f ns/op  (%.3f ms)" % (m.group(1), float(m.group(4)), float(m.group(4)) / 1e6))
        sizes[m.group(1)] = float(m.group(4)) / 1e6
    elif re.match(r"/\S+ \d+$", line):
        p, s = line.rsplit(" ", 1)
        print("  size of %-50s %6.2f MB" % (p.rsplit("/", 1)[1], int(s) / 1e6))
    elif line.startswith("go not found"):
        print("  " + line)
print("  (SealedExe: read-only detached bind mount of sdocker-init, what start and exec use;")
print("   SealedCopy: the memfd fallback, copying the launch.test binary: scale by size)")

print()
print("== Summary (medians, ms; min in parentheses)")
print("  %-6s %16s %16s %16s %16s %12s %12s" % ("", "sdocker-runc", "runc", "crun direct", "crun-wrapper", "sd/runc", "sd/crun dir"))
for phase, med, low, crun_net, _ in summary:
    print("  %-6s %9.2f (%5.2f) %9.2f (%5.2f) %9.2f (%5.2f) %16.2f %12.2f %12.2f" % (
        phase, med["sdocker-runc"], low["sdocker-runc"], med["runc"], low["runc"],
        med["crun-direct"], low["crun-direct"], crun_net,
        med["sdocker-runc"] / med["runc"], med["sdocker-runc"] / med["crun-direct"]))
run_med, run_low, run_calm = summary[0][1], summary[0][2], summary[0][4]
exec_med, exec_low, exec_calm = summary[1][1], summary[1][2], summary[1][4]
r1 = run_med["sdocker-runc"] / run_med["crun-direct"]
r2 = exec_med["sdocker-runc"] / exec_med["runc"]
print("  target run  <= crun median:       %.2f x crun direct -> %s   (mins %.2f, calmest round %.2f)"
      % (r1, "met" if r1 <= 1 else "NOT met", run_low["sdocker-runc"] / run_low["crun-direct"],
         run_calm["sdocker-runc"] / run_calm["crun-direct"]))
print("  target exec <= 0.5 x runc median: %.2f x runc        -> %s   (mins %.2f, calmest round %.2f)"
      % (r2, "met" if r2 <= 0.5 else "NOT met", exec_low["sdocker-runc"] / exec_low["runc"],
         exec_calm["sdocker-runc"] / exec_calm["runc"]))
print("  load average before %s, after %s (other work skews the figures; compare the mins)" % (load_before, load_after))
PY
[ "$leaks" = 0 ] || die "resources leaked (see above)"
exit 0
