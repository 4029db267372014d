#!/usr/bin/env bash
# Registry benchmark: sdocker against podman, side by side in one run, fresh
# stores on both sides, a distribution registry (docker-registry) on
# 127.0.0.1 holding images made by bench/mkimage. See bench/README.md.
#
#   pull     a 5-layer image of ~200 MB of files (~100 MB gzip'd): sdocker pull
#            vs podman pull (target: sdocker <= 0.5x podman); sdocker's peak RSS
#            (target: <= 64 MiB)
#   shared   a second image sharing 4 of the 5 layers: how many sdocker fetches
#            (target: 1)
#   save     save + load of a ~500 MB image, sdocker vs podman (target: <= 1.0x)
#   push     sdocker push of the pulled 5-layer image to a new repository (no
#            target: a report; podman's push is not comparable, it sends the
#            blobs it pulled, as pulled, where sdocker compresses its layers)
#
# Environment:
#   SDOCKER_BIN   use this sdocker binary (sdocker-registry beside it) instead of building one
#   RUNS          runs of each timed step (default 3; the median is shown)
#   STEPS         the steps to run (default "pull shared save push")
#   KEEP_TMP=1    keep the temp dir
set -euo pipefail

RUNS=${RUNS:-3}
STEPS=" ${STEPS:-pull shared save push} "
step() { [[ $STEPS == *" $1 "* ]]; }
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
. "$script_dir/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root"
for t in docker-registry podman python3 /usr/bin/time go bc; do
	command -v "$t" >/dev/null || die "$t not found"
done

# umount_under DIR: podman's overlay driver leaves its home mounted.
umount_under() {
	local m
	for m in $(awk -v d="$1" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount "$m"; done
}

tmp=$(mktemp -d /tmp/sdreg-bench.XXXXXX)
reg_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
	umount_under "$tmp"
	rm -rf "/tmp/sdreg-pm-$$"
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
	exit $rc
}
trap cleanup EXIT

sdocker=${SDOCKER_BIN:-}
if [ -z "$sdocker" ]; then
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/bin/" ./cmd/sdocker ./cmd/sdocker-registry ./cmd/sdocker-monitor)
	sdocker=$tmp/bin/sdocker
fi
(cd "$repo" && go build -o "$tmp/bin/mkimage" ./bench/mkimage)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$tmp/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: $host
YML
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://$host/v2/')" 2>/dev/null && break
	sleep 0.1
done
echo "{\"insecure-registries\": [\"$host\"]}" >"$tmp/registries.json"
mkdir -p "$tmp/docker" && echo '{}' >"$tmp/docker/config.json"  # podman reads it too
export SDOCKER_REGISTRY_CONFIG=$tmp/registries.json DOCKER_CONFIG=$tmp/docker

echo "bench: making images in $host" >&2
"$tmp/bin/mkimage" -size $((40 << 20)) -seeds 1,2,3,4,5 "$host/bench/a:1"
"$tmp/bin/mkimage" -size $((40 << 20)) -seeds 1,2,3,4,6 "$host/bench/b:1"
"$tmp/bin/mkimage" -size $((100 << 20)) -seeds 11,12,13,14,15 "$host/bench/big:1"

# podman in stores of its own (a short runroot: podman wants one)
pm_cmd=(podman --root "$tmp/pm/root" --runroot "/tmp/sdreg-pm-$$" --storage-driver overlay)
pm() { "${pm_cmd[@]}" "$@"; }
pm_reset() {
	pm rmi -af >/dev/null 2>&1 || true
	umount_under "$tmp/pm"
	rm -rf "$tmp/pm" "/tmp/sdreg-pm-$$"
}
sd_reset() { rm -rf "$tmp/sd"; }
sd_cmd=(env "SDOCKER_ROOT=$tmp/sd" "$sdocker")
sd() { "${sd_cmd[@]}" "$@"; }

# timed FILE CMD...: runs CMD under /usr/bin/time; FILE gets "SECONDS MAXRSS_KB".
timed() { local out=$1; shift; /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$out.err" || die "$* failed: $(cat "$out.err")"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ps=- pp=- peak=0 fetched=- present=- ss=- sp=- us=- push_peak=0
if step pull || step shared; then
	pull_sd=() pull_pm=() rss=()
	for i in $(seq "$RUNS"); do
		sd_reset; pm_reset
		timed "$tmp/t" "${sd_cmd[@]}" pull "$host/bench/a:1"; read -r s m <"$tmp/t"; pull_sd+=("$s"); rss+=("$m")
		timed "$tmp/t" "${pm_cmd[@]}" pull -q --tls-verify=false "$host/bench/a:1"; read -r s _ <"$tmp/t"; pull_pm+=("$s")
	done
	ps=$(printf '%s\n' "${pull_sd[@]}" | median); pp=$(printf '%s\n' "${pull_pm[@]}" | median)
	peak=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
fi

# shared layers: after a:1, pulling b:1 fetches only its own layer
if step shared; then
	sd pull "$host/bench/b:1" >/dev/null 2>"$tmp/b.err"
	fetched=$(grep -c 'Pull complete' "$tmp/b.err" || true)
	present=$(grep -c 'Already exists' "$tmp/b.err" || true)
fi

if step save; then
	save_sd=() save_pm=()
	for i in $(seq "$RUNS"); do
		sd_reset; pm_reset
		sd pull "$host/bench/big:1" >/dev/null 2>&1
		pm pull -q --tls-verify=false "$host/bench/big:1" >/dev/null
		rm -f "$tmp/sd.tar" "$tmp/pm.tar"
		start=$(date +%s.%N)
		sd save -o "$tmp/sd.tar" "$host/bench/big:1"; sd rmi "$host/bench/big:1" >/dev/null; sd load -i "$tmp/sd.tar" >/dev/null
		save_sd+=("$(printf '%.2f' "$(echo "$(date +%s.%N) - $start" | bc)")")
		start=$(date +%s.%N)
		pm save -q -o "$tmp/pm.tar" "$host/bench/big:1"; pm rmi -f "$host/bench/big:1" >/dev/null; pm load -q -i "$tmp/pm.tar" >/dev/null
		save_pm+=("$(printf '%.2f' "$(echo "$(date +%s.%N) - $start" | bc)")")
	done
	ss=$(printf '%s\n' "${save_sd[@]}" | median); sp=$(printf '%s\n' "${save_pm[@]}" | median)
fi

# push: the 5-layer image to a repository of its own each run (the registry
# has none of its blobs there, so every layer is compressed and sent)
if step push; then
	push_sd=() push_rss=()
	sd_reset
	sd pull "$host/bench/a:1" >/dev/null 2>&1
	for i in $(seq "$RUNS"); do
		sd tag "$host/bench/a:1" "$host/bench/sd-push-$$-$i:1"
		timed "$tmp/t" "${sd_cmd[@]}" push "$host/bench/sd-push-$$-$i:1"; read -r s m <"$tmp/t"; push_sd+=("$s"); push_rss+=("$m")
	done
	us=$(printf '%s\n' "${push_sd[@]}" | median)
	push_peak=$(printf '%s\n' "${push_rss[@]}" | sort -n | tail -1)
fi
sd_reset; pm_reset

ratio() { if [ "$1" = - ]; then echo -; else python3 -c "print('%.2f' % ($1 / $2))"; fi; }
printf '%-34s %10s %10s %8s   %s\n' step sdocker podman ratio target
printf '%-34s %9ss %9ss %8s   %s\n' "pull 5 layers, ~200 MB" "$ps" "$pp" "$(ratio "$ps" "$pp")" "<= 0.50"
printf '%-34s %9sM %10s %8s   %s\n' "pull: peak RSS of sdocker" "$((peak / 1024))" - - "<= 64 MiB"
printf '%-34s %10s %10s %8s   %s\n' "pull sharing 4 of 5 layers" "$fetched fetched" - - "1 fetched, 4 present ($present)"
printf '%-34s %9ss %9ss %8s   %s\n' "save + rmi + load, ~500 MB" "$ss" "$sp" "$(ratio "$ss" "$sp")" "<= 1.00"
printf '%-34s %9ss %10s %8s   %s\n' "push 5 layers, ~200 MB" "$us" - - -
printf '%-34s %9sM %10s %8s   %s\n' "push: peak RSS of sdocker" "$((push_peak / 1024))" - - -
