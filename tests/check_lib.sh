# Sourced by the shell tests: a scratch directory $tmp (removed at exit), check NAME CMD... (counts
# into $passed and $failed and prints ok/FAIL), contains FILE TEXT and lacks FILE TEXT (show the
# file when they fail), and finish (the closing "N passed, N failed" line and the status).
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name, then a command that must succeed
	local name=$1; shift
	if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
contains() { grep -qF -- "$2" "$1" || { echo "  missing: $2" >&2; echo "  in:" >&2; sed 's/^/    /' "$1" >&2; return 1; }; }
lacks() { ! grep -qF -- "$2" "$1" || { echo "  unexpected: $2" >&2; sed 's/^/    /' "$1" >&2; return 1; }; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
