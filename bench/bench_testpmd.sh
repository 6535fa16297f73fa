#!/usr/bin/env bash
# Unmodified dpdk-testpmd io forwarding (--tx-first) on the default topology's cabled virtio-net
# pair under tcemu exec, for SECONDS seconds a run: every ring and buffer access of the device
# models translated through the TCEs, against the same models with translation bypassed (tcemu
# exec --bench-dma-identity: the DMA engine's benchmark-only identity mode). The two are
# alternated, RUNS runs each; prints Mpps and ns per forwarded packet (min / median over the runs)
# and the ratio translated / identity of the medians (goal: at least 0.8).
# Packets forwarded = the sum of testpmd's TX-packets over both ports at exit.
# Usage: bench_testpmd.sh TCEMU [RUNS] [SECONDS] [TESTPMD]
set -u
tcemu=$1 runs=${2:-3} secs=${3:-3} testpmd=${4:-dpdk-testpmd}
command -v "$testpmd" >/dev/null 2>&1 || { echo "$testpmd not installed (Debian package dpdk-dev): skipped"; exit 0; }
tmp=$(mktemp -d)
pid=""
prefix=tcemu-bench-$$ # DPDK's runtime directory for this run, removed at exit
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp" "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"' EXIT

# One run: prints "<packets> <seconds>" (0 0 when it failed). $1: "translated" or "identity".
run() {
	local flag=() t0 t1 n=0 fwd
	[ "$1" = identity ] && flag=(--bench-dma-identity)
	rm -f "$tmp/in" "$tmp/out"
	mkfifo "$tmp/in"
	exec 3<>"$tmp/in"
	stdbuf -oL "$tcemu" exec "${flag[@]}" -- "$testpmd" -l 0-1 --no-huge -m 512 --iova-mode=va --no-telemetry --file-prefix="$prefix" \
		-a 0000:01:00.0 -a 0000:02:00.0 -- --total-num-mbufs=4096 --no-lsc-interrupt --forward-mode=io \
		--tx-first <"$tmp/in" >"$tmp/out" 2>"$tmp/err.$1" &
	pid=$!
	until grep -q "Press enter to exit" "$tmp/out" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null && [ $n -lt 1800 ] || break
		sleep 0.1
		n=$((n + 1))
	done
	t0=$(date +%s.%N)
	sleep "$secs"
	echo >&3
	t1=$(date +%s.%N)
	wait "$pid"
	pid=""
	exec 3>&-
	fwd=$(sed -n '/Accumulated forward statistics for all ports/,/+++++/p' "$tmp/out" |
		sed -n 's/.*TX-packets: *\([0-9]*\).*/\1/p' | head -n 1)
	awk -v p="${fwd:-0}" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d %.6f\n", p, p ? b - a : 0 }'
}

printf 'dpdk-testpmd io forwarding, %d s a run, %d runs of each, alternated (figures are noisy on a shared machine)\n' \
	"$secs" "$runs"
for ((i = 0; i < runs; i++)); do
	run translated >>"$tmp/translated"
	run identity >>"$tmp/identity"
done
grep -q "identity mode" "$tmp/err.identity" || echo "  warning: the identity runs did not report identity mode"
awk '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
FNR == 1 { name = FILENAME ~ /identity$/ ? "identity" : "translated" }
{ if ($1 > 0 && $2 > 0) v[name, ++n[name]] = $1 / $2 / 1e6; else bad[name]++ }
END {
	for (k = 0; k < 2; k++) {
		name = k ? "identity" : "translated"
		m = n[name]; delete a
		for (i = 1; i <= m; i++) a[i] = v[name, i]
		sort(a, m)
		if (!m) { printf "  %-11s no successful run\n", name; continue }
		md[name] = m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		printf "  %-11s %6.3f / %6.3f Mpps (min / median), %7.1f / %7.1f ns/packet (max / median)%s\n",
			name, a[1], md[name], 1e3 / a[1], 1e3 / md[name], bad[name] ? sprintf(", %d runs failed", bad[name]) : ""
	}
	if (md["translated"] && md["identity"])
		printf "  ratio translated / identity (medians): %.3f (goal >= 0.8)\n", md["translated"] / md["identity"]
}' "$tmp/translated" "$tmp/identity"
