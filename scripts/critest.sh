#!/usr/bin/env bash
# The whole of critest (cri-tools' CRI validation suite, pinned in
# tools/cri/go.mod) against the containerd of tests/cri, once with the
# sdocker handler (sdocker-runc) and once with runc; prints the counts and
# every spec whose result differs or fails side by side, as markdown (the
# table of the README's "Kubernetes (CRI)" section), and keeps it in
# $CRITEST_REPORT_DIR/critest.md (default: a temp dir, printed).
# Needs root, containerd, runc and containernetworking-plugins. Takes long:
# CI runs only a subset (go test ./tests/cri).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
report_dir=${CRITEST_REPORT_DIR:-$(mktemp -d /tmp/sdocker-critest-XXXXXX)}
mkdir -p "$report_dir"
CRITEST_FULL=1 CRITEST_REPORT_DIR="$report_dir" \
	go test -count=1 -timeout 4h -run '^TestCritest$' -v ./tests/cri >"$report_dir/go-test.log" 2>&1 || {
	echo "critest.sh: go test failed, see $report_dir/go-test.log" >&2
	tail -30 "$report_dir/go-test.log" >&2
	exit 1
}
cat "$report_dir/critest.md"
echo "critest.sh: report in $report_dir" >&2
