#!/usr/bin/env bash
# A POWER guest with a passed-through device, against itself without it (ratios in the same run):
#   1. boot to power-off (the guest's /run does nothing): unmodified QEMU 7.2 pseries with
#      `-device vfio-pci` on tcemu's virtio-blk under `tcemu exec`, against the same QEMU and guest
#      without the device and without tcemu. Goal: at most 1.10x wall time.
#   2. the guest's sequential direct reads of 1 MiB (tools/guest/disk-test.sh bench=MIB: passes
#      over a 64 MiB disk), the passed-through virtio-blk with the dynamic DMA window against the
#      same image attached as QEMU's own emulated virtio-blk (`-drive if=virtio`). Goal: at least
#      0.5 of its throughput.
# RUNS runs of each, alternated; min and median of wall time (and of user+sys CPU time, which a
# loaded machine disturbs less). Figures only: nothing is asserted. The guest is built by
# tools/guest/build-guest.sh (its cache, TCEMU_GUEST_CACHE, downloads once).
# Usage: bench_guest_boot.sh TCEMU [RUNS] [READ_MIB]
set -u
tcemu=$1 runs=${2:-3} read_mib=${3:-256}
here=$(cd "$(dirname "$0")" && pwd)
guest_tools=$here/../tools/guest
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
QEMU=${QEMU:-qemu-system-ppc64}
BDF=0000:01:00.0
command -v "$QEMU" >/dev/null || { echo "bench_guest_boot: $QEMU is not installed (qemu-system-ppc)"; exit 1; }

printf '#!/bin/sh\nexit 0\n' >"$tmp/nop.sh"
sh "$guest_tools/build-guest.sh" --run "$tmp/nop.sh" "$tmp/nop" 2>"$tmp/build.err" &&
	sh "$guest_tools/build-guest.sh" --run "$guest_tools/disk-test.sh" "$tmp/disk" 2>>"$tmp/build.err" ||
	{ cat "$tmp/build.err"; echo "bench_guest_boot: the guest cannot be built"; exit 1; }
truncate -s 64M "$tmp/disk.img"
dd if=/dev/urandom of="$tmp/disk.img" bs=1M count=64 conv=notrunc status=none
cat >"$tmp/topo" <<EOF
page-size 4K
memlock unlimited
phb 0 ioda3 dma32=2G
  pe 1 group=0
    device $BDF model=virtio-blk disk=$tmp/disk.img
EOF

# qemu KERNEL_DIR APPEND [ARGS...]: the common command line
qemu_cmd() {
	local dir=$1 append=$2
	shift 2
	echo "$QEMU" -M pseries -cpu POWER9 -m 1G -nographic -vga none -no-reboot \
		-kernel "$tmp/$dir/vmlinux" -initrd "$tmp/$dir/initrd.gz" -append "'console=hvc0 quiet $append'" "$@"
}
# timed OUT CMD...: runs CMD; appends "wall cpu" (seconds) to OUT.times; its output in OUT.log
timed() {
	local out=$1 t
	shift
	TIMEFORMAT='%R %U %S'
	t=$( { time "$@" </dev/null >"$out.log" 2>&1; } 2>&1 )
	echo "$t" | awk '{ printf "%s %.3f\n", $1, $2 + $3 }' >>"$out.times"
}
with_device() { # DIR APPEND
	"$tcemu" exec --topology "$tmp/topo" -- sh -c "exec $(qemu_cmd "$1" "$2") -device vfio-pci,sysfsdev=\$TCEMU_SYSFS_PCI_DEVICES/$BDF"
}
without_device() { # DIR APPEND [QEMU ARGS...]
	local dir=$1 append=$2
	shift 2
	sh -c "exec $(qemu_cmd "$dir" "$append") $*"
}
# stats FILE COLUMN: "min median"
stats() { sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { printf "%.2f %.2f", v[1], v[int((NR + 1) / 2)] }'; }

echo "guest boot to power-off, QEMU 7.2 pseries TCG, 1 GiB, $(grep -o 'linux-image-[^)]*' "$tmp/build.err" | head -n 1) ($runs runs each)"
for i in $(seq "$runs"); do
	timed "$tmp/plain" without_device nop ""
	timed "$tmp/vfio" with_device nop ""
done
read -r pmin pmed <<<"$(stats "$tmp/plain.times" 1)"
read -r vmin vmed <<<"$(stats "$tmp/vfio.times" 1)"
read -r pcmin pcmed <<<"$(stats "$tmp/plain.times" 2)"
read -r vcmin vcmed <<<"$(stats "$tmp/vfio.times" 2)"
grep -q 'reboot: Power down' "$tmp/vfio.log" || echo "  (the boot with the device did not reach power-off: see below)"
awk -v pm="$pmin" -v pd="$pmed" -v vm="$vmin" -v vd="$vmed" -v pcm="$pcmin" -v pcd="$pcmed" -v vcm="$vcmin" -v vcd="$vcmed" 'BEGIN {
	printf "  without the device:           wall %6.2f s min %6.2f s median   cpu %6.2f s min %6.2f s median\n", pm, pd, pcm, pcd
	printf "  with the passed-through disk: wall %6.2f s min %6.2f s median   cpu %6.2f s min %6.2f s median\n", vm, vd, vcm, vcd
	printf "  ratio with/without: wall %.2fx (min) %.2fx (median), cpu %.2fx (median)   (goal: wall <= 1.10x)\n",
		vm / pm, vd / pd, vcd / pcd }'

echo "guest sequential direct reads of 1 MiB, $read_mib MiB per run ($runs runs each)"
for i in $(seq "$runs"); do
	timed "$tmp/rd_vfio" with_device disk "-- bench=$read_mib"
	sed -n 's/.*read_mbps=\([0-9]*\).*/\1/p' "$tmp/rd_vfio.log" >>"$tmp/rd_vfio.mbps"
	timed "$tmp/rd_emu" without_device disk "-- bench=$read_mib" -drive "file=$tmp/disk.img,if=virtio,format=raw"
	sed -n 's/.*read_mbps=\([0-9]*\).*/\1/p' "$tmp/rd_emu.log" >>"$tmp/rd_emu.mbps"
done
mbps() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (!NR) print "0 0"; else printf "%d %d", v[NR], v[int((NR + 1) / 2)] }'; }
read -r vbest vmed <<<"$(mbps "$tmp/rd_vfio.mbps")"
read -r ebest emed <<<"$(mbps "$tmp/rd_emu.mbps")"
awk -v vb="$vbest" -v vd="$vmed" -v eb="$ebest" -v ed="$emed" 'BEGIN {
	printf "  tcemu virtio-blk (vfio-pci, dynamic window): %5d MB/s best %5d MB/s median\n", vb, vd
	printf "  QEMU virtio-blk (-drive if=virtio):          %5d MB/s best %5d MB/s median\n", eb, ed
	printf "  ratio tcemu/QEMU: %.2f (best) %.2f (median)   (goal: >= 0.5)\n", eb ? vb / eb : 0, ed ? vd / ed : 0 }'
[ -s "$tmp/rd_vfio.mbps" ] || { echo "  (no figure from the passed-through disk:)"; tail -n 20 "$tmp/rd_vfio.log"; }
[ -s "$tmp/rd_emu.mbps" ] || { echo "  (no figure from QEMU's disk:)"; tail -n 20 "$tmp/rd_emu.log"; }
echo "(timings on a shared machine are indicative)"
