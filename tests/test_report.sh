#!/usr/bin/env bash
# The exec summary (docs/exec.md "The summary"): DMA faults named, client defects aggregated and
# their warnings rate-limited, a complete summary through wrappers that exec or outlive the
# program, and from a program killed by a signal.
# Usage: test_report.sh PATH_TO_TCEMU PATH_TO_REPORT_CLIENT [--asan]
# (--asan: the shim is built with AddressSanitizer, whose runtime takes SIGSEGV first)
set -u
tcemu=$1
client=$2
asan=${3:-}
. "$(dirname "$0")/check_lib.sh"
# tcemu exec [ARGS] -- ...: the summary in $tmp/report.txt, stderr in $tmp/err, the status in $rc
run() { "$tcemu" exec --report "$tmp/report.txt" -- "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
parts() { grep -c '^process [0-9]* (' "$tmp/report.txt"; }

t_dma_fault() {
	run "$client" fault; [ $rc -eq 0 ] || { cat "$tmp/err" >&2; return 1; }
	contains "$tmp/report.txt" "DMA faults: 5 in 3 kinds (the IOMMU refused a device access; the PE froze)" &&
	contains "$tmp/report.txt" "1. device 0000:01:00.0: DMA write at 0x100000 faulted: read-only entry (tce 0x" &&
	contains "$tmp/report.txt" "), tx queue 0 descriptor 5; PE frozen" &&
	contains "$tmp/report.txt" "2. 3 DMA read faults of device 0000:01:00.0 (no entry) (first at 0x5000000 (tce 0x0) in rx queue 0 descriptor 0, 0x5001000 (tce 0x0) in rx queue 0 descriptor 1, 0x5002000 (tce 0x0) in rx queue 0 descriptor 2); each froze the PE" &&
	contains "$tmp/report.txt" "3. device 0000:01:00.0: DMA read at 0x4000000000000 faulted: no window (tce 0x0); PE frozen" &&
	contains "$tmp/err" "device 0000:01:00.0: DMA write at 0x100000 faulted: read-only entry" &&
	contains "$tmp/report.txt" "client defects: 5 in 4 kinds" && # what it left open
	# (descriptor numbers depend on what the topology's models hold open)
	contains "$tmp/report.txt" "(a group) was never closed (and 1 more like it: descriptor " &&
	contains "$tmp/report.txt" " (a container) was never closed)"
}
t_unmap_aggregated() {
	run "$client" unmap 100000; [ $rc -eq 0 ] || { cat "$tmp/err" >&2; return 1; }
	contains "$tmp/report.txt" "UNMAP_DMA 100000" &&
	# legitimate (QEMU clears a window entry by entry): one note, not 100000 defects
	contains "$tmp/report.txt" "client defects: 1" && # the window left at exit
	contains "$tmp/report.txt" "notes: 100000 in 1 kind (legitimate client behaviour worth knowing; not defects)" &&
	contains "$tmp/report.txt" "1. 100000 UNMAP_DMA calls cleared nothing (first at iova 0x0 size 0x1000 on container" &&
	[ "$(grep -c "UNMAP_DMA" "$tmp/report.txt")" -eq 2 ] &&
	# notes are logged at info: nothing on stderr at the default level
	lacks "$tmp/err" "tcemu: warn: client defect: UNMAP_DMA" && lacks "$tmp/err" "note: UNMAP_DMA" &&
	[ "$(grep -c '^tcemu:' "$tmp/err")" -le 2 ] || { echo "  $(grep -c '^tcemu:' "$tmp/err") tcemu lines on stderr" >&2; return 1; }
	# at info: the first occurrence keeps its wording; then one line for the rest, and the total at exit
	TCEMU_LOG=info run "$client" unmap 100000; [ $rc -eq 0 ] &&
	contains "$tmp/err" "note: UNMAP_DMA(iova=0x0, size=0x1000) on container" &&
	contains "$tmp/err" "cleared nothing: that range was never mapped" &&
	contains "$tmp/err" "note: more of these are counted, not logged: UNMAP_DMA calls cleared nothing" &&
	contains "$tmp/err" "notes: 100000 in all UNMAP_DMA calls cleared nothing (99997 not logged)" &&
	[ "$(grep -c '^tcemu: info: notes\{0,1\}: .*UNMAP_DMA' "$tmp/err")" -eq 5 ]
}
t_wrapper_sh_exec() {
	run sh -c "exec '$client' unmap 3"; [ $rc -eq 0 ] &&
	contains "$tmp/report.txt" "(report_client) exited:" && contains "$tmp/report.txt" "UNMAP_DMA 3" &&
	[ "$(parts)" -eq 1 ]
}
t_wrapper_bash_script() {
	printf '#!/bin/bash\ndir=$(dirname "$0")\nexec "%s" unmap 4\n' "$client" >"$tmp/wrap.sh" && chmod +x "$tmp/wrap.sh"
	run "$tmp/wrap.sh"; [ $rc -eq 0 ] &&
	contains "$tmp/report.txt" "(report_client) exited:" && contains "$tmp/report.txt" "UNMAP_DMA 4" &&
	[ "$(parts)" -eq 1 ]
}
t_wrapper_outlives() {
	# timeout forks the program and exits after it: its own (empty) summary must not replace it
	run timeout 60 "$client" unmap 5; [ $rc -eq 0 ] &&
	contains "$tmp/report.txt" "UNMAP_DMA 5" && [ "$(parts)" -eq 1 ] && lacks "$tmp/report.txt" "(timeout)" &&
	run sh -c "'$client' unmap 6; true"; [ $rc -eq 0 ] &&
	contains "$tmp/report.txt" "UNMAP_DMA 6" && [ "$(parts)" -eq 1 ] && lacks "$tmp/report.txt" "(sh)"
}
t_vfio_process_execs() {
	# a process that used VFIO and then execs: its part is kept, the new program's follows
	run "$client" exec "$client" unmap 2; [ $rc -eq 0 ] || { cat "$tmp/err" >&2; return 1; }
	[ "$(parts)" -eq 2 ] &&
	contains "$tmp/report.txt" "(report_client) exec'd $client:" && contains "$tmp/report.txt" "MAP_DMA 1" &&
	contains "$tmp/report.txt" "(report_client) exited:" && contains "$tmp/report.txt" "UNMAP_DMA 2" &&
	grep '^process ' "$tmp/report.txt" | head -n 1 | grep -q "exec'd" # in order
}
killed() { # SIGNAME number
	run "$client" die "$1"; [ $rc -eq $((128 + $2)) ] || { echo "  status $rc" >&2; return 1; }
	contains "$tmp/err" "was killed by signal $2" &&
	contains "$tmp/report.txt" "(report_client) was killed by signal $2 (SIG$1):" &&
	contains "$tmp/report.txt" "SET_IOMMU 1" && contains "$tmp/report.txt" "REGISTER_MEMORY 1" &&
	contains "$tmp/report.txt" "regions registered: 1 at peak, 1 at exit" &&
	contains "$tmp/report.txt" "client defects: 0" && [ "$(parts)" -eq 1 ]
}
t_no_vfio() {
	run "$client" none; [ $rc -eq 0 ] && contains "$tmp/report.txt" "no summary: no process opened /dev/vfio"
}

check dma_fault_named t_dma_fault
check unmap_of_nothing_aggregated t_unmap_aggregated
check wrapper_sh_exec t_wrapper_sh_exec
check wrapper_bash_script_exec t_wrapper_bash_script
check wrapper_outlives_the_program t_wrapper_outlives
check vfio_process_execs t_vfio_process_execs
[ "$asan" = --asan ] || check killed_by_sigsegv killed SEGV 11
check killed_by_sigabrt killed ABRT 6
check killed_by_sigterm killed TERM 15
check killed_by_sigint killed INT 2
check no_vfio_no_summary t_no_vfio
finish
