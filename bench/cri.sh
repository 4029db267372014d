#!/usr/bin/env bash
# Kubernetes pods through containerd's CRI: the sdocker handler (the runc
# v2 shim running sdocker-runc) against runc, side by side on the same
# containerd with the same images: the node of tests/cri (containerd 1.6
# with its CRI plugin on its own socket, root and state, a CNI bridge, a
# local pause and busybox image), set up and torn down by that suite's
# TestBench. See bench/README.md.
#   a. pod start to container running: crictl runp + create + start
#      (target: sdocker at most 0.8 x runc)
#   b. churn: 30 pods of 2 containers started, then stopped and removed
#      (stopp + rmp), wall time (target: at most 0.8 x runc), with the
#      memory (RSS, PSS) of the per-pod processes: the shims and anything
#      else the runtime leaves below them
#
# Environment:
#   BIN_DIR   use the sdocker-runc of this directory (else a fresh build)
#   RUNS      timed pod starts per handler for a (default 20)
#   WARMUP    untimed pod starts per handler first (default 2)
#   PODS      pods per churn (default 30)
#   ROUNDS    churns per handler, interleaved (default 2)
#   TRACE=1   time every runtime command the shims run (a wrapper in front
#             of runc and sdocker-runc logs each): where the runtimes' share
#             of the pods' time goes. The wrappers add their own cost to both.
#   CRI_SLOW  multiply the suite's timeouts by this
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

. "$script_dir/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "go not found"

tmp=$(mktemp -d /tmp/sdocker-bench-cri.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if [ -n "${BIN_DIR:-}" ]; then
	bin=$(readlink -f "$BIN_DIR")
else
	bin=$tmp/bin
	echo "bench: building sdocker-runc from $repo" >&2
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin/" ./cmd/sdocker-runc)
fi
[ -x "$bin/sdocker-runc" ] || die "$bin/sdocker-runc is not executable"

runtime=$bin/sdocker-runc
if [ "${TRACE:-0}" = 1 ]; then
	# runtime-name real-binary: a wrapper of that name that logs
	# "name start end exit-status args..." to $tmp/trace.log
	wrap() {
		cat >"$tmp/trace/$1" <<EOF2
#!/bin/bash
s=\$EPOCHREALTIME
$2 "\$@"
rc=\$?
echo "$1 \$s \$EPOCHREALTIME \$rc \$*" >>$tmp/trace.log
exit \$rc
EOF2
		chmod +x "$tmp/trace/$1"
	}
	mkdir -p "$tmp/trace"
	wrap runc "$(command -v runc)"
	wrap sdocker-runc "$bin/sdocker-runc"
	runtime=$tmp/trace/sdocker-runc
	export PATH="$tmp/trace:$PATH"
fi

echo "bench: kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
crictl_log=
[ "${TRACE:-0}" != 1 ] || crictl_log=$tmp/crictl.log
(cd "$repo" && SDOCKER_RUNC=$runtime CRI_BENCH=1 CRI_BENCH_CRICTL_LOG=$crictl_log CRI_BENCH_REPORT=$tmp/report.md \
	CRI_BENCH_RUNS=${RUNS:-20} CRI_BENCH_WARMUP=${WARMUP:-2} \
	CRI_BENCH_PODS=${PODS:-30} CRI_BENCH_ROUNDS=${ROUNDS:-2} \
	go test -count=1 -timeout 1h -run '^TestBench$' -v ./tests/cri) >"$tmp/go-test.log" 2>&1 || {
	cat "$tmp/go-test.log" >&2
	die "the benchmark failed"
}
cat "$tmp/report.md"
[ "${TRACE:-0}" = 1 ] || exit 0
python3 - "$tmp/trace.log" "$tmp/crictl.log" <<'PY'
import bisect, collections, sys
times = collections.defaultdict(list)
calls = []  # (start, end, runtime) of each runtime command
for line in open(sys.argv[1]):
    f = line.split()
    name, start, end, args = f[0], float(f[1]), float(f[2]), f[4:]
    # the subcommand: the first word that is no global option or its value
    i, sub = 0, "?"
    while i < len(args):
        if args[i] in ("--root", "--log", "--log-format"):
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            sub = args[i]
            break
    times[(name, sub)].append((end - start) * 1e3)
    calls.append((start, end, name))
print()
print("runtime commands the shims ran (TRACE=1, each through a bash wrapper)")
print("| runtime | command | count | mean ms | min ms | total s |")
print("|---|---|---|---|---|---|")
total = collections.Counter()
for (name, sub), v in sorted(times.items()):
    print("| %s | %s | %d | %.1f | %.1f | %.2f |" % (name, sub, len(v), sum(v) / len(v), min(v), sum(v) / 1e3))
    total[name] += sum(v) / 1e3
print("all runtime commands: " + ", ".join("%s %.2f s" % kv for kv in sorted(total.items())))
# The crictl commands ran one after another: the runtime commands that
# started within one are its share.
calls.sort()
starts = [c[0] for c in calls]
share = collections.defaultdict(lambda: [0, 0.0, 0.0])  # count, crictl ms, runtime ms
for line in open(sys.argv[2]):
    _, handler, verb, start, end = line.split()
    start, end = float(start), float(end)
    s = share[(handler, verb)]
    s[0] += 1
    s[1] += (end - start) * 1e3
    i = bisect.bisect_left(starts, start)
    while i < len(calls) and calls[i][0] < end:
        s[2] += (calls[i][1] - calls[i][0]) * 1e3
        i += 1
print()
print("the runtime's share of each crictl command (mean ms)")
print("| handler | command | crictl | runtime commands in it | the rest |")
print("|---|---|---|---|---|")
for (handler, verb), (k, c, r) in sorted(share.items()):
    print("| %s | %s | %.1f | %.1f | %.1f |" % (handler, verb, c / k, r / k, (c - r) / k))
PY
