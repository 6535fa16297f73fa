#!/bin/sh
# SPDX-License-Identifier: MIT
#
# DPDK 22.11's EAL against the emulated /dev/vfio: runs dpdk_client under `tcemu exec` with
# --no-huge -m 64 and then -m 512 (each in a fresh temporary directory as its working directory)
# and checks the exit status and the summary tcemu exec writes (--report).
#
# Usage: test_dpdk.sh TCEMU_BINARY DPDK_CLIENT
# Prints one line per check and closes with "N passed, N failed"; exit status 0 only if all passed.

set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 TCEMU_BINARY DPDK_CLIENT" >&2
	exit 2
fi

abspath() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

TCEMU=$(abspath "$1")
CLIENT=$(abspath "$2")
passed=0
failed=0
tmpdirs=""

# DPDK's runtime directory for this run (EAL makes it even with --no-shconf), removed at exit.
prefix=tcemu-dpdk-$$
cleanup() {
	for d in $tmpdirs; do
		rm -rf "$d"
	done
	rm -rf "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"
}
trap cleanup EXIT INT TERM

check() {
	# check CONDITION_STATUS MESSAGE
	if [ "$1" -eq 0 ]; then
		echo "ok: $2"
		passed=$((passed + 1))
	else
		echo "FAIL: $2"
		failed=$((failed + 1))
	fi
}

for tool in "$TCEMU" "$CLIENT"; do
	if [ ! -x "$tool" ]; then
		echo "FAIL: $tool is not an executable"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

run() {
	mem=$1
	# --no-huge: 4 KiB memsegs, one per page of the -m megabytes.
	expect=$((mem * 256))
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tcemu-dpdk.XXXXXX") || {
		check 1 "-m $mem: mktemp"
		return
	}
	tmpdirs="$tmpdirs $dir"
	report="$dir/report.txt"

	(cd "$dir" && exec "$TCEMU" exec --report "$report" -- "$CLIENT" \
		--no-huge -m "$mem" --no-pci --no-shconf -l 0 --iova-mode=va --no-telemetry --file-prefix="$prefix") \
		>"$dir/stdout" 2>"$dir/stderr"
	status=$?
	check $status "-m $mem: tcemu exec -- dpdk_client exits 0 (status $status)"
	if [ $status -ne 0 ]; then
		echo "  --- client output (failed checks and last lines) ---"
		grep '^FAIL' "$dir/stdout" | sed 's/^/  /'
		tail -n 5 "$dir/stdout" | sed 's/^/  /'
		echo "  --- stderr (last lines) ---"
		tail -n 15 "$dir/stderr" | sed 's/^/  /'
	fi
	tail -n 1 "$dir/stdout" | grep -q '^[0-9][0-9]* passed, 0 failed$'
	check $? "-m $mem: the client's own checks: $(tail -n 1 "$dir/stdout")"

	memsegs=$(sed -n 's/^memsegs: \([0-9][0-9]*\)$/\1/p' "$dir/stdout" | head -n 1)
	[ -n "$memsegs" ] && [ "$memsegs" -eq "$expect" ]
	check $? "-m $mem: the client counted ${memsegs:-no} memsegs, expected $expect"
	[ -n "$memsegs" ] || memsegs=$expect

	if [ ! -s "$report" ]; then
		check 1 "-m $mem: tcemu exec wrote the report $report"
		return
	fi
	grep -q 'rte_vfio_container_dma_unmap' "$report"
	check $? "-m $mem: the report names the rte_vfio_container_dma_unmap defect"

	peak=$(sed -n 's/^entries mapped: \([0-9][0-9]*\) at peak.*/\1/p' "$report" | head -n 1)
	[ -n "$peak" ] && [ "$peak" -ge "$memsegs" ]
	check $? "-m $mem: entries mapped at peak ${peak:-(missing)} >= memsegs $memsegs"
}

run 64
run 512

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
