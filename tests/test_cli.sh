#!/usr/bin/env bash
# The command line: help, version, topology printing and its errors.
# Usage: test_cli.sh PATH_TO_TCEMU [PATH_TO_A_VFIO_CLIENT]
set -u
tcemu=$1
client=${2:-}
exec_checks=yes
[ "${3:-}" = "--no-exec" ] && exec_checks=no
. "$(dirname "$0")/check_lib.sh"

t_help() { "$tcemu" --help >"$tmp/out" && contains "$tmp/out" "Usage: tcemu" && contains "$tmp/out" "topology"; }
t_version() { "$tcemu" --version >"$tmp/out" && grep -qE '^tcemu [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out"; }
t_no_command() { "$tcemu" >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] && contains "$tmp/err" "Usage"; }
t_unknown_command() { "$tcemu" frobnicate 2>"$tmp/err"; [ $? -eq 2 ] && contains "$tmp/err" "unknown command 'frobnicate'"; }
t_default_topology() {
	"$tcemu" topology >"$tmp/out" || return 1
	contains "$tmp/out" "2 PHBs, 6 PEs (IOMMU groups), system page size 4 KiB" &&
	contains "$tmp/out" "PHB 0: ioda3, PHB4 (POWER9/10)" &&
	contains "$tmp/out" "PHB 1: ioda2, PHB3 (POWER8)" &&
	contains "$tmp/out" "PE 1 = IOMMU group 0 (/dev/vfio/0)" &&
	contains "$tmp/out" "IOMMU page sizes: 4K 64K 2M 1G" &&
	contains "$tmp/out" "IOMMU page sizes: 4K 64K 16M 256M" &&
	contains "$tmp/out" "window 0: bus 0x0..0x7fffffff (2 GiB), 4 KiB pages, 1 level" &&
	contains "$tmp/out" "0001:02:00.0  1b36:0005" &&
	[ "$(grep -c "= IOMMU group" "$tmp/out")" -eq 6 ]
}
t_page_size_option() { "$tcemu" topology --page-size 64K >"$tmp/out" && contains "$tmp/out" "system page size 64 KiB"; }
t_bad_page_size() { "$tcemu" topology --page-size 8K 2>"$tmp/err"; [ $? -eq 2 ] && contains "$tmp/err" "4K or 64K"; }
t_print_default_roundtrip() {
	"$tcemu" topology --print-default >"$tmp/default.topo" &&
	"$tcemu" topology "$tmp/default.topo" >"$tmp/out" && contains "$tmp/out" "6 PEs"
}
t_file() {
	printf 'memlock unlimited\nphb 7 ioda1 dma32=256M\n  pe 2 group=42\n    device 0007:00:01.0 vendor=0x8086 device=0x10fb\n' >"$tmp/p7.topo"
	"$tcemu" topology "$tmp/p7.topo" >"$tmp/out" &&
	contains "$tmp/out" "PHB 7: ioda1, P7IOC (POWER7)" && contains "$tmp/out" "IOMMU group 42" &&
	contains "$tmp/out" "8086:10fb" && contains "$tmp/out" "locked-memory limit: unlimited" &&
	contains "$tmp/out" "(256 MiB)"
}
t_bad_file() {
	printf 'phb 0 ioda3\n  pe 1\n  device 0000:01:00.0 vendor=zz\n' >"$tmp/bad.topo"
	"$tcemu" topology "$tmp/bad.topo" >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] && contains "$tmp/err" "$tmp/bad.topo:3:"
}
t_missing_file() { "$tcemu" topology "$tmp/none.topo" 2>"$tmp/err"; [ $? -eq 1 ] && contains "$tmp/err" "$tmp/none.topo"; }
t_log_env() { TCEMU_LOG=info "$tcemu" topology >/dev/null 2>"$tmp/err" && contains "$tmp/err" "tcemu: info: platform: 2 PHB(s), 6 PE(s)"; }

t_exec_status() { "$tcemu" exec -- sh -c 'exit 3' 2>"$tmp/err"; [ $? -eq 3 ] && contains "$tmp/err" "exited with status 3"; }
t_exec_missing() { "$tcemu" exec -- /nonexistent/prog 2>"$tmp/err"; [ $? -eq 127 ] && contains "$tmp/err" "/nonexistent/prog"; }
t_exec_usage() { "$tcemu" exec 2>"$tmp/err"; [ $? -eq 2 ] && contains "$tmp/err" "Usage: tcemu exec"; }
t_exec_bad_topology() {
	printf 'phb 0 ioda9\n' >"$tmp/bad2.topo"
	"$tcemu" exec --topology "$tmp/bad2.topo" -- true 2>"$tmp/err"; [ $? -eq 1 ] && contains "$tmp/err" "bad2.topo:1:"
}
t_exec_sysfs() {
	# the program sees the fake sysfs; it is gone afterwards
	"$tcemu" exec -- sh -c 'd=$TCEMU_SYSFS_PCI_DEVICES/0001:02:00.0; echo "$TCEMU_SYSFS"; readlink "$d/iommu_group";
		cat "$d/vendor" "$d/device"; ls "$TCEMU_SYSFS/kernel/iommu_groups/5/devices"; [ "$SYSFS_PCI_DEVICES" = "$TCEMU_SYSFS_PCI_DEVICES" ] && echo same;
		ls -d "$TCEMU_SYSFS/module/vfio" "$TCEMU_SYSFS/module/vfio_pci" >/dev/null && echo modules' >"$tmp/out" 2>/dev/null || return 1
	contains "$tmp/out" "../../../../kernel/iommu_groups/5" && contains "$tmp/out" "0x1b36" && contains "$tmp/out" "0x0005" &&
	contains "$tmp/out" "0001:02:00.0" && contains "$tmp/out" "same" && contains "$tmp/out" "modules" &&
	[ ! -e "$(head -n 1 "$tmp/out")" ]
}
t_exec_sysfs_pci() {
	# what DPDK's PCI scan reads: resource (13 lines, BAR lengths and kinds), revision, the driver link
	"$tcemu" exec -- sh -c 'cd "$TCEMU_SYSFS_PCI_DEVICES"; for d in 0000:01:00.0 0000:03:00.0 0000:04:00.0; do
		echo "$d $(cat $d/vendor $d/device $d/subsystem_device $d/class $d/revision $d/sriov_numvfs $d/numa_node | tr "\n" " ")";
		echo "$d driver $(readlink $d/driver)"; echo "$d lines $(wc -l <$d/resource)";
		n=0; while read -r start end flags; do [ "$flags" = 0x0000000000000000 ] ||
			echo "$d bar$n $((end - start + 1)) $flags"; n=$((n + 1)); done <$d/resource;
	done' >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
	contains "$tmp/out" "0000:01:00.0 0x1af4 0x1000 0x0001 0x020000 0x00 0 -1 " &&
	contains "$tmp/out" "0000:03:00.0 0x1af4 0x1001 0x0002 0x010000 0x00 0 -1 " &&
	contains "$tmp/out" "0000:04:00.0 0x1b36 0x0005 0x0000 0x00ff00 0x01 0 -1 " &&
	contains "$tmp/out" "0000:01:00.0 driver ../../../../bus/pci/drivers/vfio-pci" &&
	contains "$tmp/out" "0000:01:00.0 lines 13" &&
	contains "$tmp/out" "0000:01:00.0 bar0 64 0x0000000000000100" &&
	contains "$tmp/out" "0000:01:00.0 bar1 4096 0x0000000000000200" &&
	contains "$tmp/out" "0000:01:00.0 bar4 16384 0x0000000000100200" &&
	contains "$tmp/out" "0000:03:00.0 bar0 128 0x0000000000000100" &&
	contains "$tmp/out" "0000:04:00.0 bar2 1048576 0x0000000000102200" &&
	[ "$(grep -c ' bar' "$tmp/out")" -eq 8 ]
}
t_exec_report() {
	[ -n "$client" ] || { echo "  no client given" >&2; return 1; }
	# in one process: the report covers the process that loaded the shim, and the test runner
	# otherwise forks one process per test
	HARNESS_NOFORK=1 "$tcemu" exec --report "$tmp/report.txt" -- "$client" >/dev/null 2>"$tmp/err" &&
	contains "$tmp/report.txt" "status: 0" && contains "$tmp/report.txt" "MAP_DMA" &&
	contains "$tmp/report.txt" "client defects:" && contains "$tmp/err" "== tcemu exec:"
}
t_exec_trace() {
	[ -n "$client" ] || return 1
	"$tcemu" exec --trace -- "$client" map_through >/dev/null 2>"$tmp/err" && contains "$tmp/err" "VFIO_MAP_DMA"
}

t_run_default() {
	"$tcemu" run --no-progress --json "$tmp/run.json" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err" >&2; return 1; }
	contains "$tmp/out" "scenario passed" && contains "$tmp/out" "boot      pass" && contains "$tmp/out" "stream    pass" &&
	contains "$tmp/out" "fault     pass" && contains "$tmp/out" "teardown  pass" &&
	contains "$tmp/out" "1048576" && # 4 GiB direct-mapped: 2048 guest TCEs of 2 MiB fan out to 4 KiB host entries
	contains "$tmp/run.json" '"passed": true' && contains "$tmp/run.json" '"name": "teardown"'
}
t_run_scenario() {
	printf '# small\nram = 256M\nbuffers = 2000\nbuffer-size = 1500\ndefault-window = 128M\ngroup = 1\nseed = 7\n' >"$tmp/s.scn"
	"$tcemu" run --no-progress "$tmp/s.scn" >"$tmp/out" 2>&1 && contains "$tmp/out" "scenario passed" &&
	contains "$tmp/out" "guest RAM 256 MiB" && contains "$tmp/out" "group 1"
}
t_run_bad_scenario() {
	printf 'ram = 3G\n' >"$tmp/b.scn"
	"$tcemu" run --no-progress "$tmp/b.scn" 2>"$tmp/err"; [ $? -eq 1 ] && contains "$tmp/err" "b.scn:1:" &&
	printf 'colour = blue\n' >"$tmp/c.scn" && { "$tcemu" run "$tmp/c.scn" 2>"$tmp/err"; [ $? -eq 1 ]; } &&
	contains "$tmp/err" "c.scn:1:"
}

check help t_help
check run_default_scenario t_run_default
check run_scenario_file t_run_scenario
check run_bad_scenario t_run_bad_scenario
if [ "$exec_checks" = yes ]; then
	check exec_status t_exec_status
	check exec_missing_program t_exec_missing
	check exec_usage t_exec_usage
	check exec_bad_topology t_exec_bad_topology
	check exec_fake_sysfs t_exec_sysfs
	check exec_sysfs_pci t_exec_sysfs_pci
	check exec_report t_exec_report
	check exec_trace t_exec_trace
fi
check version t_version
check no_command t_no_command
check unknown_command t_unknown_command
check default_topology t_default_topology
check page_size_option t_page_size_option
check bad_page_size t_bad_page_size
check print_default_roundtrip t_print_default_roundtrip
check topology_file t_file
check bad_topology_file t_bad_file
check missing_topology_file t_missing_file
check log_level_from_env t_log_env
finish
