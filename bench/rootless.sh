#!/usr/bin/env bash
# Rootless sdocker: times, side by side in one run,
#   rootful   sdocker run --rm IMAGE true              (as root; the default bridge network)
#   rootless  sdocker run --rm IMAGE true              (as a test user; its default network)
#   rootless  sdocker run --rm --network pasta IMAGE true
#   rootless  sdocker run --rm --network slirp4netns IMAGE true
#   rootless  sdocker run --rm --network none IMAGE true
#   rootless  podman --runtime runc run --rm IMAGE true  (as the same user; its default network)
#   rootless  podman --runtime runc run --rm --network none IMAGE true
# on the same busybox image, and checks the targets: rootless <= 1.5 x rootful,
# rootless <= 0.2 x rootless podman. See bench/README.md.
#
# It makes a user of its own (subordinate ranges in /etc/subuid and
# /etc/subgid) and removes it, its ranges and its state afterwards; or,
# with BENCH_USER, takes that existing user (with ranges, its own HOME and
# XDG_RUNTIME_DIR, BENCH_XDG_RUNTIME_DIR if given) and removes only the
# image it imported. podman waits 20 s for each container's exit for a user
# made for the run (see bench/README.md): its figures mean something only
# with BENCH_USER, a user that has run podman before.
#
# Environment:
#   BIN_DIR     use sdocker, sdocker-init, sdocker-monitor from this directory
#   RUNS        timed runs per command, over all rounds (default 20)
#   ROUNDS      interleaved rounds (default 5)
#   WARMUP      warmup runs per command and round (default 2)
#   KEEP_TMP=1  keep the temp dir (hyperfine JSON)
#   BENCH_USER  an existing user to run the rootless commands as (see above)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root (it makes its test user)"
for t in hyperfine python3 podman runc newuidmap newgidmap nsenter pasta slirp4netns setpriv useradd; do
	command -v "$t" >/dev/null || die "$t not found in PATH (newuidmap: uidmap; pasta: passt)"
done

# Reap what is orphaned below us (see lib.sh).
run_under_subreaper "$0" "$@"

RUNS=${RUNS:-20}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}

tmp=$(mktemp -d /tmp/sdocker-bench-rootless.XXXXXX)
chmod 755 "$tmp"
user=${BENCH_USER:-sdbrl$$}
uid=
tun_mode=
imported=
cleanup() {
	local rc=$?
	set +e
	if [ -n "${BENCH_USER:-}" ]; then
		if [ -n "$imported" ]; then
			"${as_user[@]}" "$sdocker" rmi bb:bench >/dev/null 2>&1
			"${as_user[@]}" "${podman[@]}" rmi bb:bench >/dev/null 2>&1
		fi
	elif [ -n "$uid" ]; then
		# Every process of the user's (the pause process, pasta, slirp4netns, podman's).
		local pids
		for _ in 1 2 3 4 5; do
			pids=$(ps -o pid= -u "$uid" 2>/dev/null)
			[ -n "$pids" ] || break
			kill -9 $pids 2>/dev/null
			sleep 0.2
		done
		userdel "$user" >/dev/null 2>&1
	fi
	[ -n "${BENCH_USER:-}" ] || sed -i "/^$user:/d" /etc/subuid /etc/subgid
	[ -z "$tun_mode" ] || chmod "$tun_mode" /dev/net/tun
	if [ -n "${sdocker:-}" ]; then
		SDOCKER_ROOT=$tmp/root-sdocker "$sdocker" rm -f $(SDOCKER_ROOT=$tmp/root-sdocker "$sdocker" ps -aq 2>/dev/null) >/dev/null 2>&1
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "bench: kept $tmp" >&2
	elif awk -v t="$tmp/" 'index($5, t) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
		echo "bench: mounts left under $tmp: not removed" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_binaries
sdocker=$bin/sdocker
chmod 755 "$bin"

if [ -n "${BENCH_USER:-}" ]; then
	uid=$(id -u "$user") || die "no user $user"
	gid=$(id -g "$user")
	home=$(getent passwd "$user" | cut -d: -f6)
	grep -q "^$user:" /etc/subuid || die "user $user has no range in /etc/subuid"
	run_dir=${BENCH_XDG_RUNTIME_DIR:-/run/user/$uid}
	conf=$tmp/containers.conf
else
	# The user, with a range after every other.
	home=$tmp/home
	useradd -M -d "$home" -s /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user"
	uid=$(id -u "$user")
	gid=$(id -g "$user")
	end=$(awk -F: '$2+$3 > m {m = $2+$3} END {print m+0}' /etc/subuid /etc/subgid)
	start=$(( (end / 65536 + 1) * 65536 ))
	[ "$start" -ge 2097152 ] || start=2097152
	echo "$user:$start:65536" >>/etc/subuid
	echo "$user:$start:65536" >>/etc/subgid
	mkdir -p "$home/run"
	chmod 700 "$home" "$home/run"
	chown -R "$uid:$gid" "$home"
	run_dir=$home/run
	conf=$home/containers.conf
fi
# pasta and slirp4netns open /dev/net/tun: distributions make it 0666.
mode=$(stat -c %a /dev/net/tun)
if [ "$mode" != 666 ]; then
	tun_mode=$mode
	chmod 666 /dev/net/tun
fi

busybox_rootfs "$tmp/rootfs"
tar -C "$tmp/rootfs" -cf "$tmp/bb.tar" .
chmod 644 "$tmp/bb.tar"

# /usr/sbin too: runc is there on Debian.
as_user=(setpriv --reuid "$uid" --regid "$gid" --clear-groups
	env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$home" XDG_RUNTIME_DIR="$run_dir" USER="$user")
as_root=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root SDOCKER_ROOT="$tmp/root-sdocker")
cat >"$conf" <<'EOF'
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
chown "$uid:$gid" "$conf"
podman=(env CONTAINERS_CONF="$conf" podman --runtime runc)

"${as_root[@]}" "$sdocker" import "$tmp/bb.tar" bb:bench >/dev/null
imported=1
"${as_user[@]}" "$sdocker" import "$tmp/bb.tar" bb:bench >/dev/null
"${as_user[@]}" "${podman[@]}" import "$tmp/bb.tar" bb:bench >/dev/null 2>&1 || die "podman import as $user failed"

cmd_root="${as_root[*]} $sdocker run --rm bb:bench true"
cmd_rl="${as_user[*]} $sdocker run --rm bb:bench true"
cmd_rl_none="${as_user[*]} $sdocker run --rm --network none bb:bench true"
cmd_rl_pasta="${as_user[*]} $sdocker run --rm --network pasta bb:bench true"
cmd_rl_slirp="${as_user[*]} $sdocker run --rm --network slirp4netns bb:bench true"
cmd_pm="${as_user[*]} ${podman[*]} run --rm bb:bench true"
cmd_pm_none="${as_user[*]} ${podman[*]} run --rm --network none bb:bench true"
for c in "$cmd_root" "$cmd_rl" "$cmd_rl_none" "$cmd_rl_pasta" "$cmd_rl_slirp" "$cmd_pm" "$cmd_pm_none"; do
	$c >/dev/null 2>"$tmp/check.err" || { cat "$tmp/check.err" >&2; die "failed: $c"; }
done

per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
[ "$per_round" -ge 2 ] || per_round=2
mkdir -p "$tmp/json"
echo "bench: $ROUNDS rounds x $per_round runs (+$WARMUP warmup) each; kernel $(uname -r)," \
	"$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS" >&2
	hyperfine -N --warmup "$WARMUP" --runs "$per_round" --style basic --output null \
		--export-json "$tmp/json/r$r.json" \
		-n rootful "$cmd_root" -n rootless "$cmd_rl" -n rootless-none "$cmd_rl_none" \
		-n rootless-pasta "$cmd_rl_pasta" -n rootless-slirp "$cmd_rl_slirp" \
		-n podman "$cmd_pm" -n podman-none "$cmd_pm_none" >"$tmp/round$r.log" 2>&1 \
		|| { cat "$tmp/round$r.log" >&2; die "hyperfine failed"; }
done

python3 - "$tmp" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import glob, json, statistics, sys
tmp, load = sys.argv[1:]
times = {}
for f in glob.glob(tmp + "/json/r*.json"):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
low = {k: min(v) * 1e3 for k, v in times.items()}
label = {"rootful": "sdocker run --rm IMAGE true (root, bridge)",
         "rootless": "sdocker run --rm IMAGE true (user, the default network)",
         "rootless-none": "sdocker run --rm --network none IMAGE true (user)",
         "rootless-pasta": "sdocker run --rm --network pasta IMAGE true (user)",
         "rootless-slirp": "sdocker run --rm --network slirp4netns IMAGE true (user)",
         "podman": "podman --runtime runc run --rm IMAGE true (user)",
         "podman-none": "podman --runtime runc run --rm --network none IMAGE true (user)"}
print()
print("== rootless: %d runs each (load average after: %s)" % (min(len(v) for v in times.values()), load))
for k in ["rootful", "rootless", "rootless-none", "rootless-pasta", "rootless-slirp", "podman", "podman-none"]:
    print("  %-15s median %8.2f ms  (min %7.2f)   %s" % (k, med[k], low[k], label[k]))
def target(name, a, b, limit):
    r = med[a] / med[b]
    print("  %-34s %.3f  (mins %.3f)   target <= %.1f -> %s"
          % (name, r, low[a] / low[b], limit, "met" if r <= limit else "NOT met"))
target("rootless / rootful", "rootless", "rootful", 1.5)
target("rootless / rootless podman", "rootless", "podman", 0.2)
target("(--network none) / podman's", "rootless-none", "podman-none", 0.2)
target("(pasta) / rootful", "rootless-pasta", "rootful", 1.5)
target("(pasta) / rootless podman", "rootless-pasta", "podman", 0.2)
target("(slirp4netns) / rootful", "rootless-slirp", "rootful", 1.5)
target("(slirp4netns) / rootless podman", "rootless-slirp", "podman", 0.2)
PY
