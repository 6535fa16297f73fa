#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Unmodified dpdk-testpmd (DPDK 22.11, Debian package dpdk-dev) on the embedded default topology
# under `tcemu exec`: the cabled virtio-net pair 0000:01:00.0 <-> 0000:02:00.0 (groups 0 and 1),
# io forwarding started with --tx-first, for about FORWARD_SECONDS seconds. testpmd runs without
# -i and waits for a line on stdin: the script gives it one, through a FIFO, FORWARD_SECONDS after
# testpmd said "Press enter to exit" (so testpmd itself exits normally and its exit handlers write
# tcemu's summary; no timeout wrapper in between). Then:
#   - testpmd exited 0 and forwarded packets both ways;
#   - testpmd's counters agree with the devices' (the "devices:" lines of the summary): what a
#     port transmitted is what its device took, and the peer device delivered it or dropped it
#     (rx = peer tx - dropped - waiting); testpmd received what the device delivered, except for
#     at most one ring (256) delivered after testpmd stopped polling;
#   - no DMA fault, the summary names both devices.
#
# (--file-prefix: its own DPDK runtime directory, named for this run, so another DPDK primary on
# the machine, or another run of this test, does not make EAL fail with "Cannot create lock".)
#
# Usage: test_testpmd.sh TCEMU_BINARY [TESTPMD]
# Prints one line per check and closes with "N passed, N failed"; exit status 0 only if all passed
# (77, meson's skip, when dpdk-testpmd is not installed).

set -u

case $1 in
/*) TCEMU=$1 ;;
*) TCEMU=$(pwd)/$1 ;;
esac
TESTPMD=${2:-dpdk-testpmd}
FORWARD_SECONDS=${FORWARD_SECONDS:-3}
RING=256
passed=0
failed=0

command -v "$TESTPMD" >/dev/null 2>&1 || { echo "$TESTPMD not installed (Debian package dpdk-dev): skipped"; exit 77; }

tmp=$(mktemp -d /tmp/tcemu-testpmd-XXXXXX)
prefix=tcemu-testpmd-${tmp##*-}
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$tmp"
	rm -rf "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix" 2>/dev/null
}
trap cleanup EXIT INT TERM

check() {
	# check CONDITION_STATUS MESSAGE
	if [ "$1" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $2"
	else
		failed=$((failed + 1))
		echo "FAIL $2"
	fi
}

# A field of testpmd's "Forward statistics for port N" block: fwd PORT RX-packets|TX-packets
fwd() {
	sed -n "/Forward statistics for port $1 /,/-----------------------------------------/p" "$tmp/out" |
		sed -n "s/.*$2: *\([0-9]*\).*/\1/p" | head -n 1
}
# A device counter from the summary: dev BDF FIELD (tx, txdrop, rx, rxdrop, wait)
dev() {
	line=$(grep "^  $1 virtio-net:" "$tmp/report.txt")
	case $2 in
	tx) echo "$line" | sed -n 's/.*: tx \([0-9]*\) packets.*/\1/p' ;;
	txdrop) echo "$line" | sed -n 's/.*: tx [0-9]* packets (\([0-9]*\) dropped).*/\1/p' ;;
	rx) echo "$line" | sed -n 's/.*, rx \([0-9]*\) packets.*/\1/p' ;;
	rxdrop) echo "$line" | sed -n 's/.*, rx [0-9]* packets (\([0-9]*\) dropped.*/\1/p' ;;
	wait) echo "$line" | sed -n 's/.*dropped, \([0-9]*\) waiting).*/\1/p' ;;
	esac
}

mkfifo "$tmp/in" || exit 1
exec 3<>"$tmp/in" # held open: testpmd's read of stdin blocks until the script writes the line
cd "$tmp" || exit 1
# stdbuf: testpmd's stdout is a file here, "Press enter to exit" must arrive before the line
stdbuf -oL "$TCEMU" exec --report "$tmp/report.txt" -- "$TESTPMD" -l 0-1 --no-huge -m 512 --iova-mode=va \
	--no-telemetry --file-prefix="$prefix" -a 0000:01:00.0 -a 0000:02:00.0 -- --total-num-mbufs=4096 --no-lsc-interrupt \
	--forward-mode=io --tx-first <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
waited=0
until grep -q "Press enter to exit" "$tmp/out" 2>/dev/null; do
	if ! kill -0 "$pid" 2>/dev/null || [ $waited -ge 120 ]; then
		break
	fi
	sleep 1
	waited=$((waited + 1))
done
grep -q "Press enter to exit" "$tmp/out"
check $? "testpmd started forwarding (after ${waited}s of start-up)"
sleep "$FORWARD_SECONDS"
echo >&3
wait "$pid"
rc=$?
pid=""
check $rc "testpmd exited with status 0 (got $rc)"
[ $rc -eq 0 ] || { tail -n 30 "$tmp/out" "$tmp/err" >&2; }

cat "$tmp/out" "$tmp/err" >"$tmp/all"
grep -q "Probe PCI driver: net_virtio (1af4:1000) device: 0000:01:00.0" "$tmp/all" &&
	grep -q "Probe PCI driver: net_virtio (1af4:1000) device: 0000:02:00.0" "$tmp/all"
check $? "net_virtio probed both ports"

rx0=$(fwd 0 RX-packets) tx0=$(fwd 0 TX-packets) rx1=$(fwd 1 RX-packets) tx1=$(fwd 1 TX-packets)
echo "     testpmd: port 0 rx ${rx0:-?} tx ${tx0:-?}, port 1 rx ${rx1:-?} tx ${tx1:-?}"
[ "${rx0:-0}" -gt $RING ] && [ "${rx1:-0}" -gt $RING ] && [ "${tx0:-0}" -gt $RING ] && [ "${tx1:-0}" -gt $RING ]
check $? "packets flowed both ways (more than a ring each way)"

grep -q "^devices:" "$tmp/report.txt"
check $? "the summary has the devices' counters"
grep "^  0000:0[12]:00.0 virtio-net:" "$tmp/report.txt" | sed 's/^/    /'
a_tx=$(dev 0000:01:00.0 tx) a_txd=$(dev 0000:01:00.0 txdrop) a_rx=$(dev 0000:01:00.0 rx)
a_rxd=$(dev 0000:01:00.0 rxdrop) a_w=$(dev 0000:01:00.0 wait)
b_tx=$(dev 0000:02:00.0 tx) b_txd=$(dev 0000:02:00.0 txdrop) b_rx=$(dev 0000:02:00.0 rx)
b_rxd=$(dev 0000:02:00.0 rxdrop) b_w=$(dev 0000:02:00.0 wait)
[ -n "$a_tx" ] && [ -n "$b_tx" ] && [ -n "$a_w" ] && [ -n "$b_w" ]
check $? "both ports' counters are in the summary"

[ "${a_tx:-x}" = "${tx0:-y}" ] && [ "${b_tx:-x}" = "${tx1:-y}" ] && [ "${a_txd:-1}" -eq 0 ] && [ "${b_txd:-1}" -eq 0 ]
check $? "each device took every packet testpmd transmitted on its port"
[ $(( ${a_rx:-0} + ${a_rxd:-0} + ${a_w:-0} )) -eq "${b_tx:-1}" ] && [ $(( ${b_rx:-0} + ${b_rxd:-0} + ${b_w:-0} )) -eq "${a_tx:-1}" ]
check $? "what one port sent, the other delivered, dropped or holds (the cable loses nothing)"
d0=$(( ${a_rx:-0} - ${rx0:-0} )) d1=$(( ${b_rx:-0} - ${rx1:-0} ))
[ $d0 -ge 0 ] && [ $d0 -le $RING ] && [ $d1 -ge 0 ] && [ $d1 -le $RING ]
check $? "testpmd received what the devices delivered (less at most one ring after it stopped: $d0, $d1)"

grep -q "^DMA faults: 0" "$tmp/report.txt" || ! grep -q "^DMA faults" "$tmp/report.txt"
check $? "no DMA fault"
! grep -q "faulted" "$tmp/report.txt" "$tmp/err"
check $? "no device fault logged"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
