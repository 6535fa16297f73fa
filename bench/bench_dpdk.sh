#!/usr/bin/env bash
# DPDK 22.11 under tcemu exec: wall time of a whole EAL run (init, VFIO set-up, 16384 or 131072
# REGISTER+MAP pairs, user map/unmap, cleanup) and its VFIO ioctls per second; then the shim's
# overhead measured in one process against direct library calls (bench_shim).
# Usage: bench_dpdk.sh TCEMU DPDK_CLIENT BENCH_SHIM
set -u
tcemu=$1 client=$2 shim=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'DPDK 22.11 under tcemu exec (--no-huge --no-pci -l 0 --iova-mode=va)\n'
for mem in 64 512; do
	start=$(date +%s.%N)
	"$tcemu" exec --report "$tmp/r" -- "$client" --no-huge -m "$mem" --no-pci --no-shconf -l 0 \
		--iova-mode=va --no-telemetry >/dev/null 2>&1
	rc=$?
	end=$(date +%s.%N)
	calls=$(sed -n 's/^VFIO calls: \([0-9]*\) ioctls.*/\1/p' "$tmp/r")
	awk -v m="$mem" -v s="$start" -v e="$end" -v c="${calls:-0}" -v rc="$rc" 'BEGIN {
		t = e - s; printf "  -m %-4s %7.2f s wall, %7d ioctls, %9.0f ioctls/s%s\n", m, t, c, c / t,
			rc ? "  (the run failed)" : "" }'
done
"$tcemu" exec -- "$shim" 2>/dev/null
