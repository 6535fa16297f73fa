#!/bin/sh
# Sums the "N passed, N failed" closing lines of every test program in meson's test logs and
# prints one total line in the same form. Usage: summary.sh TESTLOG [TESTLOG...]
cat "$@" | awk '
	/^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3; n++ }
	END {
		if (n == 0) { print "no test program reported a result"; exit 1 }
		printf "%d passed, %d failed\n", p, f
	}'
