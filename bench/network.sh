#!/usr/bin/env bash
# Networking: what the default bridge costs and how fast it carries traffic.
# See bench/README.md.
#   a. sdocker run --rm --network bridge ROOTFS true  vs  --network none
#      (target: at most 5 ms more, median), and podman run --rm on its
#      default bridge network (--runtime runc, cgroupfs; target: sdocker at
#      most 0.1 x podman)
#   b. the same runs with 99 detached containers on the network: the 100th
#      container starts as fast as the 1st (compared as bridge - none: the
#      engine's own work grows with the containers it lists, on any network)
#   c. iperf3 throughput from the host to a container: through a published
#      port (127.0.0.1:PORT, DNAT in the kernel) vs the container's address
#      (target: at least 0.9 x). iperf3 runs in the container's network
#      namespace (nsenter --net=/run/sdocker/netns/ID) with the host's files.
# Traffic goes to loopback and to the containers' addresses only.
#
# Environment:
#   BIN_DIR     use sdocker, sdocker-init, sdocker-monitor from this directory
#   RUNS        timed runs per command, over all rounds (default 40)
#   ROUNDS      interleaved rounds: the machine's load drifts (default 4)
#   WARMUP      warmup runs per command and round (default 2)
#   PODMAN_RUNS podman runs, over all rounds (default 8; 0 skips podman)
#   MANY        containers started before the "100th" run (default 99)
#   SECONDS_IPERF  seconds per iperf3 run (default 3; each target once per round)
#   KEEP_TMP=1  keep the temp dir (hyperfine JSON)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine python3 nsenter; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done
if ! command -v iperf3 >/dev/null; then
	echo "bench: iperf3 not found; installing it" >&2
	apt-get install -y iperf3 >/dev/null || die "apt-get install iperf3 failed"
fi

run_under_subreaper "$0" "$@"

RUNS=${RUNS:-40}
ROUNDS=${ROUNDS:-4}
WARMUP=${WARMUP:-2}
PODMAN_RUNS=${PODMAN_RUNS:-8}
MANY=${MANY:-99}
SECONDS_IPERF=${SECONDS_IPERF:-3}
per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
pm_per=$(( (PODMAN_RUNS + ROUNDS - 1) / ROUNDS ))

tmp=$(mktemp -d /tmp/sdocker-bench-network.XXXXXX)
export SDOCKER_ROOT=$tmp/sdocker-root
export CONTAINERS_CONF=$tmp/podman/containers.conf
sdocker=
podman_ready=0
P=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/runroot"
	--cgroup-manager=cgroupfs --events-backend=file)
iperf_pid=

cleanup() {
	local rc=$?
	set +e
	[ -z "$iperf_pid" ] || kill "$iperf_pid" 2>/dev/null
	if [ -n "$sdocker" ] && [ -d "$SDOCKER_ROOT" ]; then
		ids=$("$sdocker" ps -aq --no-trunc 2>/dev/null)
		[ -z "$ids" ] || "$sdocker" rm -f $ids >/dev/null 2>&1
	fi
	if [ "$podman_ready" = 1 ]; then
		"${P[@]}" rm -af -t 0 >/dev/null 2>&1
		"${P[@]}" system reset -f >/dev/null 2>&1
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

build_binaries
sdocker=$bin/sdocker
rootfs=$tmp/rootfs
busybox_rootfs "$rootfs"
mkdir -p "$SDOCKER_ROOT" "$tmp/podman" "$tmp/json"

none="$sdocker run --rm --network none $rootfs/ true"
bridge="$sdocker run --rm --network bridge $rootfs/ true"
check "sdocker run --network none" $none
check "sdocker run --network bridge" $bridge

podman_cmd=
if [ "$PODMAN_RUNS" -gt 0 ] && command -v podman >/dev/null; then
	tar -C "$rootfs" -cf "$tmp/rootfs.tar" .
	cat >"$CONTAINERS_CONF" <<'EOF2'
[containers]
# this host lacks CAP_SYS_RESOURCE for podman's default nofile/nproc limits
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF2
	podman_ready=1
	if "${P[@]}" import "$tmp/rootfs.tar" localhost/bb:bench >/dev/null 2>"$tmp/podman-import.log"; then
		podman_cmd="${P[*]} --runtime runc run --rm localhost/bb:bench true"
		check "podman run (default bridge)" $podman_cmd
	else
		cat "$tmp/podman-import.log" >&2
		echo "bench: podman import failed; no podman comparison" >&2
	fi
else
	echo "bench: podman not found; no podman comparison" >&2
fi

# --- a. bridge vs none (vs podman) -----------------------------------------
echo "== a. run --rm true: --network none, bridge, podman's default bridge ($ROUNDS rounds)"
for r in $(seq "$ROUNDS"); do
	hyperfine -N -w "$WARMUP" -r "$per" --export-json "$tmp/json/a-$r.json" -n none "$none" -n bridge "$bridge"
	[ -z "$podman_cmd" ] || hyperfine -N -w 1 -r "$pm_per" --export-json "$tmp/json/p-$r.json" -n podman "$podman_cmd"
done

# --- b. the 100th container --------------------------------------------------
echo "== b. the same bridge run with $MANY containers on the network"
for _ in $(seq "$MANY"); do
	"$sdocker" run -d "$rootfs/" sleep 1000 >/dev/null
done
for r in $(seq "$ROUNDS"); do
	hyperfine -N -w "$WARMUP" -r "$per" --export-json "$tmp/json/b-$r.json" -n "none, $MANY running" "$none" -n "bridge, $MANY running" "$bridge"
done
ids=$("$sdocker" ps -aq --no-trunc)
"$sdocker" rm -f $ids >/dev/null

# --- c. throughput ----------------------------------------------------------
echo "== c. iperf3, host to container: published port (127.0.0.1, a host address) vs direct ($ROUNDS rounds)"
port=15201
id=$("$sdocker" run -d -p "$port:5201" "$rootfs/" sleep 1000)
addr=$("$sdocker" inspect -f '{{.NetworkSettings.IPAddress}}' "$id")
hostaddr=$(ip -4 -o addr show scope global | awk '$2 !~ /^sd/ {sub("/.*", "", $4); print $4; exit}')
nsenter --net="/run/sdocker/netns/$id" iperf3 -s -p 5201 >/dev/null 2>&1 &
iperf_pid=$!
sleep 0.5
for r in $(seq "$ROUNDS"); do
	iperf3 -c "$addr" -p 5201 -t "$SECONDS_IPERF" -J >"$tmp/json/direct-$r.json" || true
	iperf3 -c 127.0.0.1 -p "$port" -t "$SECONDS_IPERF" -J >"$tmp/json/lo-$r.json" || true
	[ -z "$hostaddr" ] || iperf3 -c "$hostaddr" -p "$port" -t "$SECONDS_IPERF" -J >"$tmp/json/host-$r.json" || true
done
kill "$iperf_pid"
wait "$iperf_pid" 2>/dev/null || true
iperf_pid=

python3 - "$tmp/json" "$MANY" <<'PY'
import glob, json, statistics, sys
d, many = sys.argv[1], sys.argv[2]
cpu = {}
def times(pattern):
    out = {}
    for f in sorted(glob.glob(d + "/" + pattern)):
        for r in json.load(open(f))["results"]:
            out.setdefault(r["command"], []).extend(t * 1e3 for t in r["times"])
            # user + system of the command and its children (the container):
            # what the load of the machine does not inflate.
            cpu.setdefault(r["command"], []).append((r["user"] + r["system"]) * 1e3)
    return out
t = times("a-*.json")
t.update(times("p-*.json"))
b = times("b-*.json")
med = lambda v: statistics.median(v)
print()
print("== Summary (medians of interleaved rounds; min in brackets)")
for k, v in list(t.items()) + list(b.items()):
    print("  run --rm true, %-22s %9.2f ms  (%.2f)" % (k, med(v), min(v)))
extra = med(t["bridge"]) - med(t["none"])
print("  bridge - none: %.2f ms, mins %.2f ms (target <= 5 ms: %s)"
      % (extra, min(t["bridge"]) - min(t["none"]), "met" if extra <= 5 else "NOT met"))
for k, v in cpu.items():
    print("  CPU time (user + system) per run, %-22s %6.2f ms" % (k, statistics.mean(v)))
print("  bridge - none in CPU time: %.2f ms" % (statistics.mean(cpu["bridge"]) - statistics.mean(cpu["none"])))
if "podman" in t:
    r = med(t["bridge"]) / med(t["podman"])
    print("  sdocker bridge / podman bridge: %.3f (target <= 0.1: %s)" % (r, "met" if r <= 0.1 else "NOT met"))
nth = med(b["bridge, %s running" % many]) - med(b["none, %s running" % many])
print("  the bridge's cost with %s running: %.2f ms, with none: %.2f ms (target: the same)" % (many, nth, extra))
def gbps(pattern):
    out = []
    for f in sorted(glob.glob(d + "/" + pattern)):
        j = json.load(open(f))
        if "error" in j:
            print("  iperf3 %s: %s" % (f.rsplit("/", 1)[1], j["error"]))
        else:
            out.append(j["end"]["sum_received"]["bits_per_second"] / 1e9)
    return out
direct = med(gbps("direct-*.json"))
for name, pat in (("127.0.0.1:PORT", "lo-*.json"), ("HOSTADDR:PORT", "host-*.json")):
    v = gbps(pat)
    if v:
        print("  iperf3 direct %.2f Gbit/s, published %s %.2f Gbit/s: %.3f x (target >= 0.9: %s)"
              % (direct, name, med(v), med(v) / direct, "met" if med(v) / direct >= 0.9 else "NOT met"))
PY
