#!/usr/bin/env bash
# DPDK 22.11 under tcemu exec: wall time of a whole EAL run (init, VFIO set-up, 16384 or 131072
# REGISTER+MAP pairs, user map/unmap, cleanup) and its VFIO ioctls per second; then, for -m 512,
# the same EAL start alone (bench_eal without tcemu: no VFIO) as the reference, and bench_eal under
# tcemu exec split by phase (EAL start, registration, mapping, the rest of the device set-up,
# teardown, and what is outside them: process start and exit, tcemu exec's own set-up), with the
# ratio of the whole run to the reference (goal: at most 3); then the shim's overhead measured in
# one process against direct library calls (bench_shim).
# Usage: bench_dpdk.sh TCEMU DPDK_CLIENT BENCH_SHIM BENCH_EAL [RUNS]
set -u
tcemu=$1 client=$2 shim=$3 eal=$4 runs=${5:-3}
tmp=$(mktemp -d)
prefix=tcemu-bench-dpdk-$$ # DPDK's runtime directory for this run, removed at exit
trap 'rm -rf "$tmp" "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"' EXIT
args=(--no-huge --no-pci --no-shconf -l 0 --iova-mode=va --no-telemetry --file-prefix="$prefix")
printf 'DPDK 22.11 under tcemu exec (--no-huge --no-pci -l 0 --iova-mode=va)\n'
for mem in 64 512; do
	start=$(date +%s.%N)
	"$tcemu" exec --report "$tmp/r" -- "$client" -m "$mem" "${args[@]}" >/dev/null 2>&1
	rc=$?
	end=$(date +%s.%N)
	calls=$(sed -n 's/^VFIO calls: \([0-9]*\) ioctls.*/\1/p' "$tmp/r")
	awk -v m="$mem" -v s="$start" -v e="$end" -v c="${calls:-0}" -v rc="$rc" 'BEGIN {
		t = e - s; printf "  -m %-4s %7.2f s wall, %7d ioctls, %9.0f ioctls/s%s\n", m, t, c, c / t,
			rc ? "  (the run failed)" : "" }'
done

# One timed run: "<wall seconds> <bench_eal's phases line>"; under tcemu exec if $1 is "tcemu".
timed() {
	local start end out
	start=$(date +%s.%N)
	if [ "$1" = tcemu ]; then
		out=$("$tcemu" exec -- "$eal" -m 512 "${args[@]}" 2>/dev/null | grep '^phases:')
	else
		out=$("$eal" -m 512 "${args[@]}" 2>/dev/null | grep '^phases:')
	fi
	end=$(date +%s.%N)
	echo "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", e - s }') ${out:-phases: failed}"
}

printf '\n-m 512 by phase, %d runs of each, alternated (min / median seconds):\n' "$runs"
for ((i = 0; i < runs; i++)); do
	timed alone >>"$tmp/alone"
	timed tcemu >>"$tmp/tcemu"
done
awk -v runs="$runs" '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
function stat(name, col, what,   i, n, v) {
	n = 0
	for (i = 1; i <= nr[name]; i++) v[++n] = val[name, i, col]
	sort(v, n); mn[name, col] = v[1]; md[name, col] = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	if (what != "") printf "  %-44s %8.3f / %8.3f\n", what, mn[name, col], md[name, col]
}
FNR == 1 { name = FILENAME ~ /alone$/ ? "alone" : "tcemu" }
$2 == "phases:" && $3 == "eal" {
	k = ++nr[name]
	# wall eal setup register map teardown, then the rest
	val[name, k, 1] = $1; val[name, k, 2] = $4; val[name, k, 3] = $6; val[name, k, 4] = $8
	val[name, k, 5] = $11; val[name, k, 6] = $14
	val[name, k, 7] = $6 - $8 - $11
	val[name, k, 8] = $1 - $4 - $6 - $14
	nreg = $9; nmap = $12
}
END {
	if (!nr["alone"] || !nr["tcemu"]) { print "  (bench_eal failed)"; exit 1 }
	stat("alone", 1, "EAL start alone, whole run (reference)")
	stat("alone", 2, "  of which rte_eal_init")
	stat("tcemu", 1, "under tcemu exec, whole run")
	stat("tcemu", 2, "  EAL start (rte_eal_init)")
	stat("tcemu", 4, sprintf("  registration (%d REGISTER ioctls)", nreg))
	stat("tcemu", 5, sprintf("  mapping (%d MAP_DMA ioctls)", nmap))
	stat("tcemu", 7, "  the rest of rte_vfio_setup_device")
	stat("tcemu", 6, "  teardown (release, cleanup, container close)")
	stat("tcemu", 8, "  outside: process start/exit, tcemu exec")
	printf "  %-44s %8.2f / %8.2f  (goal <= 3: %s)\n", "ratio, whole run under tcemu / alone",
		mn["tcemu", 1] / mn["alone", 1], md["tcemu", 1] / md["alone", 1],
		md["tcemu", 1] / md["alone", 1] <= 3 ? "met" : "NOT met"
	printf "  %-44s %8.0f / %8.0f ns\n", "per REGISTER / per MAP_DMA (median)",
		md["tcemu", 4] / nreg * 1e9, md["tcemu", 5] / nmap * 1e9
}' "$tmp/alone" "$tmp/tcemu"
"$tcemu" exec -- "$shim" 2>/dev/null
