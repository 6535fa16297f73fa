#!/bin/sh
# Sums the closing lines of every test program in meson's test logs and prints one total line,
# "N passed, N failed", last. The C programs speak TAP and close with the comment
# "# N passed, N failed" (", N skipped" added when a test was skipped); the shell tests close with
# the bare "N passed, N failed". Skipped tests, if any, are reported on the line before the total.
# Usage: summary.sh TESTLOG [TESTLOG...]
cat "$@" | awk '
	/^(# )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$/ {
		if ($1 == "#") sub(/^# /, "")
		p += $1; f += $3; s += $5; n++
	}
	END {
		if (n == 0) { print "no test program reported a result"; exit 1 }
		if (s > 0) printf "(%d skipped)\n", s
		printf "%d passed, %d failed\n", p, f
	}'
