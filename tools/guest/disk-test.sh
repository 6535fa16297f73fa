#!/bin/sh
# disk-test.sh: the guest program of tests/test_qemu_guest.sh (busybox sh, runs as the guest's
# /run; see tools/guest/build-guest.sh). It checks a virtio disk with direct I/O and reports one
# line per check on the console:
#   tcemu-guest-test: ok NAME | FAIL NAME: WHY | info KEY=VALUE
#   tcemu-guest-test: N passed, N failed
# Arguments (the kernel command line's words after `--`), each optional:
#   dev=/dev/vda            the disk
#   modern=1                the device must run virtio 1 (VERSION_1) with ACCESS_PLATFORM
#   irq=msix|intx           the interrupt the driver must use (/proc/interrupts)
#   ddw=1|0                 whether the guest must have created a dynamic DMA window (its log)
#   sizes=512,4096,...      block sizes for the pattern checks, each over its own area
#   area=KIB                the area per block size (KiB; default 1024)
#   host=MIB:KIB:MD5        the md5 of KIB KiB at MIB MiB, written by the host before boot
#   guest=MIB:KIB:WORD      write `yes WORD` over KIB KiB at MIB MiB (the host checks it later)
#   bench=MIB               sequential direct reads of 1 MiB, MIB MiB in passes over the disk:
#                           info read_mbps=
#   eeh=1                   print "tcemu-guest-test: eeh-ready" and wait for a line on the
#                           console (the host then arms the device's fault file), read the
#                           device's virtio status twice (the first read faults, the second
#                           reads all ones: EEH detects the frozen PE), wait for the kernel's
#                           EEH recovery (eeh_wait=SECONDS, default 30), log what it did, and
#                           write and read back patterns on the disk as it is afterwards
#                           (see tests/test_qemu_guest.sh and docs/exec.md, "EEH")
# Exit status: the number of failed checks (0: all passed).
dev=/dev/vda
modern="" irq="" ddw="" sizes="" area=1024 host="" guest="" bench="" eeh="" eeh_wait=30
for a in "$@"; do
	case $a in
	dev=*) dev=${a#dev=} ;;
	modern=*) modern=${a#modern=} ;;
	irq=*) irq=${a#irq=} ;;
	ddw=*) ddw=${a#ddw=} ;;
	sizes=*) sizes=$(echo "${a#sizes=}" | tr ',' ' ') ;;
	area=*) area=${a#area=} ;;
	host=*) host=${a#host=} ;;
	guest=*) guest=${a#guest=} ;;
	bench=*) bench=${a#bench=} ;;
	eeh=*) eeh=${a#eeh=} ;;
	eeh_wait=*) eeh_wait=${a#eeh_wait=} ;;
	esac
done
passed=0
failed=0
# GNU dd (tools/guest/build-guest.sh puts it in /usr/bin): busybox's dd falls back to the page
# cache when O_DIRECT refuses its unaligned buffer, so its iflag/oflag=direct are not direct I/O.
DD=/usr/bin/dd
say() { echo "tcemu-guest-test: $*"; }
ok() { say "ok $1"; passed=$((passed + 1)); }
fail() { say "FAIL $1: $2"; failed=$((failed + 1)); }
check() { # NAME WHY CONDITION...
	name=$1 why=$2
	shift 2
	if "$@"; then ok "$name"; else fail "$name" "$why"; fi
}
now_us() { adjtimex | awk '/time.tv_sec/ {s = $2} /time.tv_usec/ {u = $2} END {printf "%d%06d\n", s, u}'; }

i=0
while [ ! -b "$dev" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check disk "no $dev" [ -b "$dev" ]
check gnu_dd "no GNU dd at $DD (direct I/O needs it)" [ -x "$DD" ]
vdev=$(ls -d /sys/bus/virtio/devices/virtio* 2>/dev/null | head -n 1)
if [ -n "$vdev" ]; then
	features=$(cat "$vdev/features")
	say "info features=$features"
	f32=$(echo "$features" | cut -c33)
	f33=$(echo "$features" | cut -c34)
	if [ "$modern" = 1 ]; then
		check modern_access_platform "features $features: VERSION_1=$f32 ACCESS_PLATFORM=$f33" \
			[ "$f32$f33" = 11 ]
	fi
fi
created=$(dmesg | grep -c 'ibm,create-pe-dma-window.* returned 0')
say "info ddw_created=$created"
case $ddw in
1) check ddw_created "the guest created no dynamic DMA window" [ "$created" -ge 1 ] ;;
0) check ddw_not_created "the guest created a dynamic DMA window" [ "$created" -eq 0 ] ;;
esac

# Patterns in several block sizes, each block size over its own area (from 1 MiB on): random data
# from tmpfs, written with O_DIRECT, read back with O_DIRECT, compared.
off=1024
for bs in $sizes; do
	n=$((area * 1024 / bs))
	dd if=/dev/urandom of=/tmp/pattern bs=1024 count="$area" 2>/dev/null
	$DD if=/tmp/pattern of="$dev" bs="$bs" count="$n" seek=$((off * 1024 / bs)) oflag=direct conv=notrunc 2>/tmp/err &&
		$DD if="$dev" of=/tmp/back bs="$bs" count="$n" skip=$((off * 1024 / bs)) iflag=direct 2>>/tmp/err
	check "pattern_bs$bs" "$(tr '\n' ' ' </tmp/err) (written and read back at $off KiB differ)" cmp -s /tmp/pattern /tmp/back
	off=$((off + area))
done

# The interrupts the disk's requests completed with: MSI-X vectors or the INTx line.
irq_lines() { grep virtio /proc/interrupts | tr -s ' ' | tr '\n' ';'; }
say "info interrupts=$(irq_lines)"
nmsi=$(grep virtio /proc/interrupts | grep -c 'PCI-MSI')
nall=$(grep -c virtio /proc/interrupts)
count=$(grep virtio /proc/interrupts | awk '{ n += $2 } END { print n + 0 }')
case $irq in
msix) check irq_msix "interrupts: $(irq_lines)" [ "$nmsi" -ge 1 -a "$count" -gt 0 ] ;;
intx) check irq_intx "interrupts: $(irq_lines)" [ "$nall" -ge 1 -a "$nmsi" -eq 0 -a "$count" -gt 0 ] ;;
esac

if [ -n "$host" ]; then
	mib=${host%%:*} rest=${host#*:}
	kib=${rest%%:*} want=${rest#*:}
	got=$($DD if="$dev" bs=1024 count="$kib" skip=$((mib * 1024)) iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	check host_pattern "md5 $got, the host wrote $want at $mib MiB" [ "$got" = "$want" ]
fi

if [ -n "$bench" ]; then
	# passes over the disk until bench MiB were read
	disk_mib=$(($(cat /sys/block/"${dev#/dev/}"/size) / 2048))
	left=$bench
	t0=$(now_us)
	while [ "$left" -gt 0 ]; do
		n=$((left < disk_mib ? left : disk_mib))
		$DD if="$dev" of=/dev/null bs=1M count="$n" iflag=direct 2>/dev/null || break
		left=$((left - n))
	done
	t1=$(now_us)
	us=$((t1 - t0))
	[ $us -gt 0 ] || us=1
	say "info read_mib=$bench read_us=$us read_mbps=$((bench * 1048576 / us))"
fi

if [ "$eeh" = 1 ]; then
	# The host injects a DMA fault now (the device's debug control); the next I/O freezes the PE.
	say "eeh-ready"
	read -r line
	say "info eeh_go=$line"
	# Register reads: the first one makes the device fault (it is answered); the PE is frozen,
	# so the next one reads all ones, which the kernel's EEH code checks (eeh_check_failure).
	st1=$(cat "$vdev/status")
	st2=$(cat "$vdev/status")
	say "info eeh_status_reads=$st1,$st2"
	# Let the kernel's EEH recovery run (a kernel thread, with its own waits): until it says it
	# succeeded or gave up, or eeh_wait seconds.
	i=0
	while [ $i -lt "${eeh_wait:-30}" ]; do
		sleep 1
		i=$((i + 1))
		dmesg | grep -q 'EEH: Recovery successful\|EEH: Unable to recover from failure' && break
	done
	say "info eeh_waited=${i}s"
	dmesg | grep -i 'eeh\|virtio\|vd[a-z]' | grep -v 'EEH: \[\|Kernel command line' | sed 's/^/tcemu-guest-test: info eeh_log=/'
	# I/O after the recovery, on the disk as it is now (re-probed devices may get a new name)
	disk=$(ls /sys/block | grep '^vd' | head -n 1)
	say "info eeh_disks_now=$(ls /sys/block | grep '^vd' | tr '\n' ' ')"
	dd if=/dev/urandom of=/tmp/pattern bs=4096 count=16 2>/dev/null
	if [ -n "$disk" ] && [ -b "/dev/$disk" ] &&
		$DD if=/tmp/pattern of="/dev/$disk" bs=4096 count=16 seek=8 oflag=direct conv=notrunc 2>/tmp/err &&
		$DD if="/dev/$disk" of=/tmp/back bs=4096 count=16 skip=8 iflag=direct 2>>/tmp/err &&
		cmp -s /tmp/pattern /tmp/back; then
		say "info eeh_io_after=resumed on /dev/$disk"
	else
		say "info eeh_io_after=failed ${disk:-no disk} $(tr '\n' ' ' </tmp/err 2>/dev/null)"
	fi
fi

if [ -n "$guest" ]; then
	mib=${guest%%:*} rest=${guest#*:}
	kib=${rest%%:*} word=${rest#*:}
	yes "$word" | head -c $((kib * 1024)) >/tmp/gpat
	$DD if=/tmp/gpat of="$dev" bs=65536 seek=$((mib * 16)) oflag=direct conv=notrunc 2>/tmp/err
	rc=$?
	check guest_pattern_written "$(tr '\n' ' ' </tmp/err)" [ $rc -eq 0 ]
fi

say "$passed passed, $failed failed"
exit $failed
