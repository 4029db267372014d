#!/usr/bin/env bash
# The engine: times `sdocker run --rm IMAGE true` against podman, measures
# the memory of 50 detached containers' monitors, and checks that start-up
# does not depend on the image's size. See bench/README.md.
#   a. sdocker run --rm IMAGE true  vs  podman run --rm IMAGE true (same image)
#      (plus sdocker run --rm ROOTFS-DIR true, and podman driving sdocker-runc)
#   b. 50 x `sdocker run -d IMAGE sleep 1000`: start time, monitors' RSS/PSS
#   c. sdocker run --rm on a 2 MB image vs the same plus a 495 MB file
#
# Environment:
#   BIN_DIR          use sdocker, sdocker-runc, sdocker-init from this directory
#   RUNS             timed runs per command, over all rounds (default 20)
#   ROUNDS           interleaved rounds (default 5)
#   WARMUP           warmup runs per command and round (default 2)
#   DETACHED         detached containers for part b (default 50)
#   PODMAN_DETACHED  detached podman containers, for conmon's memory (default 10; 0 skips)
#   PODMAN_RUNTIME   podman's OCI runtime (default runc: crun refuses this host)
#   BIG_MB           size of the big image's random file in MB (default 495)
#   KEEP_TMP=1       keep the temp dir (hyperfine JSON, logs; images are removed)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine python3 runc; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

# Reap what is orphaned below us (see lib.sh).
run_under_subreaper "$0" "$@"

RUNS=${RUNS:-20}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
DETACHED=${DETACHED:-50}
PODMAN_DETACHED=${PODMAN_DETACHED:-10}
PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}
BIG_MB=${BIG_MB:-495}

if ! command -v podman >/dev/null; then
	echo "bench: podman not found; installing it" >&2
	apt-get install -y podman >/dev/null || die "apt-get install podman failed"
fi

tmp=$(mktemp -d /tmp/sdocker-bench-engine.XXXXXX)
export SDOCKER_ROOT=$tmp/sdocker-root
export CONTAINERS_CONF=$tmp/podman/containers.conf
sdocker=
podman_ready=0
# podman with its own storage, run and config; cgroupfs, no journald, no network
P=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/runroot"
	--cgroup-manager=cgroupfs --events-backend=file)

our_mounts() { awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo; }
cleanup() {
	local rc=$?
	set +e
	if [ -n "$sdocker" ] && [ -d "$SDOCKER_ROOT" ]; then
		ids=$("$sdocker" ps -aq --no-trunc 2>/dev/null)
		[ -z "$ids" ] || "$sdocker" rm -f $ids >/dev/null 2>&1
	fi
	if [ "$podman_ready" = 1 ]; then
		"${P[@]}" rm -af -t 0 >/dev/null 2>&1
		"${P[@]}" system reset -f >/dev/null 2>&1
	fi
	# Whatever is still mounted below the temp dir (a leak, reported above)
	# must go before rm -rf, or rm would walk into image layers.
	local m
	for m in $(our_mounts | sort -r); do umount -l "$m" 2>/dev/null; done
	if [ -n "$(our_mounts)" ]; then
		echo "bench: mounts remain below $tmp; not removing it" >&2
	elif [ "${KEEP_TMP:-0}" = 1 ]; then
		rm -rf "$tmp/images" "$SDOCKER_ROOT" "$tmp/podman"
		echo "bench: kept $tmp (without images)" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries -------------------------------------------------------------
build_binaries
for b in sdocker sdocker-runc; do
	[ -x "$bin/$b" ] || die "$bin/$b is not executable"
done
[ -x "$bin/sdocker-init" ] || echo "bench: warning: no sdocker-init beside sdocker" >&2
[ -x "$bin/sdocker-monitor" ] || echo "bench: warning: no sdocker-monitor beside sdocker (monitors stay whole sdocker processes)" >&2
sdocker=$bin/sdocker

# --- busybox images -------------------------------------------------------
img=$tmp/images
rootfs=$img/rootfs         # also run directly as a ROOTFS directory
busybox_rootfs "$rootfs"
tar -C "$rootfs" -cf "$img/small.tar" .
mkdir -p "$img/big"
cp -a "$rootfs/." "$img/big/"
echo "bench: writing a ${BIG_MB} MB file of random data for the big image" >&2
head -c "${BIG_MB}M" /dev/urandom >"$img/big/random.bin"
tar -C "$img/big" -cf "$img/big.tar" .
rm -rf "$img/big"

mkdir -p "$SDOCKER_ROOT" "$tmp/podman" "$tmp/json"
ms_since() { python3 -c "import sys; print('%.1f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e3))" "$1" "$2"; }
t0=$EPOCHREALTIME
"$sdocker" import "$img/small.tar" bb:bench >/dev/null || die "sdocker import (small) failed"
t1=$EPOCHREALTIME
"$sdocker" import "$img/big.tar" bbbig:bench >/dev/null || die "sdocker import (big) failed"
t2=$EPOCHREALTIME
import_small_ms=$(ms_since "$t0" "$t1")
import_big_ms=$(ms_since "$t1" "$t2")
small_size=$(stat -c %s "$img/small.tar")
big_size=$(stat -c %s "$img/big.tar")
rm -f "$img/big.tar"

cat >"$CONTAINERS_CONF" <<'EOF2'
[containers]
# this host lacks CAP_SYS_RESOURCE for podman's default nofile/nproc limits
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF2
podman_ready=1
"${P[@]}" import "$img/small.tar" localhost/bb:bench >/dev/null 2>"$tmp/podman-import.log" \
	|| { cat "$tmp/podman-import.log" >&2; die "podman import failed"; }

# Both without a network (sdocker's default is its bridge; bench/network.sh
# times that against podman's).
cmd_sd="$sdocker run --rm --network none bb:bench true"
cmd_sd_dir="$sdocker run --rm --network none $rootfs/ true"
cmd_sd_big="$sdocker run --rm --network none bbbig:bench true"
cmd_pm="${P[*]} --runtime $PODMAN_RUNTIME run --rm --network none localhost/bb:bench true"
cmd_pm_sd="${P[*]} --runtime $bin/sdocker-runc run --rm --network none localhost/bb:bench true"

check "sdocker run IMAGE" $cmd_sd
check "sdocker run ROOTFS" $cmd_sd_dir
check "sdocker run BIG" $cmd_sd_big
check "podman run ($PODMAN_RUNTIME)" $cmd_pm
check "podman run (sdocker-runc)" $cmd_pm_sd

# --- a + c: timing --------------------------------------------------------
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
[ "$per_round" -ge 2 ] || per_round=2
cgroups_before=$(ls -d /sys/fs/cgroup/*/sdocker/*/ 2>/dev/null | sort || true)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $ROUNDS rounds x $per_round runs (+$WARMUP warmup per round) each;" \
	"kernel $(uname -r), $(nproc) CPUs, load average $load_before" >&2
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS" >&2
	# --output inherit: sdocker's "[+] start container with id" lines land
	# in the round's log, to tell which cgroups are ours.
	hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic --output inherit \
		--export-json "$tmp/json/r$r.json" \
		-n sdocker-image "$cmd_sd" \
		-n sdocker-big "$cmd_sd_big" \
		-n sdocker-rootfs "$cmd_sd_dir" \
		-n podman "$cmd_pm" \
		-n podman-sdocker-runc "$cmd_pm_sd" >"$tmp/round$r.log" 2>&1 \
		|| { cat "$tmp/round$r.log" >&2; die "hyperfine failed"; }
done
load_mid=$(cut -d' ' -f1-3 /proc/loadavg)

# --- b: detached containers -----------------------------------------------
echo "bench: starting $DETACHED detached containers" >&2
: >"$tmp/detached.txt"
ids=()
tb0=$EPOCHREALTIME
for i in $(seq 1 "$DETACHED"); do
	s=$EPOCHREALTIME
	id=$("$sdocker" run -d --network none bb:bench sleep 1000 </dev/null) || die "sdocker run -d failed (container $i)"
	e=$EPOCHREALTIME
	ids+=("$id")
	echo "$s $e" >>"$tmp/detached.txt"
done
tb1=$EPOCHREALTIME
sleep 1 # let the monitors settle (GC, lazily touched pages)
running=$("$sdocker" ps -q | wc -l)
[ "$running" -ge "$DETACHED" ] || die "only $running of $DETACHED detached containers run"
mon_pids=()
for id in "${ids[@]}"; do
	p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("monitor", 0))' \
		"$SDOCKER_ROOT/containers/$id/container.json") || die "no record for $id"
	[ "$p" != 0 ] && [ -d "/proc/$p" ] || die "no monitor process for $id"
	grep -qa sdocker-monitor "/proc/$p/cmdline" || die "pid $p is not $id's monitor"
	mon_pids+=("$p")
done
mem() { # pid... -> "pid rss pss pss_anon pss_file private threads" per line
	local p
	for p in "$@"; do
		awk -v pid="$p" '
			FILENAME ~ /status$/ && $1 == "VmRSS:" {rss = $2}
			FILENAME ~ /status$/ && $1 == "Threads:" {thr = $2}
			FILENAME ~ /rollup$/ && $1 == "Pss:" {pss = $2}
			FILENAME ~ /rollup$/ && $1 == "Pss_Anon:" {anon = $2}
			FILENAME ~ /rollup$/ && $1 == "Pss_File:" {file = $2}
			FILENAME ~ /rollup$/ && $1 ~ /^Private_/ {priv += $2}
			END {print pid, rss, pss, anon, file, priv, thr}
		' "/proc/$p/status" "/proc/$p/smaps_rollup"
	done
}
mem "${mon_pids[@]}" >"$tmp/monitors-mem.txt"
# the containers' own processes (busybox sleep), for scale
init_pids=()
for id in "${ids[@]}"; do
	init_pids+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
		"$SDOCKER_ROOT/containers/$id/container.json")")
done
mem "${init_pids[@]}" >"$tmp/inits-mem.txt"
mounts_running=$(our_mounts | wc -l)

echo "bench: removing them" >&2
tr0=$EPOCHREALTIME
"$sdocker" rm -f "${ids[@]}" >/dev/null || die "sdocker rm -f failed"
tr1=$EPOCHREALTIME
for _ in $(seq 100); do
	alive=0
	for p in "${mon_pids[@]}"; do
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
		[ -z "$st" ] || [ "$st" = Z ] || alive=$((alive + 1))
	done
	[ "$alive" = 0 ] && break
	sleep 0.1
done
tr2=$EPOCHREALTIME

# conmon's memory for a few detached podman containers, for comparison
: >"$tmp/conmon-mem.txt"
if [ "$PODMAN_DETACHED" -gt 0 ]; then
	echo "bench: starting $PODMAN_DETACHED detached podman containers" >&2
	for i in $(seq 1 "$PODMAN_DETACHED"); do
		"${P[@]}" --runtime "$PODMAN_RUNTIME" run -d --network none localhost/bb:bench sleep 1000 \
			</dev/null >/dev/null 2>>"$tmp/podman-detached.log" || die "podman run -d failed"
	done
	sleep 1
	conmons=$("${P[@]}" ps -q --no-trunc | while read -r c; do
		pgrep -f "conmon .*-c $c" || true; done | sort -u)
	[ -z "$conmons" ] || mem $conmons >"$tmp/conmon-mem.txt"
	"${P[@]}" rm -af -t 0 >/dev/null 2>>"$tmp/podman-detached.log"
fi
# conmon runs `podman container cleanup` when a container ends: wait for
# those (they remount podman's storage) before resetting it.
podman_wait() {
	for _ in $(seq 100); do
		pgrep -f "$tmp/podman/root" >/dev/null || return 0
		sleep 0.1
	done
	echo "bench: warning: podman processes still run: $(pgrep -af "$tmp/podman/root" | head -3)" >&2
}
podman_wait
pm_left=$("${P[@]}" ps -aq)
# podman keeps its storage mounted (a private bind of ROOT/overlay) until reset
reset_ok=0
for _ in 1 2 3; do
	if "${P[@]}" system reset -f >/dev/null 2>>"$tmp/podman-detached.log"; then
		reset_ok=1; break
	fi
	sleep 1; podman_wait
done
[ "$reset_ok" = 1 ] || { cat "$tmp/podman-detached.log" >&2; die "podman system reset failed"; }
podman_wait
podman_ready=0

# --- leak check -----------------------------------------------------------
leaks=0
leak() { echo "bench: LEAK: $*" >&2; leaks=1; }
sleep 0.5
[ "$alive" = 0 ] || leak "$alive monitor(s) still run 10 s after rm -f"
if [ -n "$(ls -A "$SDOCKER_ROOT/containers" 2>/dev/null)" ]; then
	leak "sdocker containers left in $SDOCKER_ROOT/containers: $(ls "$SDOCKER_ROOT/containers" | head -3)"
fi
[ -z "$(our_mounts)" ] || leak "mounts below $tmp: $(our_mounts | head -3)"
ours=$( (cat "$tmp"/round*.log | sed -n 's/.*start container with id \([0-9a-f]\{1,\}\).*/\1/p'; printf '%s\n' "${ids[@]}") | sort -u)
new_cgroups() {
	comm -13 <(echo "$cgroups_before") <(ls -d /sys/fs/cgroup/*/sdocker/*/ 2>/dev/null | sort || true)
}
others=
for d in $(new_cgroups); do
	id=$(basename "$d")
	mine=0
	for o in $ours; do
		case $o in "$id"*) mine=1 ;; esac
		case $id in "$o"*) mine=1 ;; esac
	done
	if [ "$mine" = 1 ]; then leak "sdocker cgroup $d"
	else others+=" ${id:0:12}"; fi
done
others=$(printf '%s\n' $others | sort -u | tr '\n' ' ')
[ -z "${others// }" ] || echo "bench: warning: new sdocker cgroups not ours (another sdocker user?): $others" >&2
[ -z "$pm_left" ] || leak "podman containers left: $pm_left"
zombies=$(ps -eo stat=,ppid= | awk -v me="$PPID" '$1 ~ /^Z/ && $2 == me' | wc -l)

# --- report ---------------------------------------------------------------
python3 - "$tmp" "$ROUNDS" "$load_before" "$load_mid" "$(cut -d' ' -f1-3 /proc/loadavg)" \
	"$tb0" "$tb1" "$tr0" "$tr1" "$tr2" "$DETACHED" "$mounts_running" \
	"$import_small_ms" "$import_big_ms" "$small_size" "$big_size" "$PODMAN_RUNTIME" "$zombies" <<'PY'
import glob, json, re, statistics, sys
(tmp, rounds, load_before, load_mid, load_after, tb0, tb1, tr0, tr1, tr2, ndet, mounts_running,
 imp_small, imp_big, small_size, big_size, pm_rt, zombies) = sys.argv[1:]
rounds, ndet = int(rounds), int(ndet)
times, per_round = {}, {}
for f in glob.glob(tmp + "/json/r*.json"):
    rnd = int(re.search(r"/r(\d+)\.json$", f).group(1))
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
        per_round.setdefault(rnd, {})[r["command"]] = statistics.median(r["times"]) * 1e3
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
low = {k: min(v) * 1e3 for k, v in times.items()}
n = min(len(v) for v in times.values())
names = ["sdocker-image", "sdocker-big", "sdocker-rootfs", "podman", "podman-sdocker-runc"]
label = {"sdocker-image": "sdocker run --rm bb:bench true",
         "sdocker-big": "sdocker run --rm bbbig:bench true (+%d MB file)" % (int(big_size) // 2**20),
         "sdocker-rootfs": "sdocker run --rm ROOTFS-DIR/ true",
         "podman": "podman --runtime %s run --rm --network none" % pm_rt,
         "podman-sdocker-runc": "podman --runtime sdocker-runc run --rm ..."}
def row(k):
    print("  %-22s median %8.2f ms  (min %7.2f)   %s" % (k, med[k], low[k], label[k]))

print()
print("== a. engine start-up: %d runs each in %d interleaved rounds" % (n, rounds))
for k in ["sdocker-image", "sdocker-rootfs", "podman", "podman-sdocker-runc"]:
    row(k)
r_a = med["sdocker-image"] / med["podman"]
print("  sdocker/podman = %.3f  (mins: %.3f)   target <= 0.1 -> %s"
      % (r_a, low["sdocker-image"] / low["podman"], "met" if r_a <= 0.1 else "NOT met"))
print("  image vs rootfs dir: %+.2f ms (median)" % (med["sdocker-image"] - med["sdocker-rootfs"]))
print("  podman with sdocker-runc instead of %s: %+.1f ms" % (pm_rt, med["podman-sdocker-runc"] - med["podman"]))

print()
print("== c. image size: %.1f MB vs %.1f MB tar (import took %.0f ms vs %.0f ms)"
      % (int(small_size) / 1e6, int(big_size) / 1e6, float(imp_small), float(imp_big)))
row("sdocker-image"); row("sdocker-big")
r_c = med["sdocker-big"] / med["sdocker-image"]
print("  big/small = %.3f  (mins: %.3f)   expect ~1.0" % (r_c, low["sdocker-big"] / low["sdocker-image"]))
print("  per-round medians (ms): " + " ".join("%15s" % k for k in names))
for i in sorted(per_round):
    print("    round %-15d " % i + " ".join("%15.2f" % per_round[i].get(k, float("nan")) for k in names))
# the calmest round: lowest sum of its medians, each relative to the overall one
calm = min(per_round, key=lambda i: sum(per_round[i][k] / med[k] for k in names))
cr = per_round[calm]
print("  calmest round (%d): sdocker/podman = %.3f, big/small = %.3f"
      % (calm, cr["sdocker-image"] / cr["podman"], cr["sdocker-big"] / cr["sdocker-image"]))

print()
starts = [tuple(map(float, l.split())) for l in open(tmp + "/detached.txt")]
each = [(e - s) * 1e3 for s, e in starts]
total = (float(tb1) - float(tb0)) * 1e3
print("== b. %d detached containers (sdocker run -d bb:bench sleep 1000, one after another)" % ndet)
print("  start all: %.0f ms wall, %.1f ms per container; each: median %.1f, min %.1f, max %.1f ms"
      % (total, total / ndet, statistics.median(each), min(each), max(each)))
def memtab(path):
    rows = [list(map(int, l.split())) for l in open(path) if l.strip()]
    return rows
def memline(title, rows):
    if not rows:
        print("  %s: none" % title); return None
    k = len(rows)
    s = [sum(r[i] for r in rows) for i in range(1, 7)]
    print("  %s (%d processes, %.1f threads each):" % (title, k, s[5] / k))
    print("    total   RSS %8.1f MiB   PSS %8.1f MiB   (PSS anon %.1f, file %.1f; private %.1f MiB)"
          % (s[0] / 1024, s[1] / 1024, s[2] / 1024, s[3] / 1024, s[4] / 1024))
    print("    average RSS %8.2f MiB   PSS %8.2f MiB   (PSS anon %.2f, file %.2f; private %.2f MiB)"
          % (s[0] / 1024 / k, s[1] / 1024 / k, s[2] / 1024 / k, s[3] / 1024 / k, s[4] / 1024 / k))
    return s[1] / 1024 / k, s[0] / 1024 / k
mon = memline("sdocker monitors", memtab(tmp + "/monitors-mem.txt"))
memline("container processes (busybox sleep, not sdocker's)", memtab(tmp + "/inits-mem.txt"))
conmon = memline("podman's conmon, for comparison", memtab(tmp + "/conmon-mem.txt"))
if mon:
    print("  target <= 3 MiB per container: PSS %.2f MiB -> %s (RSS %.2f MiB -> %s)"
          % (mon[0], "met" if mon[0] <= 3 else "NOT met", mon[1], "met" if mon[1] <= 3 else "NOT met"))
print("  host mounts below the temp dir while running: %s" % mounts_running)
print("  rm -f of all %d: %.0f ms; monitors gone %.0f ms after rm returned"
      % (ndet, (float(tr1) - float(tr0)) * 1e3, (float(tr2) - float(tr1)) * 1e3))
print("  zombies left under the subreaper at the end: %s" % zombies)

print()
print("== Summary")
print("  %-40s %10s %10s" % ("", "median ms", "min ms"))
for k in ["sdocker-image", "sdocker-rootfs", "sdocker-big", "podman", "podman-sdocker-runc"]:
    print("  %-40s %10.2f %10.2f" % (label[k][:40], med[k], low[k]))
print("  sdocker/podman            %.3f  (target <= 0.1: %s; mins %.3f, calmest round %.3f)"
      % (r_a, "met" if r_a <= 0.1 else "NOT met", low["sdocker-image"] / low["podman"],
         cr["sdocker-image"] / cr["podman"]))
print("  big image/small image     %.3f  (mins %.3f, calmest round %.3f; expect ~1.0)"
      % (r_c, low["sdocker-big"] / low["sdocker-image"], cr["sdocker-big"] / cr["sdocker-image"]))
print("  %d detached: %.1f ms per start; monitor PSS %.2f MiB, RSS %.2f MiB each (target <= 3 MiB)"
      % (ndet, total / ndet, mon[0] if mon else float("nan"), mon[1] if mon else float("nan")))
print("  load average before %s, after timing %s, at the end %s" % (load_before, load_mid, load_after))
PY
[ "$leaks" = 0 ] || die "resources leaked (see above)"
exit 0
