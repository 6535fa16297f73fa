#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The tests' own DPDK ethdev client (dpdk_ethdev_client.c) on the embedded default topology's
# cabled virtio-net pair under `tcemu exec`: every frame length 60..1514 both ways, then a packet
# in a buffer nobody mapped for DMA. Checks the client's own lines, then the exec summary:
#   - the client passed everything and exited 0 (no crash, no hang);
#   - exactly one DMA fault, and it names the device, the bus address the client printed, a read,
#     what the IOMMU held there and the request (tx queue 1 and its descriptor), and the frozen PE;
#   - the devices' counters: each port took and delivered the 1455 packets of each direction and
#     nothing of the faulting packet.
#
# (--file-prefix: its own DPDK runtime directory, so another DPDK primary on the machine does not
# make EAL fail with "Cannot create lock".)
#
# Usage: test_ethdev.sh TCEMU_BINARY DPDK_ETHDEV_CLIENT
# Prints one line per check and closes with "N passed, N failed"; exit status 0 only if all passed.

set -u

case $1 in
/*) TCEMU=$1 ;;
*) TCEMU=$(pwd)/$1 ;;
esac
CLIENT=$2
LENGTHS=1455 # 60..1514
. "$(dirname "$0")/check_lib.sh"
# DPDK's runtime directory for this run, removed at exit with the rest.
prefix=tcemu-ethdev-$$
trap 'rm -rf "$tmp" "/var/run/dpdk/$prefix" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$prefix"' EXIT

cd "$tmp" || exit 1
timeout 240 "$TCEMU" exec --report "$tmp/report.txt" -- "$CLIENT" -l 0 --no-huge -m 128 --iova-mode=va --file-prefix="$prefix" \
	--no-telemetry -a 0000:01:00.0 -a 0000:02:00.0 >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/    client: /' "$tmp/out"
[ $rc -eq 0 ] || tail -n 30 "$tmp/err" >&2
echo "    summary:"
sed 's/^/    | /' "$tmp/report.txt"
iova=$(sed -n 's/^external buffer iova \(0x[0-9a-f]*\)$/\1/p' "$tmp/out")
fault=$(grep "^  1\. device 0000:01:00.0: DMA read at ${iova:-none} faulted: " "$tmp/report.txt")

client_passed() { grep -q "^[0-9]* passed, 0 failed$" "$tmp/out" && ! grep -q "^FAIL" "$tmp/out"; }
one_fault() { grep -q "^DMA faults: 1 (" "$tmp/report.txt"; }
held_nothing() { echo "$fault" | grep -Eq "faulted: (no window|no entry) \(tce 0x0\)"; }
names_request() { echo "$fault" | grep -Eq ", tx queue 1 buffer [0-9]+; PE frozen$"; }
no_other_fault() { ! sed -n '/^DMA faults/,/^devices:/p' "$tmp/report.txt" | grep -q "^  2\. "; }
logged_once() { [ "$(grep -c "^tcemu: warn: .*faulted" "$tmp/err")" -eq 1 ]; }
port_counts() { # BDF: took and delivered LENGTHS packets, dropped none
	grep -q "^  $1 virtio-net: tx $LENGTHS packets (0 dropped), rx $LENGTHS packets (0 dropped, 0 waiting)$" \
		"$tmp/report.txt"
}

check "the client exited with status 0 (got $rc)" [ $rc -eq 0 ]
check "every check of the client passed" client_passed
check "the client printed the external buffer's bus address (${iova:-none})" [ -n "$iova" ]
check "the summary counts exactly one DMA fault" one_fault
check "the fault names the device, the bus address and a read" [ -n "$fault" ]
check "it says what the IOMMU held there (nothing)" held_nothing
check "it names the request (tx queue 1 and its descriptor) and the frozen PE" names_request
check "no other fault" no_other_fault
check "the fault was logged once on stderr" logged_once
check "0000:01:00.0 took $LENGTHS packets and delivered $LENGTHS, nothing of the faulting one" port_counts 0000:01:00.0
check "0000:02:00.0 took $LENGTHS packets and delivered $LENGTHS" port_counts 0000:02:00.0
finish
