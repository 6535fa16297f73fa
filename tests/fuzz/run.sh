#!/bin/sh
# Runs fuzz harnesses for a bounded time on their corpora and prints one line per harness:
# executions, executions per second, coverage (cov: edges, ft: features), corpus size, findings.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [JOBS [HARNESS...]]
#   BUILD_DIR  a build configured with -Dfuzz=true (CC=clang)
#   SECONDS    per harness; JOBS harnesses run at once (default 2); HARNESS: default all four
# The working corpus is BUILD_DIR/fuzz-corpus/<harness> (grown by the run, seeded from
# tests/fuzz/corpus/<harness> and tests/fuzz/regressions/<harness>, which are only read); crashes
# and broken invariants go to BUILD_DIR/fuzz-artifacts/. Exits non-zero if any harness found one.
set -u
build=$1 secs=$2 jobs=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
src=$(cd "$(dirname "$0")" && pwd)
harnesses=${*:-topology vfio guest devices}
mkdir -p "$build/fuzz-artifacts"
run_one() {
	h=$1
	mkdir -p "$build/fuzz-corpus/$h"
	dirs="$build/fuzz-corpus/$h $src/corpus/$h"
	[ -d "$src/regressions/$h" ] && dirs="$dirs $src/regressions/$h"
	# shellcheck disable=SC2086 # the directories are words
	"$build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 -timeout=30 \
		-artifact_prefix="$build/fuzz-artifacts/$h-" $dirs > "$build/fuzz-$h.log" 2>&1
	echo $? > "$build/fuzz-$h.rc"
}
running=0
for h in $harnesses; do
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait
status=0
printf '%-9s %12s %8s %6s %7s %8s %s\n' harness executions exec/s cov ft corpus findings
for h in $harnesses; do
	log=$build/fuzz-$h.log
	last=$(tr '\r' '\n' < "$log" | grep -E '^#[0-9]+' | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	found=$(ls "$build/fuzz-artifacts" 2>/dev/null | grep -c "^$h-" || true)
	printf '%-9s %12s %8s %6s %7s %8s %s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found"
	if [ "$(cat "$build/fuzz-$h.rc")" != 0 ]; then
		status=1
		echo "--- fuzz_$h failed; the end of its log ($log):"
		grep -v '^#[0-9]' "$log" | tail -40
	fi
done
exit $status
