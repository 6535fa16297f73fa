#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A POWER guest drives a passed-through device: unmodified QEMU 7.2 (`qemu-system-ppc64 -M
# pseries`, TCG) under `tcemu exec`, a Debian 12 ppc64el Linux guest (tools/guest/build-guest.sh)
# whose virtio_pci driver binds the emulated virtio-blk (`-device vfio-pci,sysfsdev=...`) through
# the modern interface with VIRTIO_F_ACCESS_PLATFORM, so that every byte the device moves goes
# through the TCE tables QEMU programs from the guest's hypercalls. Four boots: the dynamic DMA
# window on and off (`-global spapr-pci-host-bridge.ddw=off`) x MSI-X and INTx (`pci=nomsi` on the
# guest's command line). In each, the guest (tools/guest/disk-test.sh) writes random patterns
# with O_DIRECT in block sizes 512, 4K, 64K and 1M, reads them back and compares them, checks a
# pattern the host wrote into the image before boot, writes one the host checks after power-off,
# and powers off. Then the exec summary: windows created, entries mapped at peak, bytes moved by
# the device's DMA, no DMA fault, nothing mapped, registered or locked after the release at exit,
# the boot-time window clear as one note, stderr small. A fifth boot injects a DMA fault into the
# running device (the model's fault-file debug control) and checks what the guest's EEH recovery
# does through QEMU (docs/exec.md, "EEH").
#
# Usage: test_qemu_guest.sh TCEMU_BINARY [CASE...]   (cases: ddw-msix ddw-intx noddw-msix
#        noddw-intx eeh; default all)
# The guest's packages come from Debian's ppc64el archive through apt, once, into
# $TCEMU_GUEST_CACHE (default /var/cache/tcemu/guest). Without network or without
# qemu-system-ppc64 the test says so and FAILS: it never passes without running. (Set
# TCEMU_SKIP_GUEST=1 to skip it explicitly, with meson's skip status 77.)
# Prints one line per check and closes with "N passed, N failed".
set -u

case $1 in
/*) TCEMU=$1 ;;
*) TCEMU=$(pwd)/$1 ;;
esac
shift
cases=${*:-ddw-msix ddw-intx noddw-msix noddw-intx eeh}
here=$(cd "$(dirname "$0")" && pwd)
guest_tools=$here/../tools/guest
QEMU=${QEMU:-qemu-system-ppc64}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
BDF=0000:01:00.0
DISK_MIB=64
HOST_MIB=48  # the host's pattern: 1 MiB at 48 MiB
GUEST_MIB=56 # the guest's pattern: 1 MiB at 56 MiB
SIZES=512,4096,65536,1048576
AREA_KIB=1024

if [ "${TCEMU_SKIP_GUEST:-}" = 1 ]; then
	echo "TCEMU_SKIP_GUEST=1: the QEMU guest test is skipped"
	exit 77
fi
passed=0 failed=0
. "$here/check_lib.sh"
trap '[ -z "${qpid:-}" ] || kill "$qpid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
note() { echo "     $*"; }

if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "FAIL $QEMU is not installed (Debian package qemu-system-ppc; make deps installs it)"
	failed=1
	finish
	exit 1
fi

# The guest: Debian's ppc64el kernel and busybox (cached), an initramfs with disk-test.sh as /run.
sh "$guest_tools/build-guest.sh" --run "$guest_tools/disk-test.sh" "$tmp/guest" 2>"$tmp/build.err"
rc=$?
if [ $rc -ne 0 ]; then
	sed 's/^/  /' "$tmp/build.err"
	if [ $rc -eq 3 ]; then
		echo "FAIL the guest cannot be built: Debian's ppc64el packages are not reachable (network or mirror) and not in the cache ${TCEMU_GUEST_CACHE:-/var/cache/tcemu/guest}"
	else
		echo "FAIL the guest cannot be built (tools/guest/build-guest.sh exited $rc)"
	fi
	failed=1
	finish
	exit 1
fi
note "guest: $(grep -o 'linux-image-[^)]*' "$tmp/build.err" | head -n 1)"

# One disk image per boot, with the host's pattern; a topology with the disk behind one PE.
host_pattern() { yes tcemu-host-wrote-this | head -c 1048576; }
guest_pattern() { yes "$1" | head -c 1048576; }
new_disk() { # FILE
	truncate -s ${DISK_MIB}M "$1" && host_pattern | dd of="$1" bs=1M seek=$HOST_MIB conv=notrunc status=none
}
host_md5=$(host_pattern | md5sum | cut -d' ' -f1)
topology() { # DISK [EXTRA]
	cat <<EOF
# the QEMU guest test: one POWER9 PHB, one PE, a virtio-blk on the disk image
page-size 4K
memlock unlimited       # QEMU registers all guest RAM (1 GiB)
phb 0 ioda3 dma32=2G
  pe 1 group=0
    device $BDF model=virtio-blk disk=$1${2:+ $2}
EOF
}

# boot NAME APPEND_EXTRA GUEST_ARGS [QEMU_ARGS...]: one boot to power-off under tcemu exec; the
# console and stderr in $tmp/NAME.log, the summary in $tmp/NAME.report, the status in $rc.
# With $FIFO set, QEMU's stdin (the guest's console) is that FIFO.
boot() {
	local name=$1 append=$2 gargs=$3
	shift 3
	APPEND="console=hvc0 quiet $append -- $gargs" \
	K=$tmp/guest/vmlinux I=$tmp/guest/initrd.gz QEMU=$QEMU BDF=$BDF \
	timeout "$BOOT_TIMEOUT" "$TCEMU" exec ${TRACE:+--trace} --topology "$tmp/$name.topo" --report "$tmp/$name.report" -- \
		sh -c 'exec "$QEMU" -M pseries -cpu POWER9 -m 1G -nographic -vga none -no-reboot \
			-kernel "$K" -initrd "$I" -append "$APPEND" \
			-device vfio-pci,sysfsdev="$TCEMU_SYSFS_PCI_DEVICES/$BDF" "$@"' qemu "$@" \
		<"${FIFO:-/dev/null}" >"$tmp/$name.log" 2>&1
	rc=$?
}

# A number from the summary: field NAME PATTERN (sed, with one group)
field() { sed -n "s/$2/\1/p" "$tmp/$1.report" | head -n 1; }

guest_passed() { # NAME
	local name=$1
	grep -q '^tcemu-guest-test: [0-9]* passed, 0 failed' "$tmp/$name.log" &&
	grep -q '^tcemu-guest: /run exited with status 0' "$tmp/$name.log" || {
		grep '^tcemu-guest\|FAIL\|Kernel panic\|BUG' "$tmp/$name.log" | sed 's/^/  /' >&2
		tail -n 30 "$tmp/$name.log" | sed 's/^/  | /' >&2
		return 1
	}
}

# run_case NAME DDW(1|0) IRQ(msix|intx)
run_case() {
	local name=$1 ddw=$2 irq=$3 append="" qargs=() word="tcemu-guest-wrote-$1"
	[ "$irq" = intx ] && append="pci=nomsi"
	[ "$ddw" = 0 ] && qargs=(-global spapr-pci-host-bridge.ddw=off)
	new_disk "$tmp/$name.img" && topology "$tmp/$name.img" >"$tmp/$name.topo"
	local t0=$(date +%s.%N)
	boot "$name" "$append" "dev=/dev/vda modern=1 irq=$irq ddw=$ddw sizes=$SIZES area=$AREA_KIB host=$HOST_MIB:1024:$host_md5 guest=$GUEST_MIB:1024:$word" "${qargs[@]}"
	local t1=$(date +%s.%N)
	note "$name: boot to power-off $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, exit status $rc"
	grep '^tcemu-guest-test: info' "$tmp/$name.log" | sed 's/^tcemu-guest-test: info /       guest: /' | grep -v eeh_log

	check "$name: QEMU exits 0 after the guest powers off" [ "$rc" -eq 0 ]
	check "$name: guest checks pass (modern + ACCESS_PLATFORM, $irq, ddw=$ddw, patterns, host's pattern)" guest_passed "$name"
	check "$name: the host reads the guest's pattern after power-off" \
		cmp -s <(dd if="$tmp/$name.img" bs=1M skip=$GUEST_MIB count=1 status=none) <(guest_pattern "$word")
	local r=$tmp/$name.report
	local windows peak rd wr min_bytes=$(( (4 * AREA_KIB + 1024) * 1024 ))
	windows=$(field "$name" '^windows created: \([0-9]*\)$')
	peak=$(field "$name" '^entries mapped: \([0-9]*\) at peak.*')
	rd=$(field "$name" '^device DMA: \([0-9]*\) bytes read from memory.*')
	wr=$(field "$name" '^device DMA: .*, \([0-9]*\) bytes written to memory.*')
	note "$name: summary: windows created $windows, entries mapped at peak $peak, DMA $rd bytes read from / $wr bytes written to guest memory"
	if [ "$ddw" = 1 ]; then
		# the default window and the guest's dynamic window (1 GiB of 4K host pages: 262144 entries)
		check "$name: 2 windows created, 262144 entries mapped at peak (the guest's direct map)" \
			[ "${windows:-0}" -eq 2 -a "${peak:-0}" -ge 262144 ]
	else
		check "$name: 1 window created, entries mapped per I/O (fewer than 262144 at peak)" \
			[ "${windows:-0}" -eq 1 -a "${peak:-0}" -gt 0 -a "${peak:-0}" -lt 262144 ]
	fi
	check "$name: the device's DMA moved the guest's I/O (>= $min_bytes bytes each way)" \
		[ "${rd:-0}" -ge $min_bytes -a "${wr:-0}" -ge $min_bytes ]
	# direct I/O: every 512-byte block of the first area is a request of its own, each way
	local reqs=$(sed -n "s/^  $BDF virtio-blk: \([0-9]*\) reads ([0-9]* bytes), \([0-9]*\) writes.*/\1 \2/p" "$r")
	note "$name: the disk's requests (reads writes): $reqs"
	check "$name: direct I/O reached the device block by block (>= 2048 requests each way)" \
		[ "${reqs% *}" -ge 2048 -a "${reqs#* }" -ge 2048 ]
	check "$name: no DMA fault" contains "$r" "DMA faults: 0"
	check "$name: nothing mapped, registered or locked after the release at exit" \
		contains "$r" "after closing what was left open: 0 entries mapped, 0 regions registered, 0 B locked"
	check "$name: the boot-time window clear is one note (262144 UNMAP_DMA calls that cleared nothing)" \
		grep -q '^  1\. 262144 UNMAP_DMA calls cleared nothing' "$r"
	local errb=$(grep -v '^tcemu-guest\|^\[' "$tmp/$name.log" | wc -c)
	check "$name: stderr is not flooded ($errb bytes of tcemu and QEMU output)" [ "$errb" -lt 65536 ]
}

# The EEH case: the guest says "eeh-ready" and waits for a console line; the test creates the
# device's fault file (the model's next register read makes a DMA fault: the PE freezes) and
# sends the line; the guest reads the device's status (all ones: EEH detects the frozen PE),
# lets its EEH recovery run, and reports what happened and whether I/O resumed.
run_eeh() {
	local name=eeh fault=$tmp/eeh.fault
	new_disk "$tmp/$name.img" && topology "$tmp/$name.img" "fault-file=$fault" >"$tmp/$name.topo"
	mkfifo "$tmp/console"
	TRACE=1 FIFO=$tmp/console boot "$name" "" "dev=/dev/vda modern=1 eeh=1 sizes=4096 area=64" &
	qpid=$!
	exec 3>"$tmp/console" # hold the FIFO open: QEMU's stdin
	local i=0
	while [ $i -lt "$BOOT_TIMEOUT" ] && ! grep -q '^tcemu-guest-test: eeh-ready' "$tmp/$name.log" 2>/dev/null; do
		sleep 1
		i=$((i + 1))
		kill -0 $qpid 2>/dev/null || break
	done
	touch "$fault"
	(trap '' PIPE; echo go >&3) 2>/dev/null # (a QEMU that is gone must not kill the test)
	wait $qpid
	rc=$?
	qpid=""
	exec 3>&-
	grep '^tcemu-guest-test: info eeh' "$tmp/$name.log" | sed 's/^tcemu-guest-test: info /       guest: /'
	note "$name: exit status $rc"
	check "$name: QEMU exits 0 after the guest powers off" [ "$rc" -eq 0 ]
	check "$name: the guest's checks before the fault pass" grep -q '^tcemu-guest-test: ok pattern_bs4096' "$tmp/$name.log"
	check "$name: the injected DMA fault is in the summary and froze the PE" \
		grep -q '^DMA faults: 1\b.*\|^  1\. device '"$BDF"': DMA read at 0x4000000000000 faulted: no window' "$tmp/$name.report"
	check "$name: the device model consumed its fault file" [ ! -e "$fault" ]
	check "$name: the guest saw the frozen PE (EEH: ... detected)" grep -q 'eeh_log=.*EEH: .*[Dd]etected\|eeh_log=.*EEH: Frozen' "$tmp/$name.log"
	check "$name: the guest's EEH recovery succeeded (hotplug reset: the driver is not EEH aware)" \
		grep -q 'eeh_log=.*EEH: Recovery successful' "$tmp/$name.log"
	check "$name: I/O resumed after the recovery (patterns written and read back)" \
		grep -q '^tcemu-guest-test: info eeh_io_after=resumed' "$tmp/$name.log"
	# what QEMU did for the guest's RTAS calls (the trace; EEH_PE_OP's op is the struct's first word)
	local ops=$(sed -n 's/.*ioctl([0-9]*, VFIO_EEH_PE_OP, {argsz=[0-9]*, flags=0x[0-9a-f]*, 0x\([0-9a-f]*\),.* = \(-*[0-9]*\).*/\1=\2/p' \
		"$tmp/$name.log" | tr '\n' ' ')
	note "$name: VFIO_EEH_PE_OP calls (op=result; 1 enable, 2/3 unfreeze, 4 get state, 5 deactivate, 6 hot reset, 7 fundamental reset, 8 configure): $ops"
	check "$name: QEMU asked the PE's state (VFIO_EEH_PE_GET_STATE) and reset it (RESET_HOT or _FUNDAMENTAL, then DEACTIVATE)" \
		eval 'echo "$ops" | grep -q "\b4=" && echo "$ops" | grep -q "\b[67]=0" && echo "$ops" | grep -q "\b5=0"'
	local tb=$(grep -c '^tcemu: debug' "$tmp/$name.log")
	check "$name: --trace of the whole boot is short ($tb lines: runs of similar calls are collapsed)" [ "$tb" -lt 2000 ]
	check "$name: nothing mapped, registered or locked after the release at exit" \
		contains "$tmp/$name.report" "after closing what was left open: 0 entries mapped, 0 regions registered, 0 B locked"
}

for c in $cases; do
	case $c in
	ddw-msix) run_case ddw-msix 1 msix ;;
	ddw-intx) run_case ddw-intx 1 intx ;;
	noddw-msix) run_case noddw-msix 0 msix ;;
	noddw-intx) run_case noddw-intx 0 intx ;;
	eeh) run_eeh ;;
	*) echo "unknown case $c"; failed=$((failed + 1)) ;;
	esac
done
finish
